// @ts-check
/**
 * The full mesh: one RTCPeerConnection per remote participant, negotiated with the
 * "perfect negotiation" pattern so that two sides offering at once still connect.
 * It never touches the DOM and never opens a socket: outgoing signals go to `send`.
 */
import { Events, emit } from "./events.js";
import { tuneConnection, tuneDescription } from "./voice-tuning.js";

/** @typedef {import("./signaling.js").IceServer} IceServer */
/** @typedef {import("./signaling.js").DescriptionMessage} DescriptionMessage */
/** @typedef {import("./signaling.js").IceMessage} IceMessage */
/**
 * @typedef {{type: "offer" | "answer", to: string, sdp: string}
 *   | {type: "ice", to: string, candidate: RTCIceCandidateInit | null}} OutgoingSignal
 */

/** How long the earlier participant waits for the newcomer's offer before offering itself. */
const OFFER_GRACE_MS = 4000;

/** "disconnected" often heals by itself (a Wi-Fi hiccup): wait this long before an ICE restart. */
const DISCONNECTED_GRACE_MS = 4000;

/** After this many ICE restarts that did not reach "connected", the connection is rebuilt. */
const MAX_ICE_RESTARTS = 3;

/**
 * After this many offers from one peer that could not be applied (since its link was last
 * connected), the peer's connection counts as broken: no more rebuilds for it, until it connects.
 */
const MAX_BAD_OFFERS = 3;

/** A rebuild for a bad offer waits this long times 2^(bad offers so far - 1); the first is at once. */
const REBUILD_BACKOFF_MS = 1000;

/**
 * True when some ICE server is a TURN relay, so relay-only (privacy) mode can work at all.
 * @param {IceServer[]} servers
 */
export function hasTurnServer(servers) {
  return servers.some((server) => (Array.isArray(server.urls) ? server.urls : [server.urls])
    .some((url) => /^turns?:/i.test(url)));
}

/**
 * True for a candidate on a link-local address (169.254.0.0/16, fe80::/10): such an address
 * only works on one network segment and often stalls ICE. mDNS (.local) and LAN ones are kept.
 * @param {string | undefined} candidate the `candidate:…` line
 */
export function isLinkLocalCandidate(candidate) {
  if (!candidate) return false;
  const fields = candidate.replace(/^a=/, "").split(/\s+/);
  const address = (fields[4] || "").toLowerCase();
  if (/^169\.254\.\d{1,3}\.\d{1,3}$/.test(address)) return true;
  return /^fe[89ab][0-9a-f]:/.test(address);
}

/** One RTCPeerConnection to one participant, with its perfect-negotiation state. */
class PeerLink {
  /**
   * @param {PeerMesh} mesh
   * @param {string} id the remote participant's id
   * @param {boolean} polite the polite side gives way when both offer at once
   */
  constructor(mesh, id, polite) {
    this.mesh = mesh;
    this.id = id;
    this.polite = polite;
    this.pc = mesh.createConnection();
    this.makingOffer = false;
    this.ignoreOffer = false;
    this.settingRemoteAnswer = false;
    this.trackAdded = false;
    this.closed = false;
    /** @type {RTCIceCandidateInit[]} candidates that came before the remote description */
    this.pendingCandidates = [];
    /** @type {(DescriptionMessage | IceMessage)[]} incoming signals, handled one at a time, in order */
    this.inbox = [];
    this.draining = false;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.graceTimer = undefined;
    /** @type {RTCPeerConnectionState} */
    this.state = "new";
    /** ICE restarts since the link was last connected. */
    this.restarts = 0;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.disconnectTimer = undefined;
    /** A remote description was applied: this connection has state that a new offer may clash with. */
    this.applied = false;
    /** @type {string | undefined} the offer this link was made for, by a rebuild */
    this.forOffer = undefined;

    const pc = this.pc;
    pc.onnegotiationneeded = () => this.negotiate();
    pc.onicecandidate = ({ candidate }) => {
      if (this.closed) return;
      if (candidate && (!candidate.candidate || isLinkLocalCandidate(candidate.candidate))) return;
      mesh.send({ type: "ice", to: id, candidate: candidate ? candidate.toJSON() : null });
    };
    pc.ontrack = ({ track, streams }) => {
      const stream = streams[0] || new MediaStream([track]);
      emit(mesh, Events.PEER_TRACK, { id, stream });
    };
    pc.onconnectionstatechange = () => {
      if (this.closed) return;
      this.state = pc.connectionState;
      if (this.state === "connected") mesh.forgiveBadOffers(id);
      emit(mesh, Events.PEER_STATE, { id, state: mesh.isBroken(id) ? "broken" : this.state });
      this.recover();
    };
  }

  /**
   * ICE recovery: restart at once on "failed", after a grace period on "disconnected", and
   * rebuild the whole connection after MAX_ICE_RESTARTS restarts that did not help. Both sides
   * may restart at once; perfect negotiation sorts out the two offers.
   * @private
   */
  recover() {
    clearTimeout(this.disconnectTimer);
    this.disconnectTimer = undefined;
    if (this.state === "connected") {
      this.restarts = 0;
    } else if (this.state === "failed") {
      this.restartIce();
    } else if (this.state === "disconnected") {
      this.disconnectTimer = setTimeout(() => {
        if (!this.closed && this.pc.connectionState === "disconnected") this.restartIce();
      }, this.mesh.timing.disconnectedGraceMs);
    }
  }

  /** @private */
  restartIce() {
    if (this.restarts >= MAX_ICE_RESTARTS) {
      this.mesh.rebuild(this.id);
      return;
    }
    this.restarts += 1;
    emit(this.mesh, Events.PEER_STATE, { id: this.id, state: "restarting", restarts: this.restarts });
    this.pc.restartIce();
  }

  /** Add the local microphone track once; this starts (or completes) a negotiation. */
  addLocalTrack() {
    if (this.trackAdded || this.closed || !this.mesh.stream) return;
    this.trackAdded = true;
    clearTimeout(this.graceTimer);
    for (const track of this.mesh.stream.getAudioTracks()) this.pc.addTrack(track, this.mesh.stream);
    tuneConnection(this.pc);
  }

  /** The newcomer calls: adding the track fires negotiationneeded, which sends the offer. */
  call() {
    this.addLocalTrack();
  }

  /** The earlier participant waits for the newcomer's offer, and offers itself if none comes. */
  expect() {
    this.graceTimer = setTimeout(() => {
      if (!this.pc.remoteDescription) this.addLocalTrack();
    }, this.mesh.timing.offerGraceMs);
  }

  /** @private */
  async negotiate() {
    if (this.closed) return;
    try {
      this.makingOffer = true;
      await this.pc.setLocalDescription();
      const description = this.pc.localDescription;
      if (description && !this.closed) this.mesh.send({ type: "offer", to: this.id, sdp: description.sdp });
    } catch (error) {
      this.mesh.warn(this.id, "could not make an offer", error);
    } finally {
      this.makingOffer = false;
    }
  }

  /** @param {DescriptionMessage | IceMessage} message */
  handle(message) {
    this.inbox.push(message);
    this.drain();
  }

  /** @private */
  async drain() {
    if (this.draining) return;
    this.draining = true;
    while (this.inbox.length && !this.closed) {
      const message = /** @type {DescriptionMessage | IceMessage} */ (this.inbox.shift());
      // A call on a connection that gets closed meanwhile may never settle: close() hands the
      // messages still waiting to the next link instead.
      await (message.type === "ice" ? this.addCandidate(message.candidate)
        : this.setRemote({ type: message.type, sdp: message.sdp }));
    }
    this.draining = false;
  }

  /**
   * @private
   * @param {RTCSessionDescriptionInit} description
   */
  async setRemote(description) {
    if (this.closed) return;
    const pc = this.pc;
    const readyForOffer = !this.makingOffer && (pc.signalingState === "stable" || this.settingRemoteAnswer);
    const collision = description.type === "offer" && !readyForOffer;
    this.ignoreOffer = !this.polite && collision;
    if (this.ignoreOffer) return;
    try {
      this.settingRemoteAnswer = description.type === "answer";
      await pc.setRemoteDescription(tuneDescription(description));
      this.settingRemoteAnswer = false;
      this.applied = true;
      // The verification codes check the certificate it announces before anything else happens.
      emit(this.mesh, Events.PEER_DESCRIPTION, { id: this.id, type: description.type });
      if (description.type === "offer") {
        // The answerer's track rides in the answer: addTrack reuses the offered transceiver.
        this.addLocalTrack();
        await pc.setLocalDescription();
        const answer = pc.localDescription;
        if (answer && !this.closed) this.mesh.send({ type: "answer", to: this.id, sdp: answer.sdp });
      }
      await this.flushCandidates();
    } catch (error) {
      this.settingRemoteAnswer = false;
      this.mesh.warn(this.id, `could not apply the ${description.type}`, error);
      if (description.type === "offer" && !this.closed) this.mesh.badOffer(this, description);
    }
  }

  /**
   * @private
   * @param {RTCIceCandidateInit | null} candidate
   */
  async addCandidate(candidate) {
    if (this.closed || !candidate || !candidate.candidate) return;
    if (isLinkLocalCandidate(candidate.candidate)) return;
    if (!this.pc.remoteDescription) {
      this.pendingCandidates.push(candidate);
      return;
    }
    try {
      await this.pc.addIceCandidate(candidate);
    } catch (error) {
      if (!this.ignoreOffer) this.mesh.warn(this.id, "could not add a candidate", error);
    }
  }

  /** @private */
  async flushCandidates() {
    const pending = this.pendingCandidates.splice(0);
    for (const candidate of pending) await this.addCandidate(candidate);
  }

  /** @returns {(DescriptionMessage | IceMessage)[]} the signals that were still waiting */
  close() {
    if (this.closed) return [];
    this.closed = true;
    clearTimeout(this.graceTimer);
    clearTimeout(this.disconnectTimer);
    const pc = this.pc;
    pc.onnegotiationneeded = pc.onicecandidate = pc.ontrack = pc.onconnectionstatechange = null;
    pc.close();
    return this.inbox.splice(0);
  }
}

/**
 * @typedef {object} MeshTiming
 * @property {number} offerGraceMs how long an expected offer may take before we call ourselves
 * @property {number} disconnectedGraceMs how long "disconnected" may last before an ICE restart
 * @property {number} rebuildBackoffMs the base of the back-off between rebuilds for bad offers
 */

export class PeerMesh extends EventTarget {
  /**
   * @param {(signal: OutgoingSignal) => void} send delivers a signal to the server
   * @param {{connect?: (config: RTCConfiguration) => RTCPeerConnection, timing?: Partial<MeshTiming>}} [options]
   *   connect makes each connection (a stand-in in tests); timing shortens the waits (tests)
   */
  constructor(send, { connect = (config) => new RTCPeerConnection(config), timing = {} } = {}) {
    super();
    this.send = send;
    this.connect = connect;
    /** @type {MeshTiming} */
    this.timing = { offerGraceMs: OFFER_GRACE_MS, disconnectedGraceMs: DISCONNECTED_GRACE_MS,
      rebuildBackoffMs: REBUILD_BACKOFF_MS, ...timing };
    this.selfId = "";
    /** @type {IceServer[]} */
    this.iceServers = [];
    /** @type {MediaStream | null} */
    this.stream = null;
    /** @type {Map<string, PeerLink>} */
    this.links = new Map();
    /**
     * Per peer, the offers of it that could not be applied since its link was last connected.
     * @type {Map<string, {badOffers: number, timer?: ReturnType<typeof setTimeout>}>}
     */
    this.troubles = new Map();
    /** Privacy mode: send everything through the TURN relay, so peers never learn our address. */
    this.relayOnly = false;
  }

  /**
   * Begin a call: which id is ours, which ICE servers to use, which microphone stream to send.
   * @param {{selfId: string, iceServers: IceServer[], stream: MediaStream}} options
   */
  start({ selfId, iceServers, stream }) {
    this.close();
    this.selfId = selfId;
    this.iceServers = iceServers;
    this.stream = stream;
  }

  /**
   * Fresh ICE servers (a resumed hello brings newly minted TURN credentials): links made from now
   * on get them, and open links keep their media but use them from their next ICE restart on.
   * @param {IceServer[]} iceServers
   */
  updateIceServers(iceServers) {
    this.iceServers = iceServers;
    for (const link of this.links.values()) {
      try {
        link.pc.setConfiguration({ ...link.pc.getConfiguration(), iceServers });
      } catch (error) {
        this.warn(link.id, "could not take the new ICE servers", error);
      }
    }
  }

  /**
   * Bring the links in line with the roster (participants in join order). The one who joined
   * later calls the one who joined earlier, so the usual case has one offer per pair.
   * @param {string[]} ids
   */
  sync(ids) {
    if (!this.selfId || !this.stream) return;
    const selfIndex = ids.indexOf(this.selfId);
    for (const [id] of this.links) {
      if (!ids.includes(id)) this.remove(id);
    }
    if (selfIndex < 0) return;
    ids.forEach((id, index) => {
      if (id === this.selfId || this.links.has(id)) return;
      const link = this.link(id);
      if (index < selfIndex) link.call();
      else link.expect();
    });
  }

  /**
   * An offer, answer or candidate relayed from a participant.
   * @param {DescriptionMessage | IceMessage} message
   */
  handle(message) {
    if (!this.selfId || !this.stream || message.from === this.selfId) return;
    const link = this.links.get(message.from) || (message.type === "offer" ? this.link(message.from) : null);
    if (link) link.handle(message);
  }

  /**
   * A new RTCPeerConnection. If the ICE servers are refused, one without them still works on a
   * LAN; but privacy mode fails closed: relay-only always, and with no relay, no connection at all.
   */
  createConnection() {
    /** @type {RTCIceTransportPolicy} */
    const iceTransportPolicy = this.relayOnly ? "relay" : "all";
    try {
      return this.connect({ iceServers: this.iceServers, bundlePolicy: "max-bundle", iceTransportPolicy });
    } catch (error) {
      this.warn("-", "ICE servers refused, going on without them", error);
      return this.connect({ bundlePolicy: "max-bundle", iceTransportPolicy });
    }
  }

  /**
   * @private
   * @param {string} id
   */
  link(id) {
    const link = new PeerLink(this, id, this.selfId > id);
    this.links.set(id, link);
    return link;
  }

  /**
   * An offer that a link could not apply. If the link had a remote description, the other side
   * may have rebuilt its connection (a new certificate): a fresh connection gets the offer, at
   * most once per offer, with backoff. A fresh connection that cannot take it either, or a link
   * that never had one, has nothing to rebuild. After MAX_BAD_OFFERS the peer's connection is
   * broken: its row says so, and nothing is rebuilt for it until a link to it connects.
   * @param {PeerLink} link
   * @param {RTCSessionDescriptionInit} offer
   */
  badOffer(link, offer) {
    if (link.forOffer === offer.sdp) return;
    const trouble = this.troubles.get(link.id) || { badOffers: 0 };
    this.troubles.set(link.id, trouble);
    trouble.badOffers += 1;
    if (this.isBroken(link.id)) {
      clearTimeout(trouble.timer);
      trouble.timer = undefined;
      emit(this, Events.PEER_STATE, { id: link.id, state: "broken" });
      return;
    }
    if (!link.applied || trouble.timer !== undefined) return;
    const delay = trouble.badOffers > 1 ? this.timing.rebuildBackoffMs * 2 ** (trouble.badOffers - 2) : 0;
    trouble.timer = setTimeout(() => {
      trouble.timer = undefined;
      if (this.links.get(link.id) === link) this.rebuild(link.id, offer);
    }, delay);
  }

  /**
   * A link to this peer works (or it left): its bad offers no longer count, no rebuild is pending.
   * @param {string} id
   */
  forgiveBadOffers(id) {
    clearTimeout(this.troubles.get(id)?.timer);
    this.troubles.delete(id);
  }

  /**
   * True when a peer sent too many offers that could not be applied (see badOffer).
   * @param {string} id
   */
  isBroken(id) {
    return (this.troubles.get(id)?.badOffers || 0) >= MAX_BAD_OFFERS;
  }

  /**
   * Replace one link with a fresh RTCPeerConnection (new ICE, new DTLS) and negotiate again.
   * With `offer`, the other side already rebuilt: the fresh connection answers that offer.
   * @param {string} id
   * @param {RTCSessionDescriptionInit} [offer]
   */
  rebuild(id, offer) {
    const old = this.links.get(id);
    if (!old || !this.stream) return;
    const waiting = old.close();
    const link = new PeerLink(this, id, old.polite);
    this.links.set(id, link);
    emit(this, Events.PEER_STATE, { id, state: this.isBroken(id) ? "broken" : "rebuilding" });
    if (offer && offer.sdp) {
      // What came after that offer belongs to the new connection too.
      link.forOffer = offer.sdp;
      link.handle({ type: "offer", from: id, to: this.selfId, sdp: offer.sdp });
      for (const message of waiting) link.handle(message);
    } else {
      link.call();
    }
  }

  /** @param {string} id */
  remove(id) {
    this.forgiveBadOffers(id);
    const link = this.links.get(id);
    if (!link) return;
    link.close();
    this.links.delete(id);
    emit(this, Events.PEER_CLOSED, { id });
  }

  /** Close every link (the local stream belongs to the caller and is left alone). */
  close() {
    for (const id of [...this.links.keys()]) this.remove(id);
    this.selfId = "";
    this.stream = null;
  }

  /** @returns {string[]} */
  peerIds() {
    return [...this.links.keys()];
  }

  /** @param {string} id */
  connectionState(id) {
    const link = this.links.get(id);
    return link ? link.pc.connectionState : "closed";
  }

  /**
   * One link's RTCPeerConnection, or null: the verification codes (js/verify.js) read its DTLS
   * certificates. Read-only use; the mesh alone negotiates it.
   * @param {string} id
   */
  connection(id) {
    const link = this.links.get(id);
    return link ? link.pc : null;
  }

  /**
   * One link's RTCConfiguration (for the tests' debug handle), or null.
   * @param {string} id
   */
  configuration(id) {
    const link = this.links.get(id);
    return link ? link.pc.getConfiguration() : null;
  }

  /**
   * The RTCStats of one link as plain objects (for the tests' debug handle).
   * @param {string} id
   */
  async getStats(id) {
    const link = this.links.get(id);
    if (!link) return [];
    const report = await link.pc.getStats();
    return [...report.values()];
  }

  /**
   * @param {string} id
   * @param {string} what
   * @param {unknown} error
   */
  warn(id, what, error) {
    console.warn(`peer ${id}: ${what}:`, error instanceof Error ? error.message : error);
  }
}
