// @ts-check
/**
 * How each link is connected (direct, through a STUN-discovered address, or relayed) and which
 * links cannot connect at all. It reads the mesh's link states and each connected link's selected
 * candidate pair from getStats(); it never touches the DOM and never negotiates anything.
 */
import { Events, emit } from "./events.js";
import { hasTurnServer } from "./mesh.js";

/** @typedef {"direct" | "stun" | "relay"} PathKind */
/**
 * What the UI shows for one link. `unreachable`: the link failed before it ever connected (the
 * networks block it); the mesh keeps retrying, and this clears when it connects.
 * @typedef {{id: string, path: PathKind | "", relayProtocol: string, unreachable: boolean, turn: boolean}} PathInfo
 */
/** @typedef {{candidateType?: string, relayProtocol?: string, address?: string}} CandidateStat */

/**
 * A link that has tried this long without ever connecting cannot connect. Chromium gives up on
 * ICE after about 15 s, but only on the side whose checks time out first: that side restarts ICE
 * at once, and the other side, restarted along, never sees "failed" at all.
 */
const UNREACHABLE_AFTER_MS = 15000;

/** Right after "connected", Chromium may not have filled in the selected pair yet: try again. */
const READ_RETRY_MS = 500;

/** While connected, read the pair again this often: ICE may switch pairs (Firefox has no event). */
const REFRESH_MS = 10000;

/**
 * Classify a selected candidate pair. Relayed when either end is a TURN relay; through an address
 * found by STUN when either end is server-reflexive (asked of the STUN server) or peer-reflexive
 * (seen in the other side's connectivity checks, which are STUN too); direct otherwise.
 * @param {CandidateStat} local
 * @param {CandidateStat} remote
 * @returns {PathKind}
 */
export function classifyPair(local, remote) {
  const types = [local.candidateType, remote.candidateType];
  if (types.includes("relay")) return "relay";
  if (types.includes("srflx")) return "stun";
  // A peer-reflexive end is usually a NAT's mapping, but on one machine (a loopback local end) it
  // is only a trickle race: the check arrived before the candidate. Chromium hides the address of
  // a remote peer-reflexive candidate, so the local end decides then.
  if (types.includes("prflx") && !isLoopback(local.address)) return "stun";
  return "direct";
}

/**
 * A loopback address (127.0.0.0/8 or ::1).
 * @param {string | undefined} address
 */
function isLoopback(address) {
  return Boolean(address) && (/^127\./.test(address || "") || address === "::1");
}

/**
 * The selected candidate pair's two ends in a list of RTCStats (plain objects), or null.
 * @param {Array<Record<string, any>>} stats
 * @returns {{local: CandidateStat, remote: CandidateStat} | null}
 */
export function selectedPair(stats) {
  const byId = new Map(stats.map((stat) => [stat.id, stat]));
  const transport = stats.find((stat) => stat.type === "transport" && stat.selectedCandidatePairId);
  // Firefox has no transport stats; its selected pair says so itself.
  const pair = transport ? byId.get(transport.selectedCandidatePairId)
    : stats.find((stat) => stat.type === "candidate-pair" && stat.selected);
  const local = pair && byId.get(pair.localCandidateId);
  const remote = pair && byId.get(pair.remoteCandidateId);
  return local && remote ? { local, remote } : null;
}

/**
 * The path of one link from its stats: its kind, and for a relay how we reach the relay.
 * @param {Array<Record<string, any>>} stats
 * @returns {{path: PathKind, relayProtocol: string} | null}
 */
export function pathFromStats(stats) {
  const pair = selectedPair(stats);
  if (!pair) return null;
  const path = classifyPair(pair.local, pair.remote);
  const relayProtocol = path === "relay" && pair.local.candidateType === "relay" ? pair.local.relayProtocol || "" : "";
  return { path, relayProtocol };
}

export class PathWatcher extends EventTarget {
  /**
   * @param {import("./mesh.js").PeerMesh} mesh
   * @param {{unreachableAfter?: number}} [options] ms without ever connecting before giving up
   */
  constructor(mesh, { unreachableAfter = UNREACHABLE_AFTER_MS } = {}) {
    super();
    this.mesh = mesh;
    this.unreachableAfter = unreachableAfter;
    /**
     * @type {Map<string, PathInfo & {everConnected: boolean, reads: number,
     *   timer: ReturnType<typeof setTimeout> | undefined}>}
     */
    this.links = new Map();
    /** @type {WeakSet<RTCIceTransport>} transports whose pair changes we already follow */
    this.followed = new WeakSet();
    mesh.addEventListener(Events.PEER_STATE, (event) => {
      const { id, state } = /** @type {CustomEvent} */ (event).detail;
      this.stateChanged(id, state);
    });
    mesh.addEventListener(Events.PEER_CLOSED, (event) => this.forget(/** @type {CustomEvent} */ (event).detail.id));
  }

  /** True when the mesh has a TURN relay to fall back on. */
  get turn() {
    return hasTurnServer(this.mesh.iceServers);
  }

  /**
   * @param {string} id
   * @returns {PathInfo}
   */
  view(id) {
    const link = this.links.get(id);
    return {
      id, path: link ? link.path : "", relayProtocol: link ? link.relayProtocol : "",
      unreachable: Boolean(link && link.unreachable), turn: this.turn,
    };
  }

  /**
   * @private
   * @param {string} id
   * @param {string} state an RTCPeerConnectionState, or the mesh's "restarting" / "rebuilding"
   */
  stateChanged(id, state) {
    let link = this.links.get(id);
    if (!link) {
      link = { ...this.view(id), everConnected: false, reads: 0, timer: undefined };
      this.links.set(id, link);
    }
    if (state === "connected") {
      clearTimeout(link.timer);
      link.everConnected = true;
      link.unreachable = false;
      link.reads += 1;
      this.read(id, link.reads);
      this.follow(id);
    } else {
      link.reads += 1;
      link.path = "";
      link.relayProtocol = "";
      // A link that worked and then broke is a network hiccup, not networks that block each other.
      if (state === "failed" && !link.everConnected) link.unreachable = true;
      if (!link.everConnected && link.timer === undefined) {
        link.timer = setTimeout(() => this.giveUp(id), this.unreachableAfter);
      }
    }
    this.changed(id);
  }

  /**
   * @private
   * @param {string} id
   */
  giveUp(id) {
    const link = this.links.get(id);
    if (!link || link.everConnected || link.unreachable) return;
    link.unreachable = true;
    this.changed(id);
  }

  /**
   * Read the selected pair while the link stays connected: soon again if there is none yet, then
   * now and then. Each state change bumps `reads`, which ends the reads of the state before.
   * @private
   * @param {string} id
   * @param {number} reads
   */
  async read(id, reads) {
    let stats = [];
    try {
      stats = await this.mesh.getStats(id);
    } catch {
      // Read again on the next round.
    }
    const link = this.links.get(id);
    if (!link || link.reads !== reads || this.mesh.connectionState(id) !== "connected") return;
    const found = pathFromStats(stats);
    setTimeout(() => this.read(id, reads), found ? REFRESH_MS : READ_RETRY_MS);
    if (!found || (found.path === link.path && found.relayProtocol === link.relayProtocol)) return;
    link.path = found.path;
    link.relayProtocol = found.relayProtocol;
    this.changed(id);
  }

  /**
   * Where the browser has RTCIceTransport events (Chromium), read again when ICE switches pairs.
   * @private
   * @param {string} id
   */
  follow(id) {
    const pc = this.mesh.connection(id);
    const transport = pc && pc.getSenders().map((sender) => sender.transport).find(Boolean);
    const ice = transport && transport.iceTransport;
    if (!ice || this.followed.has(ice) || !("onselectedcandidatepairchange" in ice)) return;
    this.followed.add(ice);
    ice.addEventListener("selectedcandidatepairchange", () => {
      const link = this.links.get(id);
      if (link && this.mesh.connection(id) === pc) {
        link.reads += 1;
        this.read(id, link.reads);
      }
    });
  }

  /**
   * @private
   * @param {string} id
   */
  forget(id) {
    const link = this.links.get(id);
    if (!link) return;
    clearTimeout(link.timer);
    this.links.delete(id);
    emit(this, Events.PEER_PATH, { ...this.view(id) });
  }

  /**
   * @private
   * @param {string} id
   */
  changed(id) {
    emit(this, Events.PEER_PATH, this.view(id));
  }
}
