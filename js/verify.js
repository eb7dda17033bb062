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

/** 64 emoji that look unlike each other and are easy to name aloud: 6 bits each. */
export const EMOJI = Object.freeze([
  "🐶", "🐱", "🦊", "🐻", "🐼", "🐨", "🐯", "🦁",
  "🐮", "🐷", "🐸", "🐵", "🐔", "🐧", "🦉", "🦋",
  "🐢", "🐍", "🐙", "🦀", "🐳", "🐬", "🦈", "🐌",
  "🌵", "🌲", "🌻", "🌹", "🍄", "🍁", "🌙", "⭐",
  "🔥", "🌈", "⛄", "☂️", "🍎", "🍌", "🍇", "🍓",
  "🥕", "🌽", "🍕", "🍩", "🎂", "☕", "🔑", "🔔",
  "🎈", "🎁", "⚽", "🎸", "🎺", "🚲", "🚗", "🚀",
  "⛵", "✈️", "🏠", "⏰", "💡", "📚", "✂️", "⚓",
]);

/** How many emoji a code has: 4 × 6 = 24 bits. */
export const CODE_LENGTH = 4;

/** Chromium may report the remote certificate a moment after "connected": how often to look again. */
const RETRY_MS = 250;
const RETRIES = 20;

/**
 * @typedef {"pending" | "unverified" | "verified" | "changed" | "mismatch"} VerifyStatus
 *   pending: no code yet; changed: the code is not the one the person verified; mismatch: the
 *   person said the codes differ.
 * @typedef {{id: string, name: string, code: string[] | null, status: VerifyStatus}} PeerCode
 */

/**
 * A fingerprint as the codes use it: "sha-256:ab:cd:…", lower case. Other algorithms give null,
 * so that both ends always hash the same kind of fingerprint.
 * @param {string | undefined} algorithm
 * @param {string | undefined} value
 */
function canonical(algorithm, value) {
  return algorithm && value && algorithm.toLowerCase() === "sha-256" ? `sha-256:${value}`.toLowerCase() : null;
}

/**
 * The fingerprints of the certificates that a transport uses, from a connection's RTCStats.
 * @param {Iterable<any>} stats RTCStats as plain objects (an RTCStatsReport's values will do)
 * @returns {{local: string | null, remote: string | null}} canonical fingerprints, null when missing
 */
export function fingerprintsOf(stats) {
  /** @type {Map<string, any>} */
  const byId = new Map();
  for (const report of stats) byId.set(report.id, report);
  const prints = { local: /** @type {string | null} */ (null), remote: /** @type {string | null} */ (null) };
  for (const report of byId.values()) {
    if (report.type !== "transport") continue;
    const local = byId.get(report.localCertificateId);
    const remote = byId.get(report.remoteCertificateId);
    prints.local ||= local ? canonical(local.fingerprintAlgorithm, local.fingerprint) : null;
    prints.remote ||= remote ? canonical(remote.fingerprintAlgorithm, remote.fingerprint) : null;
  }
  return prints;
}

/**
 * The SHA-256 fingerprint of a DER certificate.
 * @param {ArrayBuffer} der
 */
export async function fingerprintOfDer(der) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", der));
  return `sha-256:${[...digest].map((byte) => byte.toString(16).padStart(2, "0")).join(":")}`;
}

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
 * The fingerprints of the two certificates that a connected RTCPeerConnection's DTLS really uses:
 * never the ones the SDP merely announces. Call it only once the connection is "connected"
 * (Chromium may otherwise never report the remote certificate stat).
 * @param {RTCPeerConnection} pc
 * @returns {Promise<{local: string, remote: string} | null>} null while either is unknown
 */
export async function certificateFingerprints(pc) {
  const stats = fingerprintsOf((await pc.getStats()).values());
  const remote = (await presentedFingerprint(pc)) || stats.remote;
  return stats.local && remote ? { local: stats.local, remote } : null;
}

/**
 * The code for a pair of fingerprints: the same whichever side computes it.
 * @param {string} a one fingerprint ("sha-256:ab:cd:…")
 * @param {string} b the other
 * @param {string} [nonceA] one side's revealed nonce (hex)
 * @param {string} [nonceB] the other side's
 * @returns {Promise<string[]>} CODE_LENGTH emoji
 */
export async function verificationCode(a, b, nonceA = "", nonceB = "") {
  const [first, second] = [a, b].sort();
  const nonces = [nonceA, nonceB].sort().join("\n");
  const data = new TextEncoder().encode(`secret-call verification v2\n${first}\n${second}\n${nonces}`);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  // The first 24 bits of the digest, 6 bits per emoji.
  let bits = 0;
  for (let i = 0; i < 3; i += 1) bits = (bits << 8) | digest[i];
  const code = [];
  for (let i = CODE_LENGTH - 1; i >= 0; i -= 1) code.push(EMOJI[(bits >> (i * 6)) & 63]);
  return code;
}

/**
 * The code of a connected RTCPeerConnection, or null when its certificates are not known yet.
 * @param {RTCPeerConnection} pc
 */
export async function codeFor(pc) {
  const prints = await certificateFingerprints(pc);
  return prints ? verificationCode(prints.local, prints.remote) : null;
}

/**
 * Hex SHA-256 of a string.
 * @param {string} text
 */
export async function sha256Hex(text) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, "0")).join("");
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
 * A verdict outlives a rebuilt link, found again by name, so that a new certificate behind a
 * verified name is reported as a change rather than quietly shown as a fresh, unverified code.
 * Memory only: nothing is stored.
 */
export class Verifier extends EventTarget {
  /**
   * @param {{connection(id: string): RTCPeerConnection | null, connectionState(id: string): string} & EventTarget} mesh
   * @param {(to: string, step: "commit" | "reveal", value: string) => void} send through the signaling
   */
  constructor(mesh, send) {
    super();
    this.mesh = mesh;
    this.send = send;
    /** @type {Map<string, Round>} the current exchange with each peer */
    this.rounds = new Map();
    /** @type {Map<string, string>} a peer's commitment that came before our round for it */
    this.early = new Map();
    /**
     * By participant id. `pc` is the connection the code was read from; once the mesh has
     * replaced it, the code is `stale`: kept to compare the next one with, but no longer shown.
     * @type {Map<string, {name: string, code: string[], status: VerifyStatus, pc: object, stale: boolean}>}
     */
    this.records = new Map();
    /** @type {Map<string, {code: string[], status: VerifyStatus}>} verdicts of closed links, by name */
    this.departed = new Map();
    /** @type {Map<string, string>} id → name, from the roster */
    this.names = new Map();
    /** @type {Map<string, number>} bumped on every state change, so a late read is dropped */
    this.generation = new Map();
    mesh.addEventListener(Events.PEER_STATE, (event) => {
      const { id, state } = /** @type {CustomEvent} */ (event).detail;
      const generation = this.bump(id);
      const record = this.records.get(id);
      if (record && !record.stale && this.mesh.connection(id) !== record.pc) {
        record.stale = true;
        emit(this, Events.PEER_CODE, { ...this.view(id), changed: false });
      }
      if (state === "connected") this.read(id, generation);
    });
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
    if (!record || record.stale) return { id, name, code: null, status: "pending" };
    return { id, name, code: record.code, status: record.status };
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
    if (this.mesh.connectionState(id) === "connected") this.read(id, this.generation.get(id) || 0, 1);
  }

  /** Forget everything: the call is over. */
  reset() {
    this.records.clear();
    this.rounds.clear();
    this.early.clear();
    this.departed.clear();
    this.names.clear();
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
      let prints = null;
      try {
        prints = await certificateFingerprints(pc);
      } catch {
        return;
      }
      if (!prints) continue;
      if (this.generation.get(id) === generation) await this.exchange(id, pc, prints);
      return;
    }
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
    if (current && current.pc === pc && current.prints.local === prints.local && current.prints.remote === prints.remote) {
      if (current.code) this.apply(id, current.code, pc);
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
        this.apply(from, code, round.pc);
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
   */
  apply(id, code, pc) {
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
    this.records.set(id, { name, code, status, pc, stale: false });
    if (news) emit(this, Events.PEER_CODE, { ...this.view(id), changed });
  }

  /**
   * @private
   * @param {string} id
   */
  closed(id) {
    this.bump(id);
    this.rounds.delete(id);
    const record = this.records.get(id);
    if (!record) return;
    this.records.delete(id);
    if (record.status !== "unverified" && record.name) {
      this.departed.set(record.name, { code: record.code, status: record.status });
    }
    emit(this, Events.PEER_CODE, { ...this.view(id), changed: false });
  }
}
