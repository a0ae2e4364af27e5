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

// --- The tiles: one per other participant ----------------------------------------------
// Each person the page receives (the detainee, each other relative) has a tile: a video
// with its own stream (picture and voice) and, when the call reaches several relatives,
// a caption with their first name. The template's #remote tile is the first one: the
// detainee's on a relative's page (large, the others smaller below it), the first
// relative's on the kiosk (every relative the same size). With one relative the page is
// what it always was: one #remote video, no caption.
const tilesEl = document.getElementById("tiles");
const primaryTile = remoteVideo.closest(".tile");
const remoteLabel = remoteVideo.getAttribute("aria-label");
// key ("kiosk", "relative:1") -> {key, role, relative, name, stream, generation, gone}
const people = new Map();
// Tiles other than the primary one, by person.
const tiles = new Map();
// Each receiving connection (subscribe_offer) brings new tracks: a person's tracks of an
// older one are stale.
let generation = 0;
// The call's relatives (state.relatives): more than one and the tiles say who is who.
let callRelatives = [];
// The names of the other relatives, by key, for the alerts about them.
const namesByKey = new Map();
// Alerts about another relative's link, shown by name: hidden with the other link alerts.
const namedLinkAlerts = new Set();
// The kiosk: each relative's code message status ("delivered"…), from the code frames.
const codeStatusByRelative = new Map();

const keyOf = (who) => (who.role === "relative" ? `relative:${who.relative}` : who.role);
const severalRelatives = () => callRelatives.length > 1;

function personFor(who) {
  // A server that did not say whose track it is: the page's first tile, as before.
  const known = who && who.role ? who : { role: role === "kiosk" ? "relative" : "kiosk", relative: role === "kiosk" ? -1 : null, name: "" };
  const key = keyOf(known);
  let person = people.get(key);
  if (!person) {
    person = { key, role: known.role, relative: known.relative, name: known.name || "", stream: null, generation: -1, gone: false };
    people.set(key, person);
  }
  if (known.name) person.name = known.name;
  if (person.name) namesByKey.set(key, person.name);
  return person;
}

function order(person) {
  return person.role === "kiosk" ? -1 : Number(person.relative ?? 0);
}

// Who has a tile now, in order: the detainee first, then the relatives in the booking's.
function shown() {
  return [...people.values()]
    .filter((person) => person.generation === generation && !person.gone && person.stream)
    .sort((a, b) => order(a) - order(b));
}

function attach(video, stream) {
  if (video.srcObject !== stream) video.srcObject = stream;
  video.play().catch(() => {});
}

function dress(tile, person) {
  const video = tile.querySelector("video");
  const caption = tile.querySelector("figcaption");
  tile.dataset.who = person ? person.key : "";
  // Voice only (a relative on a weak link gets the other relatives' voices without their
  // pictures): a thin band with the name instead of a black picture.
  tile.dataset.video = person && person.stream && person.stream.getVideoTracks().length === 0 ? "off" : "on";
  if (person && person.role === "relative" && person.relative !== null && person.relative >= 0) {
    tile.dataset.relative = String(person.relative);
  } else {
    delete tile.dataset.relative;
  }
  const name = person && person.role === "relative" ? person.name : "";
  caption.textContent = name;
  caption.hidden = !(severalRelatives() && name);
  // The video is named by the person it shows once there are several to tell apart.
  if (severalRelatives() && name) video.setAttribute("aria-label", name);
  else video.setAttribute("aria-label", primaryTile === tile || !name ? remoteLabel : name);
}

function newTile() {
  const tile = document.createElement("figure");
  tile.className = "tile";
  const video = document.createElement("video");
  video.autoplay = true;
  video.playsInline = true;
  video.setAttribute("playsinline", "");
  const caption = document.createElement("figcaption");
  caption.hidden = true;
  tile.append(video, caption);
  return tile;
}

function renderTiles() {
  const list = shown();
  // A relative's page keeps the detainee's tile first, even before their picture comes.
  const first = role === "kiosk" ? list[0] : list.find((person) => person.role === "kiosk");
  const others = list.filter((person) => person !== first);
  if (first) attach(remoteVideo, first.stream);
  // Nobody to show in it: it keeps its last picture, as the single video always did.
  dress(primaryTile, first || (role === "kiosk" ? null : { key: "kiosk", role: "kiosk", relative: null, name: "" }));
  const keep = new Set(others.map((person) => person.key));
  for (const [key, tile] of tiles) {
    if (!keep.has(key)) {
      tile.querySelector("video").srcObject = null;
      tile.remove();
      tiles.delete(key);
    }
  }
  // New tiles go in their place; the others are never moved (a moved video pauses).
  for (const person of others) {
    let tile = tiles.get(person.key);
    if (!tile) {
      tile = newTile();
      tiles.set(person.key, tile);
      const after = others.slice(others.indexOf(person) + 1).map((p) => tiles.get(p.key)).find(Boolean);
      tilesEl.insertBefore(tile, after || null);
    }
    dress(tile, person);
    attach(tile.querySelector("video"), person.stream);
  }
  const count = 1 + others.length;
  tilesEl.dataset.count = String(count);
  tilesEl.dataset.layout = count === 1 ? "single" : role === "kiosk" ? "grid" : "featured";
  root.dataset.tiles = String(count);
  showExpected();
}

function onRemoteTrack({ track, who }) {
  const person = personFor(who);
  if (person.generation !== generation || !person.stream) {
    person.stream = new MediaStream();
    person.generation = generation;
  }
  person.gone = false;
  person.stream.addTrack(track);
  renderTiles();
}

// A renegotiation drops the sections of a feed that left: its person has no tile then.
function onStreams({ streams, renegotiate }) {
  if (!renegotiate) return;
  const present = new Set(streams.filter((s) => s.role).map((s) => keyOf(s)));
  if (present.size === 0 && streams.length > 0) return; // a server that does not say who
  for (const person of people.values()) {
    if (person.generation === generation && !present.has(person.key)) person.generation = -1;
  }
  renderTiles();
}

// The kiosk shows who it still waits for: the relatives still expected with no picture yet.
function showExpected() {
  const expectedEl = document.getElementById("expected");
  if (!expectedEl) return;
  const here = new Set(shown().map((person) => person.key));
  const labelsEl = document.getElementById("message-status-labels");
  const labels = labelsEl ? JSON.parse(labelsEl.textContent) : {};
  const waiting = callRelatives.filter((r) => r.status === "expected" && r.name && !here.has(`relative:${r.relative}`));
  const show = severalRelatives() && waiting.length > 0 && !ended;
  // Each with their message's status ("Remis"…), as the kiosk shows it for one relative.
  const described = waiting.map((r) => {
    const status = codeStatusByRelative.get(r.relative);
    return status && labels[status] ? `${r.name} (${labels[status]})` : r.name;
  });
  expectedEl.hidden = !show;
  expectedEl.textContent = show ? texts.expected.replace("{names}", () => described.join(", ")) : "";
  expectedEl.dataset.names = show ? waiting.map((r) => r.name).join(",") : "";
}

function named(text, key) {
  return text.replace("{name}", () => namesByKey.get(key) || texts.someone);
}

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
  if (LINK_ALERTS().includes(alertEl.textContent) || namedLinkAlerts.has(alertEl.textContent)) alertEl.hidden = true;
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
  if (Array.isArray(state.relatives)) {
    const several = severalRelatives();
    callRelatives = state.relatives;
    for (const r of callRelatives) if (r.name) namesByKey.set(`relative:${r.relative}`, r.name);
    if (several !== severalRelatives()) renderTiles();
    else showExpected();
  }
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
    showExpected();
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
function showCodeStatus({ message_status: status, expires_at: expires, channel, relative }) {
  if (relative !== undefined && relative !== null) {
    codeStatusByRelative.set(relative, status);
    showExpected();
  }
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
    const peer = e.detail;
    root.dataset.peer = peer.status === "left" ? `left:${peer.reason || "network"}` : peer.status;
    const key = peer.role === "relative" && peer.relative !== undefined && peer.relative !== null ? `relative:${peer.relative}` : peer.role;
    const gone = peer.status === "left" && ["refused", "left", "removed"].includes(peer.reason);
    if (gone) {
      // Out of the call for good (the call goes on for the others): their tile goes.
      const person = people.get(key);
      if (person) person.gone = true;
      renderTiles();
      showAlert(named(texts[`relative_${peer.reason}`], key));
    } else if (peer.role === "relative" && severalRelatives()) {
      // One of several relatives: said by name, for the others are still there.
      if (peer.status === "left") {
        const text = named(peer.reason === "closed" ? texts.relative_closed : texts.relative_lost, key);
        namedLinkAlerts.add(text);
        showAlert(text);
      }
      if ((peer.status === "media_up" || peer.status === "back") && namedLinkAlerts.has(alertEl.textContent)) {
        showAlert(named(texts.relative_back, key));
      }
    } else {
      if (peer.status === "left") showAlert(peer.reason === "closed" ? texts.peer_closed : texts.peer_left);
      if (peer.status === "media_up" || peer.status === "back") {
        if ([texts.peer_left, texts.peer_closed].includes(alertEl.textContent)) showAlert(texts.peer_back);
      }
    }
    showBandwidth();
  });
  // This relative is out of the call, which goes on for the others: the end page says why.
  client.addEventListener("out", () => {
    ended = true;
    root.dataset.out = "on";
    stopLocal();
    location.href = "/fin";
  });
  client.addEventListener("quality", (e) => showQuality(e.detail));
  client.addEventListener("bandwidth", (e) => {
    root.dataset.lowBandwidthSource = e.detail.source;
    // Kept for this tab: a reloaded page goes on in the mode it was in.
    sessionStorage.setItem(lowModeKey, e.detail.low ? e.detail.source : "");
    showBandwidth();
  });
  client.addEventListener("streams", (e) => onStreams(e.detail));
  client.addEventListener("subscribing", () => { generation += 1; });
  client.addEventListener("remote-track", (e) => {
    hideLinkAlerts();
    onRemoteTrack(e.detail);
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
