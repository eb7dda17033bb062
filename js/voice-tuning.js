// @ts-check
/**
 * Voice tuning for the call's peer connections: prefer Opus RED (RFC 2198 redundancy) where both
 * ends can do it, set the Opus parameters our encoder uses, and mark the audio as high priority.
 * DOM-free and import-free, so the benchmark's own page (bench/voice_www) can load it too.
 *
 * The Opus `fmtp` parameters are the receiver's wishes to the sender, so each side writes them into
 * the description it *receives*: that configures its own encoder, whatever the other end asked for,
 * and leaves the description it sends (and its a=fingerprint lines) exactly as the browser made it.
 */

/**
 * @typedef {object} VoiceTuning
 * @property {boolean} red put audio/red before opus in the codec preferences
 * @property {number} redundancy earlier frames each RED packet repeats (the RED fmtp `111/111…`)
 * @property {Record<string, number>} opus Opus fmtp parameters for our encoder
 * @property {number} ptime milliseconds of audio per packet, 0 for the browser's choice
 * @property {RTCPriorityType | ""} priority the sender's `priority` and `networkPriority`, "" leaves them
 * @property {number} jitterBufferTarget the receiver's jitter-buffer target in ms, 0 for the browser's own
 */

/** What the benchmark (bench/voice.py, BENCHMARKS.md) found best; each choice is measured there. */
export const VOICE_TUNING = Object.freeze({
  red: true,
  redundancy: 1,
  opus: Object.freeze({ useinbandfec: 1, stereo: 0, usedtx: 0 }),
  ptime: 0,
  priority: /** @type {RTCPriorityType} */ ("high"),
  jitterBufferTarget: 0,
});

/**
 * The codec capabilities in the order we prefer: RED (when wanted) first, then Opus, then the rest.
 * @param {RTCRtpCodec[]} codecs
 * @param {VoiceTuning} tuning
 */
export function orderCodecs(codecs, tuning = VOICE_TUNING) {
  const rank = (/** @type {RTCRtpCodec} */ codec) => {
    const mime = codec.mimeType.toLowerCase();
    if (mime === "audio/red") return tuning.red ? 0 : 2;
    return mime === "audio/opus" ? 1 : 2;
  };
  return codecs.map((codec, index) => ({ codec, index }))
    .sort((a, b) => rank(a.codec) - rank(b.codec) || a.index - b.index)
    .map(({ codec }) => codec);
}

/** Connections whose senders are re-tuned after every negotiation. */
const watched = new WeakSet();

/**
 * Set the codec preferences of every audio transceiver that can still take them, and the senders'
 * priority (again after each negotiation, which may reset it). Call it right after addTrack (the
 * offerer) or after applying the remote offer (the answerer).
 * @param {RTCPeerConnection} pc
 * @param {VoiceTuning} tuning
 */
export function tuneConnection(pc, tuning = VOICE_TUNING) {
  // Feature detection: a connection without transceivers (an old browser, a test double) is used as it is.
  if (typeof pc.getTransceivers !== "function") return;
  if (!watched.has(pc)) {
    watched.add(pc);
    pc.addEventListener("signalingstatechange", () => {
      if (pc.signalingState !== "stable") return;
      for (const transceiver of pc.getTransceivers()) {
        if (transceiver.currentDirection !== "stopped" && transceiver.sender.track) tuneSender(transceiver.sender, tuning);
      }
    });
  }
  const capabilities = typeof RTCRtpReceiver.getCapabilities === "function"
    ? RTCRtpReceiver.getCapabilities("audio") : null;
  for (const transceiver of pc.getTransceivers()) {
    if (transceiver.currentDirection === "stopped" || transceiver.receiver.track.kind !== "audio") continue;
    if (capabilities && typeof transceiver.setCodecPreferences === "function") {
      try {
        transceiver.setCodecPreferences(orderCodecs(capabilities.codecs, tuning));
      } catch (error) {
        console.warn("voice tuning: codec preferences refused:", error instanceof Error ? error.message : error);
      }
    }
    tuneSender(transceiver.sender, tuning);
    if (tuning.jitterBufferTarget && "jitterBufferTarget" in transceiver.receiver) {
      Object.assign(transceiver.receiver, { jitterBufferTarget: tuning.jitterBufferTarget });
    }
  }
}

/**
 * Mark the audio sender as high priority (DSCP on the wire where the network honours it).
 * @param {RTCRtpSender} sender
 * @param {VoiceTuning} tuning
 */
export function tuneSender(sender, tuning = VOICE_TUNING) {
  if (!tuning.priority || typeof sender.getParameters !== "function") return;
  const parameters = sender.getParameters();
  if (!parameters.encodings || !parameters.encodings.length) return;
  const tuned = parameters.encodings.every((encoding) => encoding.priority === tuning.priority
    && encoding.networkPriority === tuning.priority);
  if (tuned) return;
  for (const encoding of parameters.encodings) {
    Object.assign(encoding, { priority: tuning.priority, networkPriority: tuning.priority });
  }
  sender.setParameters(parameters).catch((error) => {
    console.warn("voice tuning: sender parameters refused:", error instanceof Error ? error.message : error);
  });
}

/**
 * Parse an fmtp parameter list (`a=b;c=d`) into ordered pairs.
 * @param {string} text
 * @returns {[string, string][]}
 */
function parseParameters(text) {
  return text.split(";").map((part) => part.trim()).filter(Boolean).map((part) => {
    const at = part.indexOf("=");
    return at < 0 ? [part, ""] : [part.slice(0, at).trim(), part.slice(at + 1).trim()];
  });
}

/**
 * @param {[string, string][]} pairs
 * @param {Record<string, number | string>} changes
 */
function mergeParameters(pairs, changes) {
  const merged = new Map(pairs);
  for (const [key, value] of Object.entries(changes)) merged.set(key, String(value));
  return [...merged].map(([key, value]) => (value === "" ? key : `${key}=${value}`)).join(";");
}

/**
 * One audio m-section with our encoder's parameters: Opus fmtp, RED redundancy, ptime.
 * @param {string[]} lines the section's lines, from its m= line on
 * @param {VoiceTuning} tuning
 */
function tuneSection(lines, tuning) {
  /** @type {Map<string, string>} payload type → lower-case codec name */
  const codecs = new Map();
  for (const line of lines) {
    const match = /^a=rtpmap:(\d+) ([^/\s]+)\//.exec(line);
    if (match) codecs.set(match[1], match[2].toLowerCase());
  }
  const opus = [...codecs].find(([, name]) => name === "opus")?.[0];
  if (!opus) return lines;
  const out = [];
  let hasFmtp = false;
  for (const line of lines) {
    const match = /^a=fmtp:(\d+) (.*)$/.exec(line);
    if (match && match[1] === opus) {
      hasFmtp = true;
      out.push(`a=fmtp:${opus} ${mergeParameters(parseParameters(match[2]), tuning.opus)}`);
    } else if (match && codecs.get(match[1]) === "red" && match[2].split("/").every((pt) => pt === opus)) {
      out.push(`a=fmtp:${match[1]} ${Array(tuning.redundancy + 1).fill(opus).join("/")}`);
    } else if (tuning.ptime && /^a=ptime:/.test(line)) {
      continue;
    } else {
      out.push(line);
    }
  }
  if (!hasFmtp && Object.keys(tuning.opus).length) {
    const at = out.findIndex((line) => line.startsWith(`a=rtpmap:${opus} `));
    out.splice(at + 1, 0, `a=fmtp:${opus} ${mergeParameters([], tuning.opus)}`);
  }
  if (tuning.ptime) out.push(`a=ptime:${tuning.ptime}`);
  return out;
}

/**
 * A received offer or answer, rewritten so that our encoder uses the tuning. Only the audio
 * sections' a=fmtp (and a=ptime) lines change; everything else, a=fingerprint included, stays.
 * @param {RTCSessionDescriptionInit} description
 * @param {VoiceTuning} tuning
 * @returns {RTCSessionDescriptionInit}
 */
export function tuneDescription(description, tuning = VOICE_TUNING) {
  if (!description.sdp) return description;
  const eol = description.sdp.includes("\r\n") ? "\r\n" : "\n";
  const lines = description.sdp.split(eol);
  const trailing = lines[lines.length - 1] === "" ? lines.pop() : undefined;
  /** @type {string[][]} */
  const sections = [[]];
  for (const line of lines) {
    if (line.startsWith("m=")) sections.push([]);
    sections[sections.length - 1].push(line);
  }
  const tuned = sections.flatMap((section) => (section[0]?.startsWith("m=audio ")
    ? tuneSection(section, tuning) : section));
  if (trailing !== undefined) tuned.push(trailing);
  return { type: description.type, sdp: tuned.join(eol) };
}
