// @ts-check
/**
 * The sound check: a private echo test with the server's own WebRTC peer, before joining.
 * Our microphone goes to the server, which plays it back about 1.5 s later; nobody else hears
 * it and it takes no seat in the call. No DOM here: the UI plays the stream it emits.
 */
import { Events, emit } from "./events.js";
import { hasTurnServer } from "./mesh.js";

/** @typedef {import("./signaling.js").SignalingClient} SignalingClient */
/** @typedef {import("./signaling.js").IceServer} IceServer */

/** The server's peer does not trickle, so neither do we: all candidates go in the offer. */
const GATHER_TIMEOUT_MS = 3000;

/**
 * Resolve once ICE gathering is complete, or after `timeout` ms with what there is.
 * @param {RTCPeerConnection} pc
 * @param {number} timeout
 */
function gathered(pc, timeout) {
  return new Promise((resolve) => {
    if (pc.iceGatheringState === "complete") {
      resolve(undefined);
      return;
    }
    const timer = setTimeout(done, timeout);
    function done() {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", check);
      resolve(undefined);
    }
    function check() {
      if (pc.iceGatheringState === "complete") done();
    }
    pc.addEventListener("icegatheringstatechange", check);
  });
}

export class SoundCheck extends EventTarget {
  /**
   * @param {SignalingClient} client
   * @param {{mediaDevices?: MediaDevices | undefined}} [options]
   */
  constructor(client, { mediaDevices = navigator.mediaDevices } = {}) {
    super();
    this.client = client;
    this.mediaDevices = mediaDevices;
    /** @type {"idle" | "starting" | "running"} */
    this.state = "idle";
    /** @type {RTCPeerConnection | null} */
    this.pc = null;
    /** @type {MediaStream | null} */
    this.stream = null;
    client.addEventListener(Events.ECHO, (event) => this.answer(/** @type {CustomEvent} */ (event).detail.sdp));
    client.addEventListener(Events.ECHO_STOP, () => this.finish());
    client.addEventListener(Events.SERVER_ERROR, (event) => {
      const { code } = /** @type {CustomEvent} */ (event).detail;
      if (this.state !== "idle" && ["unavailable", "bad-message", "rate-limited"].includes(code)) this.finish(code);
    });
    client.addEventListener(Events.SOCKET_STATE, () => {
      if (this.state === "running" && this.client.state !== "open") this.finish("connection");
    });
  }

  /**
   * Ask for the microphone and start the echo.
   * @param {() => IceServer[]} iceServers read once the socket is open (they come with hello)
   * @param {() => boolean} [relayOnly] privacy mode: the echo too goes through the TURN relay only,
   *   and without one there is no sound check ("privacy")
   */
  async start(iceServers, relayOnly = () => false) {
    if (this.state !== "idle") return;
    this.setState("starting");
    try {
      if (!this.mediaDevices || !(await this.opened(5000))) throw new Error("connection");
      const servers = iceServers();
      const relay = relayOnly();
      if (relay && !hasTurnServer(servers)) {
        this.finish("privacy");
        return;
      }
      this.stream = await this.mediaDevices.getUserMedia({ audio: { echoCancellation: true } });
      // stop() may have run while the microphone was being opened.
      if (/** @type {string} */ (this.state) !== "starting") {
        this.release();
        return;
      }
      const pc = this.connection(servers, relay);
      if (!pc) {
        this.finish("privacy");
        return;
      }
      this.pc = pc;
      for (const track of this.stream.getAudioTracks()) pc.addTrack(track, this.stream);
      pc.ontrack = ({ streams, track }) => {
        emit(this, Events.SOUND_CHECK_TRACK, { stream: streams[0] || new MediaStream([track]) });
      };
      await pc.setLocalDescription(await pc.createOffer());
      await gathered(pc, GATHER_TIMEOUT_MS);
      if (this.pc !== pc || !pc.localDescription) return;
      if (!this.client.echo(pc.localDescription.sdp)) throw new Error("connection");
    } catch (error) {
      const name = error instanceof Error || error instanceof DOMException ? error.name : "";
      this.finish(name === "NotAllowedError" ? "mic-denied" : "failed");
    }
  }

  /**
   * The echo's RTCPeerConnection; in privacy mode relay-only, and null if the browser refuses
   * the relay (never a direct connection instead).
   * @private
   * @param {IceServer[]} iceServers
   * @param {boolean} relay
   */
  connection(iceServers, relay) {
    try {
      return new RTCPeerConnection({ iceServers, iceTransportPolicy: relay ? "relay" : "all" });
    } catch (error) {
      if (relay) return null;
      throw error;
    }
  }

  /**
   * Wait until the signaling socket is open (it may just be connecting), up to `timeout` ms.
   * @private
   * @param {number} timeout
   */
  opened(timeout) {
    if (this.client.state === "open") return Promise.resolve(true);
    if (this.client.state === "closed") return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish(false), timeout);
      const onHello = () => finish(true);
      const finish = (/** @type {boolean} */ ok) => {
        clearTimeout(timer);
        this.client.removeEventListener(Events.HELLO, onHello);
        resolve(ok);
      };
      this.client.addEventListener(Events.HELLO, onHello);
    });
  }

  /** Stop the echo (and tell the server). */
  stop() {
    if (this.state === "idle") return;
    this.client.echoStop();
    this.finish();
  }

  /**
   * @private
   * @param {string} sdp
   */
  async answer(sdp) {
    if (!this.pc || this.state !== "starting") return;
    try {
      await this.pc.setRemoteDescription({ type: "answer", sdp });
      this.setState("running");
    } catch (error) {
      this.finish("failed");
    }
  }

  /**
   * Back to idle, releasing the connection and the microphone.
   * @private
   * @param {string} [error]
   */
  finish(error) {
    if (this.state === "idle") return;
    this.release();
    this.setState("idle", error);
  }

  /** @private */
  release() {
    if (this.pc) {
      this.pc.ontrack = null;
      this.pc.close();
      this.pc = null;
    }
    if (this.stream) {
      this.stream.getTracks().forEach((track) => track.stop());
      this.stream = null;
    }
  }

  /**
   * @private
   * @param {"idle" | "starting" | "running"} state
   * @param {string} [error]
   */
  setState(state, error) {
    this.state = state;
    emit(this, Events.SOUND_CHECK_STATE, { state, error });
  }

  /** The sound check connection's RTCStats as plain objects (for the tests' debug handle). */
  async getStats() {
    return this.pc ? [...(await this.pc.getStats()).values()] : [];
  }
}
