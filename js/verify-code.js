// @ts-check
/**
 * How a verification code is made, and what it is made of: pure functions, no connection, no DOM.
 * js/verify.js reads the certificates a connection uses and runs the nonce exchange; this module
 * turns fingerprints and nonces into the four symbols both people read aloud.
 */

/**
 * 64 symbols that look unlike each other and are easy to name aloud: 6 bits each. Each has a
 * short spoken name (the locales' `symbol…` strings, like Matrix's SAS emoji list), shown under
 * the emoji and used as its accessible name, so that a code can be read out and compared by ear,
 * and read at all where no colour emoji font draws the pictures.
 * @type {ReadonlyArray<{emoji: string, name: string}>}
 */
export const SYMBOLS = Object.freeze(/** @type {[string, string][]} */ ([
  ["🐶", "dog"], ["🐱", "cat"], ["🦊", "fox"], ["🐻", "bear"],
  ["🐼", "panda"], ["🐨", "koala"], ["🐯", "tiger"], ["🦁", "lion"],
  ["🐮", "cow"], ["🐷", "pig"], ["🐸", "frog"], ["🐵", "monkey"],
  ["🐔", "chicken"], ["🐧", "penguin"], ["🦉", "owl"], ["🦋", "butterfly"],
  ["🐢", "turtle"], ["🐍", "snake"], ["🐙", "octopus"], ["🦀", "crab"],
  ["🐳", "whale"], ["🐬", "dolphin"], ["🦈", "shark"], ["🐌", "snail"],
  ["🌵", "cactus"], ["🌲", "tree"], ["🌻", "sunflower"], ["🌹", "rose"],
  ["🍄", "mushroom"], ["🍁", "leaf"], ["🌙", "moon"], ["⭐", "star"],
  ["🔥", "fire"], ["🌈", "rainbow"], ["⛄", "snowman"], ["☂️", "umbrella"],
  ["🍎", "apple"], ["🍌", "banana"], ["🍇", "grapes"], ["🍓", "strawberry"],
  ["🥕", "carrot"], ["🌽", "corn"], ["🍕", "pizza"], ["🍩", "doughnut"],
  ["🎂", "cake"], ["☕", "coffee"], ["🔑", "key"], ["🔔", "bell"],
  ["🎈", "balloon"], ["🎁", "gift"], ["⚽", "ball"], ["🎸", "guitar"],
  ["🎺", "trumpet"], ["🚲", "bicycle"], ["🚗", "car"], ["🚀", "rocket"],
  ["⛵", "boat"], ["✈️", "plane"], ["🏠", "house"], ["⏰", "clock"],
  ["💡", "bulb"], ["📚", "books"], ["✂️", "scissors"], ["⚓", "anchor"],
]).map(([emoji, name]) => Object.freeze({ emoji, name })));

/** The 64 emoji, in code order. */
export const EMOJI = Object.freeze(SYMBOLS.map((symbol) => symbol.emoji));

/** How many symbols a code has: 4 × 6 = 24 bits. */
export const CODE_LENGTH = 4;

/**
 * The locale key of a code symbol's spoken name ("🐶" → "symbolDog"); "" for anything else.
 * @param {string} emoji
 */
export function symbolKey(emoji) {
  const symbol = SYMBOLS.find((candidate) => candidate.emoji === emoji);
  return symbol ? `symbol${symbol.name[0].toUpperCase()}${symbol.name.slice(1)}` : "";
}

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
 * The sha-256 fingerprint an SDP announces (its first a=fingerprint line of that kind), or null.
 * @param {string | undefined} sdp
 */
export function fingerprintOfSdp(sdp) {
  for (const [, algorithm, value] of (sdp || "").matchAll(/^a=fingerprint:(\S+) (\S+)\s*$/gm)) {
    const print = canonical(algorithm, value);
    if (print) return print;
  }
  return null;
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
 * Hex SHA-256 of a string.
 * @param {string} text
 */
export async function sha256Hex(text) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, "0")).join("");
}
