// The call screen, shared by the kiosk and the relative's portal: DOM only, protocol in protocol.js.
import { CallClient, formatClock, secondsLeft } from "./protocol.js";

const root = document.getElementById("call");
const texts = Object.fromEntries(
  [...document.getElementById("call-texts").content.querySelectorAll("[data-text]")].map((el) => [el.dataset.text, el.textContent]),
);
const statusEl = document.getElementById("status");
const timeLeftEl = document.getElementById("time-left");
const alertEl = document.getElementById("alert");
const remoteVideo = document.getElementById("remote");
const localVideo = document.getElementById("local");
const mediaHelp = document.getElementById("media-help");
const qualityEl = document.getElementById("quality");
const qualityText = document.getElementById("quality-text");
const lowBox = document.getElementById("low-bandwidth");
const bandwidthNote = document.getElementById("bandwidth-note");
const role = root.dataset.role;
const lowModeKey = `parloir.low.${root.dataset.call}`;

let deadline = root.dataset.deadline || null;
let serverOffsetMs = 0;
// The seconds left at the previous tick: a warning is given when the time left crosses
// its threshold, not to someone who comes back with less than that left.
let previousLeft = null;
let ended = false;
let client = null;

function setStatus(text) {
  statusEl.textContent = text;
  root.dataset.status = text;
}

function showAlert(text) {
  alertEl.textContent = text;
  alertEl.hidden = false;
}

// The other side is back: "lost the connection" no longer holds.
function hidePeerLeft() {
  if (alertEl.textContent === texts.peer_left) alertEl.hidden = true;
}

function tick() {
  // Once over, the clock says so: the end screen stays a few seconds.
  const left = ended ? 0 : secondsLeft(deadline, serverOffsetMs);
  timeLeftEl.textContent = formatClock(left);
  if (left !== null && root.dataset.state === "live" && !ended) {
    // "5 minutes" only as the clock passes it (not to a page opened with 2 left); the
    // last minute is said to whoever is there, even a page opened within it.
    const before = previousLeft ?? Infinity;
    if (previousLeft !== null && before > 300 && left <= 300 && left > 60) showAlert(texts.five_minutes);
    if (before > 60 && left <= 60) showAlert(texts.one_minute);
  }
  previousLeft = root.dataset.state === "live" ? left : null;
  const codeStatus = document.getElementById("code-status");
  if (codeStatus && codeStatus.dataset.expires) {
    const codeLeft = secondsLeft(codeStatus.dataset.expires, serverOffsetMs);
    document.getElementById("code-left").textContent = formatClock(codeLeft);
  }
}

function onState(state) {
  if (!state || !state.state) return;
  root.dataset.state = state.state;
  if (state.deadline !== undefined) deadline = state.deadline;
  if (state.state === "live") {
    setStatus(texts.live);
    const codeStatus = document.getElementById("code-status");
    if (codeStatus) codeStatus.hidden = true;
  } else if (["code_sent", "calling", "relative_joined", "booked"].includes(state.state)) {
    setStatus(texts.waiting);
  }
  if (state.final) {
    ended = true;
    tick();
    setStatus(texts.ended);
    root.dataset.endReason = state.end_reason || "";
    showAlert(state.state === "media_failed" ? texts.media_failed : state.end_reason_label || texts.ended);
    stopLocal();
    setTimeout(() => { location.href = role === "kiosk" ? "/kiosk/accueil" : "/fin"; }, 4000);
  }
}

function showQuality(sample) {
  root.dataset.quality = sample.level;
  // Said again only when it changes: a status read out every two seconds would drown the call.
  if (qualityEl.dataset.level === sample.level) return;
  qualityEl.dataset.level = sample.level;
  qualityText.textContent = texts[`quality_${sample.level}`];
}

function showBandwidth() {
  const own = client && client.lowBandwidth;
  const peer = client && client.peerLowBandwidth;
  root.dataset.lowBandwidth = own ? "on" : "off";
  root.dataset.peerLowBandwidth = peer ? "on" : "off";
  lowBox.checked = Boolean(own);
  const notes = [];
  if (own) notes.push(root.dataset.lowBandwidthSource === "auto" ? texts.low_auto : texts.low_user);
  if (peer) notes.push(texts.peer_low);
  bandwidthNote.textContent = notes.join(" ");
  bandwidthNote.hidden = notes.length === 0;
}

// The kiosk follows the code message: queued, sent, delivered or failed, and its validity.
// The channel changes when an SMS that found no phone falls back to a voice call.
function showCodeStatus({ message_status: status, expires_at: expires, channel }) {
  const codeStatus = document.getElementById("code-status");
  const statusEl = document.getElementById("message-status");
  if (!codeStatus || !statusEl) return;
  const labels = JSON.parse(document.getElementById("message-status-labels").textContent);
  statusEl.textContent = labels[status] || status;
  statusEl.dataset.status = status;
  const channelEl = document.getElementById("message-channel");
  if (channelEl && channel) {
    const channels = JSON.parse(document.getElementById("message-channel-labels").textContent);
    channelEl.textContent = channels[channel] || channel;
    channelEl.dataset.channel = channel;
  }
  if (expires) codeStatus.dataset.expires = expires;
}

let localStream = null;
function stopLocal() {
  if (localStream) for (const track of localStream.getTracks()) track.stop();
}

async function openMedia() {
  mediaHelp.hidden = true;
  // Asked for now, awaited below: the client opens its socket meanwhile.
  const media = (async () =>
    navigator.mediaDevices.getUserMedia({
      audio: true,
      video: { width: { ideal: 640 }, height: { ideal: 360 }, frameRate: { ideal: 15 } },
    }))();
  const errorText = { no_media_node: texts.error_no_media_node, media_error: texts.error_media };
  const joinErrorTexts = new Set([...Object.values(errorText), texts.error_other]);
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  client = new CallClient({
    url: `${scheme}//${location.host}${root.dataset.ws}`,
    call: Number(root.dataset.call),
    mediaStream: media,
  });
  client.addEventListener("welcome", (e) => {
    serverOffsetMs = Date.parse(e.detail.server_time) - Date.now();
    // Joined at last: the message of a refused try no longer holds.
    if (joinErrorTexts.has(alertEl.textContent)) alertEl.hidden = true;
  });
  client.addEventListener("state", (e) => onState(e.detail));
  client.addEventListener("notice", (e) => showAlert(e.detail.text));
  client.addEventListener("code", (e) => showCodeStatus(e.detail));
  client.addEventListener("reconnecting", () => setStatus(texts.reconnecting));
  client.addEventListener("media-retry", (e) => {
    root.dataset.mediaRetries = String(e.detail.attempt);
    // A join refused by the server keeps its own message (error event) between tries.
    if (e.detail.trouble && e.detail.pc !== "hello") showAlert(texts.media_trouble);
  });
  client.addEventListener("media-restored", () => {
    if (alertEl.textContent === texts.media_trouble) alertEl.hidden = true;
  });
  client.addEventListener("peer", (e) => {
    if (e.detail.status === "left") showAlert(texts.peer_left);
    if (e.detail.status === "media_up") hidePeerLeft();
    showBandwidth();
  });
  client.addEventListener("quality", (e) => showQuality(e.detail));
  client.addEventListener("bandwidth", (e) => {
    root.dataset.lowBandwidthSource = e.detail.source;
    // Kept for this tab: a reloaded page goes on in the mode it was in.
    sessionStorage.setItem(lowModeKey, e.detail.low ? e.detail.source : "");
    showBandwidth();
  });
  client.addEventListener("remote-stream", (e) => {
    hidePeerLeft();
    if (remoteVideo.srcObject !== e.detail.stream) remoteVideo.srcObject = e.detail.stream;
    remoteVideo.play().catch(() => {});
  });
  // The server's own message is English, for developers: people read the page's language.
  client.addEventListener("error", (e) => showAlert(errorText[e.detail.code] || texts.error_other));
  client.addEventListener("fatal", (e) => {
    // Replaced by a newer page of this side: the call goes on there, the end page says so.
    const elsewhere = e.detail.reason === "replaced" || e.detail.code === 4409;
    const page = role === "kiosk" ? "/kiosk/accueil" : "/fin";
    location.href = elsewhere ? `${page}?ailleurs=1` : page;
  });
  const kept = sessionStorage.getItem(lowModeKey);
  if (lowBox.checked || kept) client.setLowBandwidth(true, kept || "user");
  // For the browser tests and for anyone helping over the phone with the developer tools.
  window.parloirCall = client;
  client.start();
  try {
    localStream = await media;
  } catch (error) {
    // Nothing was said to the server yet: the call is not left, only this attempt.
    client.abandon();
    client = null;
    window.parloirCall = null;
    mediaHelp.hidden = false;
    root.dataset.mediaError = error.name;
    return;
  }
  localVideo.srcObject = localStream;
}

lowBox.addEventListener("change", () => {
  if (client) client.setLowBandwidth(lowBox.checked, "user");
  else showBandwidth();
});

document.getElementById("retry-media").addEventListener("click", openMedia);
document.getElementById("hangup").addEventListener("click", () => {
  if (client) client.hangup();
  const form = document.getElementById("cancel-form");
  if (form) form.submit(); else location.href = "/fin";
});
setInterval(tick, 500);
tick();
openMedia();
if (root.dataset.keepAliveUrl) {
  // The kiosk signs a detainee out after some inactivity; a call is not inactivity. The
  // server stops renewing once the call is over (410), and so do we.
  const keepAlive = setInterval(async () => {
    if (ended) { clearInterval(keepAlive); return; }
    try {
      const response = await fetch(root.dataset.keepAliveUrl, { cache: "no-store", credentials: "same-origin" });
      if (response.status === 410) clearInterval(keepAlive);
    } catch {
      // The network is down: the next beat tries again.
    }
  }, Number(root.dataset.keepAliveMs));
}
