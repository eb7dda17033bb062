// @ts-check
/**
 * Verification codes, like Signal's safety numbers or ZRTP's short authentication strings.
 * Each side reads the two DTLS certificate fingerprints that its connection really uses, and
 * hashes them in a fixed order, so both ends of an honest connection get the same code. A man in
 * the middle must terminate DTLS on each side with his own certificate, so the codes differ.
 *
 * A man in the middle who could choose his certificates after seeing both browsers' fingerprints
 * could search for a pair that gives both sides the same short code. So the code also covers two
 * random nonces, exchanged commit-then-reveal once the connection is up (its certificates fixed):
 * each side sends SHA-256 of its nonce, and reveals the nonce only after it has the other's
 * commitment. Whoever sits in the middle must commit to his nonces before learning ours, so each
 * side's code is random to him: one chance in 2^24 per call to get matching codes.
 *
 * `Verifier` keeps, for this call only, each link's code and whether the person marked it as
 * compared. It reads the mesh's stats and never touches the DOM.
 */
import { Events, emit } from "./events.js";
import { fingerprintOfDer, fingerprintOfSdp, fingerprintsOf, sha256Hex, verificationCode } from "./verify-code.js";

/** Chromium may report the remote certificate a moment after "connected": how often to look again. */
const RETRY_MS = 250;
const RETRIES = 20;
/** How often a connected link's certificates are read again: Chromium may re-key a connection with no event. */
const CHECK_MS = 1000;
/** A connected link with no completed code after this long: someone may be blocking the exchange. */
const STALL_MS = 10_000;

/**
 * @typedef {"pending" | "unverified" | "verified" | "changed" | "mismatch"} VerifyStatus
 *   pending: no code yet; changed: the certificates are not the ones the code (maybe verified)
 *   was made from, or not the ones the person verified; mismatch: the person said the codes
 *   differ.
 * @typedef {{id: string, name: string, code: string[] | null, status: VerifyStatus, stalled: boolean}} PeerCode
 *   stalled: the link has been connected for STALL_MS with no completed code.
 */

/**
 * The certificate that the other side really presented in the DTLS handshake, if the browser
 * tells (RTCDtlsTransport.getRemoteCertificates; Chromium does). Unlike the remote certificate
 * stat, it is there even when getStats() was read during the handshake.
 * @param {RTCPeerConnection} pc
 */
async function presentedFingerprint(pc) {
  const transceivers = typeof pc.getTransceivers === "function" ? pc.getTransceivers() : [];
  for (const transceiver of transceivers) {
    const transport = /** @type {any} */ (transceiver.sender.transport || transceiver.receiver.transport);
    if (!transport || transport.state !== "connected" || typeof transport.getRemoteCertificates !== "function") continue;
    const chain = transport.getRemoteCertificates();
    if (chain && chain.length) return fingerprintOfDer(chain[0]);
  }
  return null;
}

/**
 * The fingerprints of the two certificates that a connection's DTLS uses, read in this one place
 * for the codes and for noticing a change: the certificate stats (and the certificate presented in
 * the handshake) where the browser has them, else the a=fingerprint lines of the current local and
 * remote descriptions (Firefox has no certificate stats). A current remote description that
 * announces another certificate wins over the stat: from then on the browser accepts only that one,
 * so the link is being re-keyed to it even before the handshake is over.
 * @param {RTCPeerConnection} pc
 * @returns {Promise<{local: string, remote: string} | null>} null while either is unknown
 */
export async function certificateFingerprints(pc) {
  const stats = fingerprintsOf((await pc.getStats()).values());
  const announced = {
    local: fingerprintOfSdp(pc.currentLocalDescription?.sdp),
    remote: fingerprintOfSdp(pc.currentRemoteDescription?.sdp),
  };
  const presented = (await presentedFingerprint(pc)) || stats.remote;
  const local = stats.local || announced.local;
  const remote = announced.remote && announced.remote !== presented ? announced.remote : presented || announced.remote;
  return local && remote ? { local, remote } : null;
}

/**
 * certificateFingerprints(), or undefined when the connection cannot tell at all (it is closing,
 * say), which is said on the console rather than thrown at the caller.
 * @param {RTCPeerConnection} pc
 */
async function readCertificates(pc) {
  try {
    return await certificateFingerprints(pc);
  } catch (error) {
    console.warn("verify: cannot read this connection's certificates", error);
    return undefined;
  }
}

/**
 * The remote certificate that a connection's latest remote description announces, applied or
 * about to be: a re-offer with another fingerprint shows here before DTLS is redone, and before
 * our answer makes it the current description that certificateFingerprints() reads. Not a read
 * of the certificates in use (those stay in certificateFingerprints alone): only the early warning.
 * @param {RTCPeerConnection} pc
 */
export function announcedRemoteFingerprint(pc) {
  return fingerprintOfSdp(pc.remoteDescription?.sdp);
}

/**
 * @param {{local: string, remote: string} | null} a
 * @param {{local: string, remote: string} | null} b
 */
function samePrints(a, b) {
  return Boolean(a && b) && a?.local === b?.local && a?.remote === b?.remote;
}

/** A fresh 128-bit nonce, hex. */
function newNonce() {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/**
 * One commit-then-reveal exchange with one peer, for one connection.
 * @typedef {object} Round
 * @property {object} pc the connection whose certificates it covers
 * @property {{local: string, remote: string}} prints
 * @property {string} nonce ours
 * @property {string} commit ours, once computed
 * @property {string} theirCommit
 * @property {boolean} revealed
 * @property {string[] | null} code once their reveal has checked out
 */

/**
 * @param {string[] | null} a
 * @param {string[] | null} b
 */
function sameCode(a, b) {
  return Boolean(a && b) && a?.join(" ") === b?.join(" ");
}

/**
 * Each link's code, read whenever its connection (re)connects, and the person's verdict on it.
 * The certificates behind a code are watched for as long as it is shown: after every applied
 * remote description, on every state change and once a second while connected. When they are
 * not the ones the code was made from, the code is withdrawn at once and the link shows
 * "changed" (a forged re-offer re-keys the same connection, and its relay may drop every verify
 * step so that no new code could tell). A verdict outlives a rebuilt link, found again by name,
 * so that a new certificate behind a verified name is reported as a change rather than quietly
 * shown as a fresh, unverified code. Memory only: nothing is stored.
 */
export class Verifier extends EventTarget {
  /**
   * @param {{connection(id: string): RTCPeerConnection | null, connectionState(id: string): string} & EventTarget} mesh
   * @param {(to: string, step: "commit" | "reveal", value: string) => void} send through the signaling
   * @param {{deadlineMs?: number, watchMs?: number}} [timing] for tests
   */
  constructor(mesh, send, timing = {}) {
    super();
    this.mesh = mesh;
    this.send = send;
    this.deadlineMs = timing.deadlineMs ?? STALL_MS;
    this.watchMs = timing.watchMs ?? CHECK_MS;
    /** @type {Map<string, Round>} the current exchange with each peer */
    this.rounds = new Map();
    /** @type {Map<string, string>} a peer's commitment that came before our round for it */
    this.early = new Map();
    /**
     * By participant id. `pc` and `prints` are the connection and certificates the code was made
     * from; once either changes, the code is `stale`: kept to compare the next one with, but no
     * longer shown.
     * @type {Map<string, {name: string, code: string[], status: VerifyStatus, pc: object,
     *   prints: {local: string, remote: string}, stale: boolean}>}
     */
    this.records = new Map();
    /** @type {Map<string, {code: string[], status: VerifyStatus}>} verdicts of closed links, by name */
    this.departed = new Map();
    /** @type {Map<string, string>} id → name, from the roster */
    this.names = new Map();
    /** @type {Map<string, number>} bumped on every state change, so a late read is dropped */
    this.generation = new Map();
    /** @type {Map<string, ReturnType<typeof setTimeout>>} per link, the STALL_MS timer */
    this.deadlines = new Map();
    /** @type {Set<string>} links that passed the deadline with no code */
    this.blocked = new Set();
    /** @type {ReturnType<typeof setInterval> | undefined} */
    this.watcher = undefined;
    mesh.addEventListener(Events.PEER_STATE, (event) => {
      const { id, state } = /** @type {CustomEvent} */ (event).detail;
      const generation = this.bump(id);
      this.check(id);
      if (state === "connected") {
        this.arm(id);
        this.watch();
        this.read(id, generation);
      }
    });
    mesh.addEventListener(Events.PEER_DESCRIPTION, (event) => this.check(/** @type {CustomEvent} */ (event).detail.id));
    mesh.addEventListener(Events.PEER_CLOSED, (event) => this.closed(/** @type {CustomEvent} */ (event).detail.id));
  }

  /** @param {{id: string, name: string, self: boolean}[]} participants */
  setParticipants(participants) {
    for (const participant of participants) {
      if (!participant.self) this.names.set(participant.id, participant.name);
    }
  }

  /**
   * @param {string} id
   * @returns {PeerCode}
   */
  view(id) {
    const record = this.records.get(id);
    const name = record ? record.name : this.names.get(id) || "";
    if (record && !record.stale) return { id, name, code: record.code, status: record.status, stalled: false };
    // No code to show: still say when the one the person verified is gone, or none could be made.
    const stalled = this.blocked.has(id);
    if (record && (record.status === "changed" || record.status === "mismatch")) {
      return { id, name, code: null, status: record.status, stalled };
    }
    return { id, name, code: null, status: "pending", stalled };
  }

  /**
   * The person compared the codes aloud.
   * @param {string} id
   * @param {boolean} match
   */
  mark(id, match) {
    const record = this.records.get(id);
    if (!record || record.stale) return;
    record.status = match ? "verified" : "mismatch";
    emit(this, Events.PEER_CODE, { ...this.view(id), changed: false });
  }

  /**
   * Read the code again (before someone compares it), if the link is connected.
   * @param {string} id
   */
  refresh(id) {
    this.check(id);
    if (this.mesh.connectionState(id) === "connected") this.read(id, this.generation.get(id) || 0, 1);
  }

  /** Forget everything: the call is over. */
  reset() {
    this.records.clear();
    this.rounds.clear();
    this.early.clear();
    this.departed.clear();
    this.names.clear();
    this.blocked.clear();
    for (const timer of this.deadlines.values()) clearTimeout(timer);
    this.deadlines.clear();
    clearInterval(this.watcher);
    this.watcher = undefined;
    for (const id of this.generation.keys()) this.bump(id);
  }

  /**
   * @private
   * @param {string} id
   */
  bump(id) {
    const generation = (this.generation.get(id) || 0) + 1;
    this.generation.set(id, generation);
    return generation;
  }

  /**
   * Poll the certificates of every shown code while the call lasts.
   * @private
   */
  watch() {
    if (this.watcher !== undefined) return;
    this.watcher = setInterval(() => {
      for (const id of this.records.keys()) this.check(id);
    }, this.watchMs);
  }

  /**
   * Give a connected link STALL_MS to complete its code.
   * @private
   * @param {string} id
   */
  arm(id) {
    if (this.deadlines.has(id)) return;
    this.deadlines.set(id, setTimeout(() => {
      this.deadlines.delete(id);
      if (this.mesh.connectionState(id) !== "connected" || this.view(id).code || this.blocked.has(id)) return;
      this.blocked.add(id);
      emit(this, Events.PEER_CODE, { ...this.view(id), changed: false });
    }, this.deadlineMs));
  }

  /**
   * Is the shown code still made from the connection and certificates in use? If not, withdraw it.
   * @private
   * @param {string} id
   */
  async check(id) {
    const record = this.records.get(id);
    if (!record) return;
    const pc = this.mesh.connection(id);
    if (record.stale) {
      // Withdrawn from this connection: look for its new certificates until a round runs on them.
      if (pc === record.pc && !this.rounds.has(id) && this.mesh.connectionState(id) === "connected") {
        this.read(id, this.generation.get(id) || 0, 1);
      }
      return;
    }
    if (pc !== record.pc) {
      this.change(id, "rebuilt");
      return;
    }
    if (!pc) return;
    // A remote description with another certificate: warn as it is applied, before DTLS is redone.
    const announced = announcedRemoteFingerprint(pc);
    if (announced && announced !== record.prints.remote) {
      this.change(id, "rekeyed");
      return;
    }
    if (this.mesh.connectionState(id) !== "connected") return;
    // Unreadable: a connection closing under the poll; the next poll or state change looks again.
    const prints = await readCertificates(pc);
    if (prints === undefined) return;
    if (prints && this.records.get(id) === record && !record.stale && record.pc === pc && !samePrints(prints, record.prints)) {
      this.change(id, "rekeyed");
      this.read(id, this.bump(id));
    }
  }

  /**
   * The code no longer matches what the link uses: withdraw it now, without waiting for a reveal.
   * A rebuilt connection (a reconnect does that) counts as a change only after a verdict; the
   * same connection re-keyed always does.
   * @private
   * @param {string} id
   * @param {"rebuilt" | "rekeyed"} how
   */
  change(id, how) {
    const record = this.records.get(id);
    if (!record || record.stale) return;
    record.stale = true;
    this.rounds.delete(id);
    const verdict = record.status === "verified" || record.status === "changed";
    if (how === "rekeyed" || verdict) {
      if (record.status !== "mismatch") record.status = "changed";
    }
    const alarm = record.status === "changed" && (how === "rekeyed" || verdict);
    emit(this, Events.PEER_CODE, { ...this.view(id), changed: alarm });
    if (this.mesh.connectionState(id) === "connected") this.arm(id);
  }

  /**
   * @private
   * @param {string} id
   * @param {number} generation
   * @param {number} [tries]
   */
  async read(id, generation, tries = RETRIES) {
    for (let attempt = 0; attempt < tries; attempt += 1) {
      if (attempt) await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
      if (this.generation.get(id) !== generation || this.mesh.connectionState(id) !== "connected") return;
      const pc = this.mesh.connection(id);
      if (!pc) return;
      // Unreadable: no code can be made, and after STALL_MS the row says "could not verify".
      const prints = await readCertificates(pc);
      if (prints === undefined) return;
      if (!prints || this.withdrawn(id, pc, prints)) continue;
      if (this.generation.get(id) === generation) await this.exchange(id, pc, prints);
      return;
    }
  }

  /**
   * True for the certificates of a code that was withdrawn from this same connection: the
   * browser may report them a little longer while DTLS is redone, and they get no code again.
   * @private
   * @param {string} id
   * @param {object} pc
   * @param {{local: string, remote: string}} prints
   */
  withdrawn(id, pc, prints) {
    const record = this.records.get(id);
    return Boolean(record && record.stale && record.pc === pc && samePrints(record.prints, prints));
  }

  /**
   * Start the nonce exchange for this connection, unless it already ran for it.
   * @private
   * @param {string} id
   * @param {object} pc
   * @param {{local: string, remote: string}} prints
   */
  async exchange(id, pc, prints) {
    const current = this.rounds.get(id);
    if (current && current.pc === pc && samePrints(current.prints, prints)) {
      if (current.code) this.apply(id, current.code, pc, prints);
      return;
    }
    /** @type {Round} */
    const round = { pc, prints, nonce: newNonce(), commit: "", theirCommit: this.early.get(id) || "", revealed: false, code: null };
    this.early.delete(id);
    this.rounds.set(id, round);
    round.commit = await sha256Hex(round.nonce);
    if (this.rounds.get(id) !== round) return;
    this.send(id, "commit", round.commit);
    this.reveal(id, round);
  }

  /**
   * A verify step from a peer, relayed by the server.
   * @param {string} from
   * @param {string} step
   * @param {string} value
   */
  async receive(from, step, value) {
    const round = this.rounds.get(from);
    if (step === "commit") {
      if (!round || round.theirCommit) {
        // Their new connection is ahead of ours: keep it for our next round.
        this.early.set(from, value);
        return;
      }
      round.theirCommit = value;
      this.reveal(from, round);
    } else if (step === "reveal" && round && round.theirCommit && round.revealed) {
      if ((await sha256Hex(value)) !== round.theirCommit || this.rounds.get(from) !== round) return;
      const code = await verificationCode(round.prints.local, round.prints.remote, round.nonce, value);
      if (this.rounds.get(from) === round && this.mesh.connection(from) === round.pc) {
        round.code = code;
        this.apply(from, code, round.pc, round.prints);
      }
    }
  }

  /**
   * Reveal our nonce once both commitments are out.
   * @private
   * @param {string} id
   * @param {Round} round
   */
  reveal(id, round) {
    if (round.revealed || !round.commit || !round.theirCommit) return;
    round.revealed = true;
    this.send(id, "reveal", round.nonce);
  }

  /**
   * @private
   * @param {string} id
   * @param {string[]} code
   * @param {object} pc the connection it was read from
   * @param {{local: string, remote: string}} prints the certificates it was made from
   */
  apply(id, code, pc, prints) {
    const name = this.names.get(id) || "";
    const existing = this.records.get(id);
    /** @type {{code: string[], status: VerifyStatus} | undefined} */
    let before = existing;
    const nameInUse = [...this.records.values()].some((record) => record.name === name);
    if (!before && name && !nameInUse && this.departed.has(name)) {
      before = this.departed.get(name);
      this.departed.delete(name);
    }
    let changed = false;
    /** @type {VerifyStatus} */
    let status = "unverified";
    if (before && sameCode(before.code, code)) {
      status = before.status;
    } else if (before) {
      changed = before.status === "verified";
      if (changed || before.status === "changed") status = "changed";
    }
    const news = !existing || existing.stale || !sameCode(existing.code, code) || existing.status !== status;
    this.blocked.delete(id);
    this.records.set(id, { name, code, status, pc, prints, stale: false });
    if (news) emit(this, Events.PEER_CODE, { ...this.view(id), changed });
  }

  /**
   * @private
   * @param {string} id
   */
  closed(id) {
    this.bump(id);
    this.rounds.delete(id);
    this.blocked.delete(id);
    clearTimeout(this.deadlines.get(id));
    this.deadlines.delete(id);
    const record = this.records.get(id);
    if (!record) return;
    this.records.delete(id);
    if (record.status !== "unverified" && record.name) {
      this.departed.set(record.name, { code: record.code, status: record.status });
    }
    emit(this, Events.PEER_CODE, { ...this.view(id), changed: false });
  }
}
