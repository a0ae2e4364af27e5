// parloir call protocol: the WebSocket to parloir and the two WebRTC connections to the SFU.
// No DOM here: the UI (call-ui.js) listens to the events this module emits.
// The frames are documented in docs/signaling.md.

const RECONNECT_DELAYS_MS = [250, 500, 1000, 2000, 3000, 5000];
const STATS_INTERVAL_MS = 2000;

// Low-bandwidth mode: the video sent is cut to a trickle (a quarter of the size, 10 images a
// second, 100 kbit/s at most) so that a 150 kbit/s link still carries the voice. Opus is
// left alone: it needs about 40 kbit/s and is what a call cannot do without.
export const LOW_VIDEO_ENCODING = { maxBitrate: 100_000, scaleResolutionDownBy: 4, maxFramerate: 10 };
// The mode engages by itself when the estimate of what we can send stays under this, or
// the loss over this, for WEAK_SAMPLES samples in a row (one bad second is not a bad link).
export const LOW_BANDWIDTH_KBPS = 250;
const AT_CAP_SHARE = 0.8;
const LOW_BANDWIDTH_LOSS_PERCENT = 15;
const WEAK_SAMPLES = 3;
// A PeerConnection that has not connected this long after it was made, or that stays
// disconnected this long once up, is given up: the client joins again with new ones
// (a reconnection saying its media are dead). Without this, a path that fails while the
// socket holds (UDP blocked, a DTLS handshake that never ends) leaves both sides waiting.
export const MEDIA_SETUP_MS = 30_000;
export const MEDIA_LOST_MS = 10_000;
// After this many attempts in a row, the page tells the person the link is the problem.
export const MEDIA_TROUBLE_ATTEMPTS = 2;
// Before each new attempt in a row: a link that fails at once (UDP refused, no usable
// candidate) must not make the client rejoin every second for the whole call.
// Errors in answer to hello, after which the connection has no media (docs/signaling.md).
const JOIN_ERRORS = new Set(["no_media_node", "media_error", "internal_error"]);
const MEDIA_RETRY_DELAYS_MS = [250, 2000, 5000, 10000, 20000];
// Without a video server, the socket waits for the server's media_restart this long.
export const NO_MEDIA_SERVER_RETRY_MS = 20_000;
// A socket whose ping (one every PING_MS) gets no answer for SILENT_MS is dead even if
// the browser has not noticed (a lost route sends no reset): the client reconnects at
// once instead of waiting for the browser's own timeout, tens of seconds later. Only an
// unanswered ping counts: a page in the background, whose timers the browser slows down,
// is not silent for having sent nothing.
export const PING_MS = 10_000;
export const SILENT_MS = 20_000;

export class CallClient extends EventTarget {
  // mediaStream: a MediaStream, or a promise of one (getUserMedia's), so that the socket
  // opens while the camera starts; null for a staff monitor, which only receives.
  constructor({ url, call, mediaStream }) {
    super();
    this.url = url;
    this.callId = call;
    this.media = Promise.resolve(mediaStream);
    this.media.catch(() => {}); // the page handles a refused camera (and calls abandon())
    this.localStream = null;
    this.resumeToken = sessionStorage.getItem(`parloir.resume.${call}`);
    this.publisher = null;
    this.subscriber = null;
    this.iceServers = [];
    this.closed = false;
    this.attempt = 0;
    this.remoteStream = null;
    // Who each media section of the receiving connection carries, by mid: the latest
    // subscribe_offer's streams ({mid, feed, kind, role, relative, name}).
    this.streams = [];
    this.relative = null; // which of the call's relatives this page is (welcome.relative)
    this.lowBandwidth = false; // our own choice (ticked, or engaged by the measures)
    // The most the server lets our video take (publish_answer's max_bitrate), in kbit/s.
    this.sendCapKbps = null;
    this.peerLowBandwidth = false; // another side asked us to send less
    // The sides in low-bandwidth mode ("kiosk", "relative:1"…): with several relatives,
    // we send less while any of them asks for it.
    this.lowPeers = new Set();
    this.lastQuality = null;
    this.statsTimer = null;
    this.weakSamples = 0;
    this.previousInbound = new Map();
    this.mediaAttempts = 0; // media restarts since the media last connected
    this.heartbeat = null;
    this.reconnectTimer = null;
    this.lastHeardAt = 0;
    this.pingSentAt = 0;
    this.mediaSetupMs = MEDIA_SETUP_MS;
    this.mediaLostMs = MEDIA_LOST_MS;
    this.epoch = null; // the call's room our media live in (welcome.epoch)
    this.noMediaServerTimer = null;
  }

  start() {
    this.#connect();
  }

  // Who sends the track of this mid in the receiving connection, from the latest
  // subscribe_offer: {mid, feed, kind, role, relative, name}, or null if it did not say.
  whoSends(mid) {
    return this.streams.find((stream) => String(stream.mid) === String(mid)) || null;
  }

  hangup() {
    this.#send({ type: "leave" });
    this.#close();
  }

  // Close without leaving the call: the page could not get the camera or microphone, and
  // a new client will join again once the person has allowed them.
  abandon() {
    this.#close();
  }

  #emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  #connect() {
    if (this.closed) return;
    const ws = new WebSocket(this.url);
    this.ws = ws;
    this.welcomed = false;
    ws.addEventListener("open", async () => {
      this.attempt = 0;
      // The socket's handshake (several round trips on a mobile network) overlapped the
      // camera's start; the server hears from us once we can publish.
      try {
        this.localStream = await this.media;
      } catch {
        return;
      }
      if (this.closed || ws !== this.ws || ws.readyState !== WebSocket.OPEN) return;
      const mediaAlive = Boolean(this.publisher && ["connected", "completed"].includes(this.publisher.iceConnectionState));
      // Media that are not alive are rebuilt by the server, which destroys their Janus side:
      // what is left of them here would only fire its watchdog later.
      if (!mediaAlive) this.#closePeerConnections();
      this.#send({ type: "hello", call: this.callId, resume: this.resumeToken, media_alive: mediaAlive });
    });
    ws.addEventListener("message", (event) => {
      this.lastHeardAt = Date.now();
      this.#onFrame(event.data);
    });
    ws.addEventListener("close", (event) => {
      // A socket given up on (#reconnect) has its successor already.
      if (this.closed || ws !== this.ws) return;
      clearInterval(this.heartbeat);
      // 4409: this side of the call was opened in another page, which now has it.
      if (event.code === 4403 || event.code === 4404 || event.code === 4409) {
        this.closed = true;
        this.#emit("fatal", { code: event.code, reason: event.reason });
        return;
      }
      this.#scheduleConnect();
    });
    ws.addEventListener("open", () => {
      if (ws !== this.ws) return;
      this.lastHeardAt = Date.now();
      this.pingSentAt = 0;
      clearInterval(this.heartbeat);
      this.heartbeat = setInterval(() => {
        if (ws !== this.ws || this.closed) return;
        const now = Date.now();
        const waiting = this.pingSentAt > this.lastHeardAt;
        if (waiting && now - this.pingSentAt > SILENT_MS) {
          this.#reconnect(4001, "silent");
        } else if (!waiting) {
          this.pingSentAt = now;
          this.#send({ type: "ping", id: 0 });
        }
      }, PING_MS);
    });
  }

  #scheduleConnect({ now = false } = {}) {
    this.#emit("reconnecting", {});
    let delay = RECONNECT_DELAYS_MS[Math.min(this.attempt, RECONNECT_DELAYS_MS.length - 1)];
    if (this.mediaAttempts > 0) {
      delay = Math.max(delay, MEDIA_RETRY_DELAYS_MS[Math.min(this.mediaAttempts - 1, MEDIA_RETRY_DELAYS_MS.length - 1)]);
    }
    this.attempt += 1;
    if (now) {
      // The server asked for it (the call's media moved): no back-off, and a retry
      // waiting for its turn goes now instead.
      delay = 0;
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = null;
    }
    // One pending connection at most: a media restart while a reconnection waits must
    // not open a second socket beside it.
    if (this.reconnectTimer !== null) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.#connect();
    }, delay);
  }

  // Leave this socket for a new one without waiting for its close event: on a dead link
  // the browser fires it only after its closing handshake times out.
  #reconnect(code, reason, { now = false } = {}) {
    const old = this.ws;
    this.ws = null;
    clearInterval(this.heartbeat);
    if (old) old.close(code, reason);
    this.#scheduleConnect({ now });
  }

  #send(frame) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
  }

  #close() {
    this.closed = true;
    clearTimeout(this.noMediaServerTimer);
    clearInterval(this.statsTimer);
    clearInterval(this.heartbeat);
    clearTimeout(this.reconnectTimer);
    this.#closePeerConnections();
    if (this.ws) this.ws.close(1000);
  }

  #closePeerConnections() {
    dropPeerConnection(this.publisher);
    dropPeerConnection(this.subscriber);
    this.publisher = this.subscriber = null;
  }

  // The server pushes media_restart the moment a video server is back, on this socket:
  // closing it to try again would open a window where that push finds nobody. A new
  // socket is tried only if no push came for a long while (the server restarted, say).
  #waitForMediaServer(reason) {
    this.mediaAttempts += 1;
    this.#emit("media-retry", { pc: "hello", reason, attempt: this.mediaAttempts, trouble: false });
    const ws = this.ws;
    clearTimeout(this.noMediaServerTimer);
    this.noMediaServerTimer = setTimeout(() => {
      if (!this.closed && ws === this.ws) this.#reconnect(4000, "no media server");
    }, NO_MEDIA_SERVER_RETRY_MS);
  }

  // Give up a PeerConnection that will not carry media: close both and the socket; the
  // reconnection says hello with media_alive false, and the server has us publish and
  // subscribe again (docs/signaling.md, step 6).
  #restartMedia(kind, reason) {
    if (this.closed) return;
    this.mediaAttempts += 1;
    this.#emit("media-retry", { pc: kind, reason, attempt: this.mediaAttempts, trouble: this.mediaAttempts >= MEDIA_TROUBLE_ATTEMPTS });
    this.#closePeerConnections();
    this.#reconnect(4000, "media restart");
  }

  // A description the browser refuses leaves a connection that will never connect, and
  // Janus waiting for an answer: set the media up again now rather than when the
  // watchdog gives up on it (MEDIA_SETUP_MS).
  async #negotiate(kind, step) {
    const running = step();
    // Each step makes or picks its PeerConnection before its first await (null if making
    // it failed).
    const pc = kind === "publisher" ? this.publisher : this.subscriber;
    try {
      await running;
    } catch (error) {
      // One closed meanwhile (a newer offer replaced it, a media restart) failed for that
      // reason alone: there is nothing to mend.
      if (this.closed || (pc && pc.signalingState === "closed")) return;
      this.#emit("negotiation-error", { pc: kind, name: error.name, message: error.message });
      this.#restartMedia(kind, "negotiation");
    }
  }

  #watchMedia(pc, kind) {
    const current = () => !this.closed && (pc === this.publisher || pc === this.subscriber);
    const giveUpAfter = (ms, reason) => {
      clearTimeout(pc.parloirWatchdog);
      pc.parloirWatchdog = setTimeout(() => { if (current()) this.#restartMedia(kind, reason); }, ms);
    };
    giveUpAfter(this.mediaSetupMs, "setup");
    pc.addEventListener("connectionstatechange", () => {
      if (!current()) return;
      const state = pc.connectionState;
      if (state === "connected") {
        clearTimeout(pc.parloirWatchdog);
        // Back only once what we send flows (a monitor sends nothing): a subscriber that
        // connects while the publisher keeps failing must not hide the trouble.
        if (kind !== "publisher" && this.localStream) return;
        if (this.mediaAttempts > 0) this.#emit("media-restored", { pc: kind });
        this.mediaAttempts = 0;
      } else if (state === "disconnected") {
        giveUpAfter(this.mediaLostMs, "lost");
      } else if (state === "failed") {
        clearTimeout(pc.parloirWatchdog);
        this.#restartMedia(kind, "failed");
      }
    });
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
        this.welcomed = true;
        this.epoch = frame.epoch ?? null;
        this.relative = frame.relative ?? null;
        this.resumeToken = frame.resume;
        sessionStorage.setItem(`parloir.resume.${this.callId}`, frame.resume);
        this.iceServers = frame.ice_servers || [];
        this.#emit("welcome", frame);
        this.#emit("state", frame.state);
        // A new connection knows nothing of our mode: tell the other side again, off as
        // well as on (a reloaded page starts with it off while the server may still
        // have it on for this participant).
        if (frame.role !== "monitor") this.#send({ type: "bandwidth", low: this.lowBandwidth });
        if (this.statsTimer === null) this.statsTimer = setInterval(() => this.#sampleStats(), STATS_INTERVAL_MS);
        if (frame.publish) await this.#negotiate("publisher", () => this.#publish());
        break;
      case "publish_answer":
        this.sendCapKbps = Number.isFinite(frame.max_bitrate) ? frame.max_bitrate / 1000 : null;
        await this.#negotiate("publisher", async () => {
          await this.publisher.setRemoteDescription({ type: "answer", sdp: frame.sdp });
          await this.#applyVideoEncoding();
        });
        break;
      case "subscribe_offer":
        // Kept before the description is applied: its track events read it.
        this.streams = Array.isArray(frame.streams) ? frame.streams : [];
        this.#emit("streams", { streams: this.streams, renegotiate: Boolean(frame.renegotiate) });
        if (frame.renegotiate && this.subscriber) await this.#renegotiate(frame.sdp);
        else await this.#negotiate("subscriber", () => this.#subscribe(frame.sdp));
        break;
      case "state":
        this.#emit("state", frame);
        if (frame.final) this.#close();
        break;
      case "notice":
        this.#emit("notice", frame);
        break;
      case "media_restart":
        // The server lost the call's room (its video server failed or restarted) and has
        // another one, or a video server is back for a call that had none: set the media
        // up again now, in the same call, without counting it as this link's trouble.
        if (frame.reason === "media_server" && this.epoch !== null && frame.epoch <= this.epoch) break;
        clearTimeout(this.noMediaServerTimer);
        this.#emit("media-restart", frame);
        this.#closePeerConnections();
        this.#reconnect(4002, "media moved", { now: true });
        break;
      case "code":
        this.#emit("code", frame);
        break;
      case "peer": {
        // frame.relative (which relative, for a relative's frame) is passed on as it came.
        const side = frame.relative === undefined || frame.relative === null ? frame.role : `${frame.role}:${frame.relative}`;
        const gone = frame.status === "left" && ["refused", "left", "removed"].includes(frame.reason);
        if (frame.status === "low_bandwidth") this.lowPeers.add(side);
        else if (frame.status === "normal_bandwidth" || gone) this.lowPeers.delete(side);
        const low = this.lowPeers.size > 0;
        if (low !== this.peerLowBandwidth) {
          this.peerLowBandwidth = low;
          await this.#applyVideoEncoding();
        }
        this.#emit("peer", frame);
        break;
      }
      case "out":
        // This relative is out of the call (refused elsewhere, hung up, removed by staff),
        // which goes on for the others: the server closes the socket next. Stop, without
        // leave (there is nothing left to leave), and let the page show the end.
        this.#close();
        this.#emit("out", { why: frame.why });
        break;
      case "error":
        this.#emit("error", frame);
        if (frame.fatal) {
          // The server closes the socket next (4403); #close() makes us ignore that
          // close, so the end is announced here, once.
          this.#close();
          this.#emit("fatal", { code: null, reason: frame.code });
        } else if (!this.welcomed && frame.code === "no_media_node") {
          // No video server for now: keep this socket, on which the server says
          // media_restart as soon as one is back; try again later should that not come.
          this.#waitForMediaServer(frame.code);
        } else if (!this.welcomed && JOIN_ERRORS.has(frame.code)) {
          // The server could not set this connection's media up (no video server, Janus
          // did not answer): try again on a new socket, backing off, until it can.
          this.#restartMedia("hello", frame.code);
        } else if (JOIN_ERRORS.has(frame.code) && this.subscriber === null) {
          // Joined, but subscribing to the other side failed (after the welcome, or on
          // its media_up): no connection exists whose watchdog would notice, and the
          // picture would stay black for the whole call. Set the media up again.
          this.#restartMedia("subscriber", frame.code);
        }
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
    this.#watchMedia(pc, kind);
    return pc;
  }

  async #publish() {
    dropPeerConnection(this.publisher);
    this.publisher = null;
    const pc = this.#newPeerConnection("publisher");
    this.publisher = pc;
    for (const track of this.localStream.getTracks()) {
      const init = { direction: "sendonly", streams: [this.localStream] };
      if (track.kind === "video" && this.#videoLow()) init.sendEncodings = [{ ...LOW_VIDEO_ENCODING }];
      pc.addTransceiver(track, init);
    }
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    this.#send({ type: "publish", sdp: offer.sdp });
  }

  // --- Link quality and the low-bandwidth mode ------------------------------------------

  // Turn the low-bandwidth mode on or off for what we send; the other side is told, so
  // that it sends less to us too (without simulcast there is no lower layer to pick).
  async setLowBandwidth(on, source = "user") {
    if (on === this.lowBandwidth) return;
    this.lowBandwidth = on;
    this.weakSamples = 0;
    await this.#applyVideoEncoding();
    this.#send({ type: "bandwidth", low: on });
    this.#emit("bandwidth", { low: on, source });
  }

  #videoLow() {
    return this.lowBandwidth || this.peerLowBandwidth;
  }

  async #applyVideoEncoding() {
    const pc = this.publisher;
    if (!pc) return;
    const sender = pc.getSenders().find((s) => s.track && s.track.kind === "video");
    if (!sender) return;
    const params = sender.getParameters();
    if (!params.encodings || params.encodings.length === 0) return; // not negotiated yet: sendEncodings applies
    const low = this.#videoLow();
    for (const encoding of params.encodings) {
      if (low) {
        Object.assign(encoding, LOW_VIDEO_ENCODING);
      } else {
        delete encoding.maxBitrate;
        delete encoding.maxFramerate;
        encoding.scaleResolutionDownBy = 1;
      }
    }
    try {
      await sender.setParameters(params);
    } catch (error) {
      this.#emit("encoding-error", { name: error.name, message: error.message });
    }
  }

  async #sampleStats() {
    if (this.closed) return;
    const sample = {
      lossPercent: null, rttMs: null, outgoingKbps: null, bandwidthLimited: false, audioPacketsReceived: null,
    };
    try {
      if (this.publisher) readPublisherStats(await this.publisher.getStats(), sample);
      if (this.subscriber) this.#readSubscriberStats(await this.subscriber.getStats(), sample);
    } catch {
      return; // a PeerConnection closed under us: next sample
    }
    // The sending estimate means something only when the link, not the encoder, holds the
    // video back: a still picture needs little and the estimate then stays where it began;
    // and once our video is capped on purpose, the cap is all the estimate shows: ours (the
    // low-bandwidth mode) or the server's (a relative's small tile in a call of several).
    sample.constrainedKbps = sample.bandwidthLimited && !this.#videoLow()
      && !atCap(sample.outgoingKbps, this.sendCapKbps) ? sample.outgoingKbps : null;
    sample.level = classifyQuality(sample);
    this.lastQuality = sample;
    this.#emit("quality", sample);
    const weak = (sample.constrainedKbps !== null && sample.constrainedKbps < LOW_BANDWIDTH_KBPS)
      || (sample.lossPercent !== null && sample.lossPercent >= LOW_BANDWIDTH_LOSS_PERCENT);
    this.weakSamples = weak ? this.weakSamples + 1 : 0;
    if (this.weakSamples >= WEAK_SAMPLES && !this.lowBandwidth) await this.setLowBandwidth(true, "auto");
  }

  #readSubscriberStats(report, sample) {
    let lost = 0;
    let received = 0;
    report.forEach((stat) => {
      if (stat.type !== "inbound-rtp") return;
      const kind = stat.kind || stat.mediaType;
      if (kind === "audio") sample.audioPacketsReceived = (sample.audioPacketsReceived || 0) + (stat.packetsReceived || 0);
      const before = this.previousInbound.get(stat.id) || { lost: 0, received: 0 };
      const now = { lost: stat.packetsLost || 0, received: stat.packetsReceived || 0 };
      lost += Math.max(0, now.lost - before.lost);
      received += Math.max(0, now.received - before.received);
      this.previousInbound.set(stat.id, now);
    });
    if (lost + received > 0) {
      const down = (100 * lost) / (lost + received);
      sample.lossPercent = Math.max(sample.lossPercent ?? 0, down);
    }
  }

  // Janus changed the subscription (a feed left): same connection, new description. A new
  // PeerConnection would not match Janus's transport and never connect. A feed that comes
  // back is a new feed, offered afresh on a new connection: so a renegotiation the browser
  // refuses costs nothing but the stale streams until then, while setting the media up
  // again would cut what this side sends too.
  async #renegotiate(sdp) {
    const pc = this.subscriber;
    try {
      await pc.setRemoteDescription({ type: "offer", sdp });
      await pc.setLocalDescription(await pc.createAnswer());
      this.#send({ type: "answer", sdp: pc.localDescription.sdp });
    } catch (error) {
      if (this.closed || pc.signalingState === "closed") return;
      this.#emit("negotiation-error", {
        pc: "subscriber", name: error.name, message: error.message, renegotiate: true,
      });
      // Back to the description that still carries the other streams.
      if (pc.signalingState === "have-remote-offer") {
        await pc.setLocalDescription({ type: "rollback" }).catch(() => {});
      }
    }
  }

  async #subscribe(sdp) {
    dropPeerConnection(this.subscriber);
    this.subscriber = null;
    const pc = this.#newPeerConnection("subscriber");
    this.subscriber = pc;
    this.remoteStream = new MediaStream();
    this.#emit("subscribing", {});
    pc.addEventListener("track", (event) => {
      this.remoteStream.addTrack(event.track);
      const mid = event.transceiver ? event.transceiver.mid : null;
      this.#emit("remote-track", { track: event.track, mid, who: mid === null ? null : this.whoSends(mid) });
      this.#emit("remote-stream", { stream: this.remoteStream });
    });
    await pc.setRemoteDescription({ type: "offer", sdp });
    const answer = await pc.createAnswer();
    try {
      await pc.setLocalDescription({ type: "answer", sdp: asDtlsServer(answer.sdp) });
    } catch {
      // A browser that refuses the edited answer still connects, only more slowly.
      await pc.setLocalDescription(answer);
    }
    this.#send({ type: "answer", sdp: pc.localDescription.sdp });
  }
}

// Close a PeerConnection (if any) and disarm its watchdog.
function dropPeerConnection(pc) {
  if (!pc) return;
  clearTimeout(pc.parloirWatchdog);
  pc.close();
}

// Browsers answer Janus's offers as the DTLS client, and their first handshake message
// often reaches Janus before it is ready for it, costing a retransmission (about a
// second). As the DTLS server, the browser waits for Janus instead: in bench_call, the
// subscriber's DTLS set-up went from 1.7 s to 92 ms at the 95th percentile.
export function asDtlsServer(sdp) {
  return sdp.replace(/^a=setup:active(?=\r?$)/gm, "a=setup:passive");
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

// What the server's reports say about what we send: round trip, loss, the sending estimate.
function readPublisherStats(report, sample) {
  report.forEach((stat) => {
    if (stat.type === "candidate-pair" && (stat.nominated || stat.selected) && stat.state === "succeeded") {
      if (typeof stat.availableOutgoingBitrate === "number") sample.outgoingKbps = stat.availableOutgoingBitrate / 1000;
      if (typeof stat.currentRoundTripTime === "number") sample.rttMs = stat.currentRoundTripTime * 1000;
    } else if (stat.type === "outbound-rtp" && stat.kind === "video") {
      if (stat.qualityLimitationReason === "bandwidth") sample.bandwidthLimited = true;
    } else if (stat.type === "remote-inbound-rtp") {
      if (sample.rttMs === null && typeof stat.roundTripTime === "number") sample.rttMs = stat.roundTripTime * 1000;
      if (typeof stat.fractionLost === "number") sample.lossPercent = Math.max(sample.lossPercent ?? 0, stat.fractionLost * 100);
    }
  });
}

// The sending estimate is held by the server's cap rather than by the link: Janus's REMB
// keeps it at the cap (a little under, as the browser leaves room for its overheads).
export function atCap(outgoingKbps, capKbps) {
  return outgoingKbps !== null && capKbps !== null && outgoingKbps >= AT_CAP_SHARE * capKbps;
}

// "good", "medium" or "poor" from one sample; unknown measures count as fine.
export function classifyQuality({ lossPercent, rttMs, constrainedKbps }) {
  const loss = lossPercent ?? 0;
  const rtt = rttMs ?? 0;
  const out = constrainedKbps ?? Infinity;
  if (loss >= 10 || rtt >= 1000 || out < 200) return "poor";
  if (loss >= 3 || rtt >= 400 || out < 400) return "medium";
  return "good";
}

// --- The pre-call check (/verifier): measures without joining any call ---------------------

// Median round trip of `count` pings over the call WebSocket (answered without joining).
export function measureRoundTrip(url, { count = 5, timeoutMs = 8000 } = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const times = [];
    let sentAt = 0;
    const timer = setTimeout(() => { ws.close(); reject(new Error("timeout")); }, timeoutMs);
    const ping = () => { sentAt = performance.now(); ws.send(JSON.stringify({ type: "ping", id: times.length + 1 })); };
    ws.addEventListener("open", ping);
    ws.addEventListener("error", () => { clearTimeout(timer); reject(new Error("websocket")); });
    ws.addEventListener("message", (event) => {
      let frame;
      try { frame = JSON.parse(event.data); } catch { return; }
      if (frame.type !== "pong") return;
      times.push(performance.now() - sentAt);
      if (times.length < count) { ping(); return; }
      clearTimeout(timer);
      ws.close(1000);
      times.sort((a, b) => a - b);
      resolve(times[Math.floor(times.length / 2)]);
    });
  });
}

// Download speed in kbit/s from a sample that is never cached, read for at most `maxMs`:
// a slow link gets its answer in a few seconds instead of after the whole file.
export async function measureDownload(url, { maxMs = 4000 } = {}) {
  const controller = new AbortController();
  const response = await fetch(`${url}?t=${Date.now()}`, { cache: "no-store", signal: controller.signal });
  if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
  const reader = response.body.getReader();
  const started = performance.now();
  let bytes = 0;
  for (;;) {
    let chunk;
    try {
      chunk = await Promise.race([
        reader.read(),
        new Promise((resolve) => setTimeout(() => resolve(null), Math.max(0, maxMs - (performance.now() - started)))),
      ]);
    } catch {
      break;
    }
    if (chunk === null || chunk.done) break;
    bytes += chunk.value.byteLength;
    if (performance.now() - started >= maxMs) break;
  }
  controller.abort();
  const seconds = Math.max(0.001, (performance.now() - started) / 1000);
  return (bytes * 8) / 1000 / seconds;
}

// "good", "medium" or "slow" for the pre-call check; a call at full quality takes about
// 600 kbit/s each way, and the low-bandwidth mode gets by with 150.
export function classifyLink({ downloadKbps, rttMs }) {
  if (downloadKbps >= 800 && rttMs < 300) return "good";
  if (downloadKbps >= 300 && rttMs < 800) return "medium";
  return "slow";
}

// Live microphone level (0-100) from WebAudio, for the level meter.
export class AudioLevel {
  constructor(stream) {
    const AudioContextClass = globalThis.AudioContext || globalThis.webkitAudioContext;
    this.context = new AudioContextClass();
    this.analyser = this.context.createAnalyser();
    this.analyser.fftSize = 1024;
    this.context.createMediaStreamSource(stream).connect(this.analyser);
    this.buffer = new Float32Array(this.analyser.fftSize);
    this.peak = 0;
  }

  async resume() {
    if (this.context.state === "suspended") await this.context.resume();
  }

  read() {
    this.analyser.getFloatTimeDomainData(this.buffer);
    let sum = 0;
    for (const value of this.buffer) sum += value * value;
    const rms = Math.sqrt(sum / this.buffer.length);
    // Speech sits around -30 dBFS: map -60..0 dBFS onto 0..100.
    const db = rms > 0 ? 20 * Math.log10(rms) : -100;
    const level = Math.max(0, Math.min(100, Math.round(((db + 60) / 60) * 100)));
    this.peak = Math.max(this.peak, level);
    return level;
  }

  close() {
    this.context.close();
  }
}
