// parloir call protocol: the WebSocket to parloir and the two WebRTC connections to the SFU.
// No DOM here: the UI (call-ui.js) listens to the events this module emits.
// The frames are documented in docs/signaling.md.

const RECONNECT_DELAYS_MS = [250, 500, 1000, 2000, 3000, 5000];

export class CallClient extends EventTarget {
  constructor({ url, call, mediaStream }) {
    super();
    this.url = url;
    this.callId = call;
    this.localStream = mediaStream; // null for a staff monitor, which only receives
    this.resumeToken = sessionStorage.getItem(`parloir.resume.${call}`);
    this.publisher = null;
    this.subscriber = null;
    this.iceServers = [];
    this.closed = false;
    this.attempt = 0;
    this.remoteStream = null;
  }

  start() {
    this.#connect();
  }

  hangup() {
    this.#send({ type: "leave" });
    this.#close();
  }

  #emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  #connect() {
    if (this.closed) return;
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.addEventListener("open", () => {
      this.attempt = 0;
      const mediaAlive = this.publisher && ["connected", "completed"].includes(this.publisher.iceConnectionState);
      this.#send({ type: "hello", call: this.callId, resume: this.resumeToken, media_alive: Boolean(mediaAlive) });
    });
    ws.addEventListener("message", (event) => this.#onFrame(event.data));
    ws.addEventListener("close", (event) => {
      if (this.closed) return;
      if (event.code === 4403 || event.code === 4404) {
        this.closed = true;
        this.#emit("fatal", { code: event.code, reason: event.reason });
        return;
      }
      this.#emit("reconnecting", {});
      const delay = RECONNECT_DELAYS_MS[Math.min(this.attempt, RECONNECT_DELAYS_MS.length - 1)];
      this.attempt += 1;
      setTimeout(() => this.#connect(), delay);
    });
  }

  #send(frame) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
  }

  #close() {
    this.closed = true;
    for (const pc of [this.publisher, this.subscriber]) if (pc) pc.close();
    this.publisher = this.subscriber = null;
    if (this.ws) this.ws.close(1000);
  }

  async #onFrame(data) {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    switch (frame.type) {
      case "welcome":
        this.resumeToken = frame.resume;
        sessionStorage.setItem(`parloir.resume.${this.callId}`, frame.resume);
        this.iceServers = frame.ice_servers || [];
        this.#emit("welcome", frame);
        this.#emit("state", frame.state);
        if (frame.publish) await this.#publish();
        break;
      case "publish_answer":
        await this.publisher.setRemoteDescription({ type: "answer", sdp: frame.sdp });
        break;
      case "subscribe_offer":
        await this.#subscribe(frame.sdp);
        break;
      case "state":
        this.#emit("state", frame);
        if (frame.final) this.#close();
        break;
      case "notice":
        this.#emit("notice", frame);
        break;
      case "peer":
        this.#emit("peer", frame);
        break;
      case "error":
        this.#emit("error", frame);
        if (frame.fatal) this.#close();
        break;
      default:
        break;
    }
  }

  #newPeerConnection(kind) {
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    pc.addEventListener("icecandidate", (event) => {
      this.#send({ type: "candidate", pc: kind, candidate: event.candidate ? event.candidate.toJSON() : null });
    });
    pc.addEventListener("iceconnectionstatechange", () => {
      this.#emit("ice", { pc: kind, state: pc.iceConnectionState });
    });
    return pc;
  }

  async #publish() {
    if (this.publisher) this.publisher.close();
    const pc = this.#newPeerConnection("publisher");
    this.publisher = pc;
    for (const track of this.localStream.getTracks()) pc.addTransceiver(track, { direction: "sendonly", streams: [this.localStream] });
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    this.#send({ type: "publish", sdp: offer.sdp });
  }

  async #subscribe(sdp) {
    if (this.subscriber) this.subscriber.close();
    const pc = this.#newPeerConnection("subscriber");
    this.subscriber = pc;
    this.remoteStream = new MediaStream();
    this.#emit("subscribing", {});
    pc.addEventListener("track", (event) => {
      this.remoteStream.addTrack(event.track);
      this.#emit("remote-track", { track: event.track, mid: event.transceiver ? event.transceiver.mid : null });
      this.#emit("remote-stream", { stream: this.remoteStream });
    });
    await pc.setRemoteDescription({ type: "offer", sdp });
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    this.#send({ type: "answer", sdp: answer.sdp });
  }
}

// Seconds left before the server-side deadline, corrected for the client's clock skew.
export function secondsLeft(deadlineIso, serverOffsetMs) {
  if (!deadlineIso) return null;
  const ms = Date.parse(deadlineIso) - (Date.now() + serverOffsetMs);
  return Math.max(0, Math.floor(ms / 1000));
}

export function formatClock(seconds) {
  if (seconds === null || seconds === undefined) return "--:--";
  const m = Math.floor(seconds / 60);
  const s = seconds % 60;
  return `${String(m).padStart(2, "0")}:${String(s).padStart(2, "0")}`;
}
