// The pre-call check page (/verifier): DOM only, the measures are in protocol.js.
import { AudioLevel, classifyLink, measureDownload, measureRoundTrip } from "./protocol.js";

const root = document.getElementById("check");
const texts = Object.fromEntries(
  [...document.getElementById("check-texts").content.querySelectorAll("[data-text]")].map((el) => [el.dataset.text, el.textContent]),
);
const startButton = document.getElementById("check-start");
const preview = document.getElementById("check-preview");
const meter = document.getElementById("mic-level");
const summary = document.getElementById("check-summary");
const MIC_LISTEN_MS = 6000;
const MIC_HEARD_LEVEL = 15;
const ICONS = { ok: "✓", warn: "!", fail: "✗", pending: "…" };

let stream = null;
let level = null;
let frame = 0;

function report(id, result, text) {
  const section = document.getElementById(id);
  section.dataset.result = result;
  section.querySelector(".result-icon").textContent = ICONS[result];
  section.querySelector(".result-text").textContent = text;
}

function stopMedia() {
  cancelAnimationFrame(frame);
  if (level) level.close();
  if (stream) for (const track of stream.getTracks()) track.stop();
  stream = level = null;
}

const MEDIA_ERRORS = {
  NotAllowedError: "camera_denied",
  SecurityError: "camera_denied",
  NotFoundError: "camera_missing",
  OverconstrainedError: "camera_missing",
  NotReadableError: "camera_busy",
  AbortError: "camera_busy",
};

async function checkCamera() {
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: { ideal: 640 }, height: { ideal: 360 } } });
  } catch (error) {
    root.dataset.mediaError = error.name;
    report("check-camera", "fail", texts[MEDIA_ERRORS[error.name] || "camera_other"]);
    report("check-microphone", "fail", texts.mic_unavailable);
    return false;
  }
  preview.srcObject = stream;
  report("check-camera", "ok", texts.camera_ok);
  return true;
}

function checkMicrophone() {
  report("check-microphone", "pending", texts.mic_listening);
  level = new AudioLevel(stream);
  level.resume();
  const started = performance.now();
  return new Promise((resolve) => {
    const step = () => {
      meter.value = level.read();
      const heard = level.peak >= MIC_HEARD_LEVEL;
      if (heard || performance.now() - started > MIC_LISTEN_MS) {
        // Without a working audio output some browsers never start WebAudio: then we
        // cannot tell silence from a meter that cannot run, and must not blame the mic.
        const measured = level.context.state === "running";
        const verdict = heard ? "mic_ok" : measured ? "mic_silent" : "mic_unmeasured";
        report("check-microphone", heard ? "ok" : "warn", texts[verdict]);
        // The meter keeps moving after the verdict: people like to see it react.
        const keepGoing = () => { if (level) { meter.value = level.read(); frame = requestAnimationFrame(keepGoing); } };
        frame = requestAnimationFrame(keepGoing);
        resolve(heard);
        return;
      }
      frame = requestAnimationFrame(step);
    };
    frame = requestAnimationFrame(step);
  });
}

async function checkConnection() {
  report("check-connection", "pending", texts.testing);
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  let rttMs;
  let downloadKbps;
  try {
    rttMs = await measureRoundTrip(`${scheme}//${location.host}${root.dataset.ws}`);
    downloadKbps = await measureDownload(root.dataset.sample);
  } catch {
    report("check-connection", "fail", texts.connection_failed);
    return false;
  }
  const verdict = classifyLink({ downloadKbps, rttMs });
  root.dataset.downloadKbps = Math.round(downloadKbps);
  root.dataset.rttMs = Math.round(rttMs);
  root.dataset.link = verdict;
  const measures = `${texts.speed} ${Math.round(downloadKbps)} kbit/s, ${texts.delay} ${Math.round(rttMs)} ms.`;
  const result = { good: "ok", medium: "warn", slow: "fail" }[verdict];
  report("check-connection", result, `${texts[`connection_${verdict}`]} ${measures}`);
  return verdict !== "slow";
}

async function run() {
  stopMedia();
  startButton.disabled = true;
  root.dataset.state = "running";
  summary.textContent = texts.testing;
  for (const id of ["check-camera", "check-microphone", "check-connection"]) report(id, "pending", texts.testing);
  const media = (async () => ((await checkCamera()) ? checkMicrophone() : false))();
  const results = await Promise.all([media, checkConnection()]);
  const allGood = results.every(Boolean);
  summary.textContent = allGood ? texts.summary_ok : texts.summary_problem;
  root.dataset.state = allGood ? "ok" : "problem";
  startButton.textContent = texts.restart;
  startButton.disabled = false;
}

startButton.addEventListener("click", run);
addEventListener("pagehide", stopMedia);
