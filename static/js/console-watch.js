// Staff watching a call: both sides' video and sound, invisible to them. DOM only.
import { CallClient, formatClock, secondsLeft } from "./protocol.js";

export function watch(container, { callId, muted = false, onState = () => {} }) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const client = new CallClient({ url: `${scheme}//${location.host}/ws/call/`, call: callId, mediaStream: null });
  const videos = container.querySelectorAll("video");
  let videoIndex = 0;
  const audioStream = new MediaStream();
  const audio = container.querySelector("audio");
  client.addEventListener("remote-track", (e) => {
    const { track } = e.detail;
    if (track.kind === "video") {
      // Feeds come in order: the detainee's, then the relative's.
      const video = videos[videoIndex % videos.length];
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
  client.addEventListener("subscribing", () => { videoIndex = 0; });
  client.addEventListener("state", (e) => onState(e.detail));
  client.start();
  return client;
}

export function tickDeadline(element, deadlineIso) {
  element.textContent = formatClock(secondsLeft(deadlineIso, 0));
}
