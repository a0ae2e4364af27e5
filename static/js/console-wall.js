// The live wall: refreshed on every call event of the staff member's establishments.
import { tickDeadline, watch } from "./console-watch.js";

const wall = document.getElementById("wall");
const watchers = new Map();

function startThumbnails() {
  for (const tile of wall.querySelectorAll("[data-call]")) {
    const callId = Number(tile.dataset.call);
    if (watchers.has(callId) || tile.dataset.state !== "live" || tile.dataset.monitorable !== "1") continue;
    watchers.set(callId, watch(tile, { callId, muted: true }));
  }
  for (const [callId, client] of watchers) {
    if (!wall.querySelector(`[data-call="${callId}"]`)) {
      client.hangup();
      watchers.delete(callId);
    }
  }
}

async function refresh() {
  const response = await fetch(`${location.pathname}?fragment=1`, { credentials: "same-origin" });
  if (!response.ok) return;
  const html = await response.text();
  // Keep tiles whose video already plays; replace only the text of each.
  const next = document.createElement("div");
  next.innerHTML = html;
  for (const tile of next.querySelectorAll("[data-call]")) {
    const current = wall.querySelector(`[data-call="${tile.dataset.call}"]`);
    if (current && current.dataset.state === tile.dataset.state) {
      current.querySelector(".facts").replaceWith(tile.querySelector(".facts"));
    } else if (current) {
      current.replaceWith(tile);
    } else {
      wall.appendChild(tile);
    }
  }
  for (const tile of wall.querySelectorAll("[data-call]")) {
    if (!next.querySelector(`[data-call="${tile.dataset.call}"]`)) tile.remove();
  }
  wall.dataset.refreshed = String(Date.now());
  startThumbnails();
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${scheme}//${location.host}/ws/console/`);
  ws.addEventListener("message", () => refresh());
  ws.addEventListener("open", () => { wall.dataset.live = "1"; });
  ws.addEventListener("close", (e) => { if (e.code !== 4403) setTimeout(connect, 2000); });
}

setInterval(() => {
  for (const el of wall.querySelectorAll("[data-deadline]")) tickDeadline(el, el.dataset.deadline);
}, 1000);
startThumbnails();
connect();
