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
// While the video server is down the clock stands still: those seconds are given back.
let frozenLeft = null;
let givenBack = 0;
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

// Alerts about the link that stop holding once media flow again.
const LINK_ALERTS = () => [texts.peer_left, texts.peer_closed, texts.media_restart, texts.media_waiting, texts.own_connection];

function hideLinkAlerts() {
  if (LINK_ALERTS().includes(alertEl.textContent)) alertEl.hidden = true;
}

function tick() {
  // Once over, the clock says so: the end screen stays a few seconds.
  const left = ended ? 0 : frozenLeft ?? secondsLeft(deadline, serverOffsetMs);
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
  if (state.media_outage && !state.final) {
    root.dataset.mediaOutage = "on";
    if (frozenLeft === null) {
      frozenLeft = secondsLeft(deadline, serverOffsetMs);
      // On screen at once, not at the next tick: what is shown stands still from now.
      tick();
    }
  } else {
    frozenLeft = null;
    root.dataset.mediaOutage = "off";
  }
  if (typeof state.given_back_seconds === "number") {
    root.dataset.givenBack = String(state.given_back_seconds);
    if (state.given_back_seconds > givenBack && !state.final) showAlert(texts.given_back);
    givenBack = state.given_back_seconds;
  }
  if (state.state === "live") {
    setStatus(texts.live);
    const codeStatus = document.getElementById("code-status");
    if (codeStatus) codeStatus.hidden = true;
  } else if (["code_sent", "calling", "relative_joined", "booked"].includes(state.state)) {
    setStatus(texts.waiting);
  }
  // Back to "booked" mid-call page: the relative refused; the kiosk may call again.
  if (state.state === "booked" && role === "kiosk" && !state.final) showAlert(texts.refused);
  if (state.state === "code_sent" && alertEl.textContent === texts.refused) alertEl.hidden = true;
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
  const joinErrorTexts = new Set([...Object.values(errorText), texts.error_other, texts.media_waiting]);
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
  client.addEventListener("media-restart", (e) => {
    root.dataset.mediaRestarts = String(Number(root.dataset.mediaRestarts || 0) + 1);
    if (e.detail.reason === "media_server") showAlert(texts.media_restart);
  });
  client.addEventListener("ice", (e) => {
    // Our own link, not the other side's: said as such.
    if (e.detail.pc === "publisher" && e.detail.state === "disconnected") showAlert(texts.own_connection);
    if (e.detail.pc === "publisher" && e.detail.state === "connected" && alertEl.textContent === texts.own_connection) alertEl.hidden = true;
  });
  client.addEventListener("media-retry", (e) => {
    root.dataset.mediaRetries = String(e.detail.attempt);
    // A join refused by the server keeps its own message (error event) between tries.
    if (e.detail.trouble && e.detail.pc !== "hello") showAlert(texts.media_trouble);
  });
  client.addEventListener("media-restored", () => {
    if (alertEl.textContent === texts.media_trouble) alertEl.hidden = true;
  });
  client.addEventListener("peer", (e) => {
    root.dataset.peer = e.detail.status === "left" ? `left:${e.detail.reason || "network"}` : e.detail.status;
    if (e.detail.status === "left") showAlert(e.detail.reason === "closed" ? texts.peer_closed : texts.peer_left);
    if (e.detail.status === "media_up" || e.detail.status === "back") {
      if ([texts.peer_left, texts.peer_closed].includes(alertEl.textContent)) showAlert(texts.peer_back);
    }
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
    hideLinkAlerts();
    if (remoteVideo.srcObject !== e.detail.stream) remoteVideo.srcObject = e.detail.stream;
    remoteVideo.play().catch(() => {});
  });
  // The server's own message is English, for developers: people read the page's language.
  client.addEventListener("error", (e) => {
    // A conversation under way waits for a video server to come back: said as such.
    const waiting = e.detail.code === "no_media_node" && root.dataset.state === "live";
    showAlert(waiting ? texts.media_waiting : errorText[e.detail.code] || texts.error_other);
  });
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
