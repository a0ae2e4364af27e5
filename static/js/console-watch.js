// Staff watching a call: every side's video and sound, invisible to them. DOM only.
import { CallClient, formatClock, secondsLeft } from "./protocol.js";

export function watch(container, { callId, muted = false, onState = () => {} }) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const client = new CallClient({ url: `${scheme}//${location.host}/ws/call/`, call: callId, mediaStream: null });
  const videos = Array.from(container.querySelectorAll("video"));
  const fixed = videos.length;
  let videoIndex = 0;
  // A call of several relatives has more pictures than the page's slots: each further one
  // gets a slot like the last (a captioned figure on the watch page, a thumbnail on the wall).
  const slot = (index, name) => {
    while (videos.length <= index) {
      const model = videos[fixed - 1];
      const holder = model.parentElement.tagName === "FIGURE" ? model.parentElement : model;
      const copy = holder.cloneNode(true);
      copy.dataset.extra = "1";
      const caption = copy.querySelector ? copy.querySelector("figcaption") : null;
      if (caption && name) caption.textContent = name;
      holder.parentElement.appendChild(copy);
      videos.push(copy.tagName === "VIDEO" ? copy : copy.querySelector("video"));
    }
    return videos[index];
  };
  const audioStream = new MediaStream();
  const audio = container.querySelector("audio");
  client.addEventListener("remote-track", (e) => {
    const { track } = e.detail;
    if (track.kind === "video") {
      // Feeds come in order: the detainee's, then the relatives' in the booking's order.
      const sender = e.detail.who || {};
      const video = slot(videoIndex, sender.name || "");
      videoIndex += 1;
      video.srcObject = new MediaStream([track]);
      video.muted = true;
      video.play().catch(() => {});
    } else if (audio && !muted) {
      audioStream.addTrack(track);
      audio.srcObject = audioStream;
      audio.play().catch(() => {});
    }
  });
  client.addEventListener("subscribing", () => {
    videoIndex = 0;
    // A new subscription names everyone again: pictures of people who left go.
    for (const extra of container.querySelectorAll("[data-extra]")) extra.remove();
    videos.length = fixed;
  });
  client.addEventListener("state", (e) => onState(e.detail));
  client.start();
  return client;
}

export function tickDeadline(element, deadlineIso) {
  element.textContent = formatClock(secondsLeft(deadlineIso, 0));
}
