// @ts-check
/**
 * The call session: joins and leaves the call, owns the microphone stream, drives the mesh from
 * the roster, and rejoins by itself after the signaling socket reconnects. No DOM here: the UI
 * listens to its events and calls join(), leave() and setSelfMuted().
 */
import { Events, emit } from "./events.js";
import { PeerMesh, hasTurnServer } from "./mesh.js";
import { SignalingClient } from "./signaling.js";

/** @typedef {import("./signaling.js").RosterEntry} RosterEntry */
/** @typedef {import("./signaling.js").IceServer} IceServer */
/** @typedef {{id: string, name: string, self: boolean, reconnecting?: boolean}} Participant */
/** @typedef {"idle" | "connecting" | "live" | "reconnecting"} CallState */
/** @typedef {"offline" | "connecting" | "open" | "reconnecting" | "refused"} ConnectionState */

/** Refusals of our name: while joining they end the attempt with a message under the form. */
const NAME_ERRORS = new Set(["bad-name", "name-taken"]);

/** Signaling errors that only mean a peer left while a message to it was on its way. */
const BENIGN_ERRORS = new Set(["unknown-peer", "not-joined"]);

/** After our own reconnect the others trickle back with new ids: their comings are not news. */
const RECONNECT_QUIET_MS = 8000;

const MIC_CONSTRAINTS = { audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true } };

/**
 * Map a getUserMedia failure to one of our error codes.
 * @param {unknown} error
 */
export function micErrorCode(error) {
  const name = error instanceof Error || error instanceof DOMException ? error.name : "";
  if (name === "NotAllowedError" || name === "SecurityError") return "mic-denied";
  if (name === "NotFoundError" || name === "OverconstrainedError") return "mic-missing";
  if (name === "NotReadableError" || name === "AbortError") return "mic-busy";
  return "mic-failed";
}

export class CallSession extends EventTarget {
  /**
   * @param {string} url the /ws address
   * @param {{mediaDevices?: MediaDevices | undefined, secure?: boolean}} [options]
   */
  constructor(url, { mediaDevices = navigator.mediaDevices, secure = globalThis.isSecureContext } = {}) {
    super();
    this.client = new SignalingClient(url);
    this.mesh = new PeerMesh((signal) => this.client.send(signal));
    this.mediaDevices = mediaDevices;
    this.secure = secure;
    /** @type {CallState} */
    this.callState = "idle";
    /** @type {ConnectionState} */
    this.connection = "offline";
    /** The user wants to be in the call: the session rejoins after a reconnect while this holds. */
    this.wantCall = false;
    this.name = "";
    /** @type {MediaStream | null} */
    this.stream = null;
    this.selfMuted = false;
    /** An extra STUN URL from the settings, merged with the server's ICE servers. */
    this.stunUrl = "";
    /** Bumped by every join and leave, so a slow getUserMedia of an abandoned join is dropped. */
    this.attempt = 0;
    /** @type {Map<string, string>} the last roster we saw, id → name */
    this.known = new Map();
    /** False until the first roster of a connection: the people already there are not news. */
    this.baseline = false;
    /** No join/leave news before this time (performance.now()). */
    this.quietUntil = 0;
    /** @type {Set<string>} ids this tab has had (one per socket) */
    this.ownIds = new Set();
    this.wire();
  }

  /** @private */
  wire() {
    const client = this.client;
    client.addEventListener(Events.SOCKET_STATE, () => this.socketStateChanged());
    client.addEventListener(Events.HELLO, () => this.hello());
    client.addEventListener(Events.ROSTER, () => this.rosterChanged());
    client.addEventListener(Events.FULL, (event) => this.full(/** @type {CustomEvent} */ (event).detail.capacity));
    client.addEventListener(Events.SIGNAL, (event) => this.mesh.handle(/** @type {CustomEvent} */ (event).detail));
    client.addEventListener(Events.SERVER_ERROR, (event) => this.serverError(/** @type {CustomEvent} */ (event).detail));
    client.addEventListener(Events.UNAUTHORIZED, () => this.refused("unauthorized"));
    client.addEventListener(Events.BROWSER_ONLY, () => this.refused("browser-only"));
    client.addEventListener(Events.RECONNECTING, (event) => {
      this.setConnection("reconnecting", /** @type {CustomEvent} */ (event).detail.delay);
    });
  }

  /**
   * Open the lobby connection with this token (shows who is in the call before joining).
   * @param {string} token
   */
  connect(token) {
    if (this.client.token === token && this.client.state !== "closed") return;
    this.known = new Map();
    this.baseline = false;
    this.client.connect(token);
  }

  /**
   * Join the call: ask for the microphone, connect if needed, send our name.
   * @param {string} name
   * @param {string} token
   */
  async join(name, token) {
    if (this.callState !== "idle") return;
    const attempt = ++this.attempt;
    this.name = name;
    this.wantCall = true;
    this.setCallState("connecting");
    if (!this.mediaDevices || typeof this.mediaDevices.getUserMedia !== "function") {
      // Over plain http on a LAN address the browser hides mediaDevices altogether.
      this.abort(this.secure ? "mic-unsupported" : "insecure");
      return;
    }
    this.connect(token);
    if (this.client.state === "open" && this.client.roster.length >= this.client.capacity) {
      this.full(this.client.capacity);
      return;
    }
    // Already connected: refuse before asking for the microphone (else it is checked after hello).
    const problem = this.client.state === "open" ? this.privacyProblem() : "";
    if (problem) {
      this.abort(problem);
      return;
    }
    let stream;
    try {
      stream = await this.mediaDevices.getUserMedia(MIC_CONSTRAINTS);
    } catch (error) {
      if (attempt === this.attempt) this.abort(micErrorCode(error));
      return;
    }
    if (attempt !== this.attempt || !this.wantCall) {
      stream.getTracks().forEach((track) => track.stop());
      return;
    }
    this.stream = stream;
    this.applySelfMute();
    emit(this, Events.LOCAL_STREAM, { stream });
    if (this.client.state === "open") this.sendName();
  }

  /**
   * Why privacy mode cannot keep our address from the others with the ICE servers we have, or "":
   * it fails closed, so without a relay that the browser accepts there is no call at all.
   */
  privacyProblem() {
    if (!this.mesh.relayOnly) return "";
    const iceServers = this.iceServers();
    if (!hasTurnServer(iceServers)) return "privacy-no-turn";
    try {
      new RTCPeerConnection({ iceServers, iceTransportPolicy: "relay" }).close();
    } catch (error) {
      return "privacy-ice-refused";
    }
    return "";
  }

  /**
   * Step into the call (send our name), unless privacy mode could not be kept.
   * @private
   */
  sendName() {
    const problem = this.privacyProblem();
    if (problem) this.abort(problem);
    else this.client.join(this.name);
  }

  /** Leave the call: stop the microphone, close every peer connection, back to the lobby. */
  leave() {
    const wasJoined = this.joined;
    this.attempt += 1;
    this.wantCall = false;
    this.mesh.close();
    if (wasJoined) this.client.leave();
    this.releaseStream();
    this.selfMuted = false;
    this.setCallState("idle");
    this.emitParticipants();
  }

  /** Try to join again with the same name (after "the room is full"). */
  retry() {
    if (this.callState === "idle" && this.name) this.join(this.name, this.client.token);
  }

  /** @param {boolean} muted */
  setSelfMuted(muted) {
    this.selfMuted = muted;
    this.applySelfMute();
    emit(this, Events.SELF_MUTED, { muted });
  }

  /** True when the server lists us as a participant. */
  get joined() {
    return Boolean(this.client.id) && this.client.roster.some((entry) => entry.id === this.client.id);
  }

  /** @returns {IceServer[]} the server's ICE servers plus the STUN URL from the settings */
  iceServers() {
    const servers = [...this.client.iceServers];
    const listed = servers.flatMap((server) => (Array.isArray(server.urls) ? server.urls : [server.urls]));
    if (this.stunUrl && !listed.includes(this.stunUrl)) servers.push({ urls: this.stunUrl });
    return servers;
  }

  /** @private */
  applySelfMute() {
    if (!this.stream) return;
    for (const track of this.stream.getAudioTracks()) track.enabled = !this.selfMuted;
  }

  /** @private */
  releaseStream() {
    if (this.stream) {
      this.stream.getTracks().forEach((track) => track.stop());
      this.stream = null;
      emit(this, Events.LOCAL_STREAM, { stream: null });
    }
  }

  /**
   * Give up joining with a reason the UI explains.
   * @private
   * @param {string} code
   * @param {Record<string, unknown>} [extra]
   */
  abort(code, extra = {}) {
    this.attempt += 1;
    this.wantCall = false;
    this.mesh.close();
    this.releaseStream();
    this.setCallState("idle");
    emit(this, Events.CALL_ERROR, { code, ...extra });
  }

  /** @private */
  socketStateChanged() {
    const state = this.client.state;
    if (state === "reconnecting" && (this.callState === "live" || this.callState === "connecting")) {
      // The peer connections stay up: audio goes browser to browser and may well still flow.
      // If the server lets us resume (same id), they simply carry on; if not, hello rebuilds them.
      if (this.stream) this.setCallState("reconnecting");
    }
    if (state === "connecting") this.setConnection("connecting");
    else if (state === "open") this.setConnection("open");
    else if (state === "closed" && this.connection !== "refused") this.setConnection("offline");
  }

  /** @private */
  hello() {
    if (!this.client.resumed) {
      // A new id (server restart, or gone longer than the grace period): every link is rebuilt.
      this.mesh.close();
      if (this.baseline) this.quietUntil = performance.now() + RECONNECT_QUIET_MS;
    } else {
      // Same id, same links: the resumed hello carries freshly minted TURN credentials for them.
      this.mesh.updateIceServers(this.iceServers());
    }
    this.ownIds.add(this.client.id);
    this.rosterChanged();
    if (this.wantCall && this.stream && !this.joined) this.sendName();
  }

  /** @private */
  rosterChanged() {
    const roster = this.client.roster;
    const selfId = this.client.id;
    const seen = new Map(roster.map((entry) => [entry.id, entry.name]));
    if (this.baseline && performance.now() >= this.quietUntil) {
      this.announce(this.known, seen);
      this.announceRenames(this.known, seen);
    }
    this.known = seen;
    this.baseline = true;
    if (!this.wantCall && seen.has(selfId)) {
      // We left (or gave up) while our name was on its way: step out again.
      this.client.leave();
    }
    if (this.wantCall && this.stream && seen.has(selfId)) {
      if (this.mesh.selfId !== selfId) {
        this.mesh.start({ selfId, iceServers: this.iceServers(), stream: this.stream });
      }
      this.setCallState("live");
      this.mesh.sync(roster.map((entry) => entry.id));
    }
    this.emitParticipants();
  }

  /**
   * Tell who came and who went, by name: a person who reconnects gets a new id but is no news.
   * @private
   * @param {Map<string, string>} before id → name
   * @param {Map<string, string>} after id → name
   */
  announce(before, after) {
    const count = (/** @type {Map<string, string>} */ roster) => {
      /** @type {Map<string, string[]>} name → ids */
      const byName = new Map();
      for (const [id, name] of roster) {
        if (!this.ownIds.has(id)) byName.set(name, [...(byName.get(name) || []), id]);
      }
      return byName;
    };
    const was = count(before);
    const now = count(after);
    for (const [name, ids] of now) {
      const fresh = ids.filter((id) => !before.has(id)).slice(0, Math.max(0, ids.length - (was.get(name)?.length || 0)));
      for (const id of fresh) emit(this, Events.PARTICIPANT_JOINED, { id, name, self: false });
    }
    for (const [name, ids] of was) {
      const gone = ids.filter((id) => !after.has(id)).slice(0, Math.max(0, ids.length - (now.get(name)?.length || 0)));
      for (const id of gone) emit(this, Events.PARTICIPANT_LEFT, { id, name, self: false });
    }
  }

  /**
   * Tell who took another name: the same id with a new name (someone could otherwise become
   * "Alice" unnoticed).
   * @private
   * @param {Map<string, string>} before id → name
   * @param {Map<string, string>} after id → name
   */
  announceRenames(before, after) {
    for (const [id, name] of after) {
      const previous = before.get(id);
      if (previous !== undefined && previous !== name && !this.ownIds.has(id)) {
        emit(this, Events.PARTICIPANT_RENAMED, { id, name, previous });
      }
    }
  }

  /** @private */
  emitParticipants() {
    const selfId = this.client.id;
    /** @type {Participant[]} */
    const participants = this.client.roster.map((entry) => ({ ...entry, self: entry.id === selfId }));
    emit(this, Events.PARTICIPANTS, {
      participants, capacity: this.client.capacity, selfId, joined: this.joined,
    });
  }

  /**
   * @private
   * @param {number} capacity
   */
  full(capacity) {
    if (this.callState === "idle") return;
    this.abort("full", { capacity });
  }

  /**
   * @private
   * @param {import("./signaling.js").ErrorMessage} error
   */
  serverError(error) {
    if (BENIGN_ERRORS.has(error.code)) return;
    if (NAME_ERRORS.has(error.code) && this.callState === "connecting") {
      this.abort(error.code, { message: error.message });
      return;
    }
    emit(this, Events.CALL_ERROR, { code: error.code, message: error.message, id: error.id });
  }

  /**
   * @private
   * @param {"unauthorized" | "browser-only"} code
   */
  refused(code) {
    this.setConnection("refused");
    this.known = new Map();
    this.baseline = false;
    this.emitParticipants();
    this.abort(code);
  }

  /**
   * @private
   * @param {CallState} state
   */
  setCallState(state) {
    if (state === this.callState) return;
    this.callState = state;
    emit(this, Events.CALL_STATE, { state });
  }

  /**
   * @private
   * @param {ConnectionState} state
   * @param {number} [delay]
   */
  setConnection(state, delay) {
    if (state === this.connection && delay === undefined) return;
    this.connection = state;
    emit(this, Events.CONNECTION, { state, delay });
  }
}
