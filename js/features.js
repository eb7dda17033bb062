// @ts-check
/**
 * What this browser can do of what Secret-Call uses, found by feature detection (never by the
 * user agent): the call works without any of these, each one only makes something better. The
 * settings dialog says plainly which are missing here; the modules that use one test it the same
 * way before they use it.
 *
 * - redundancy: Opus RED (RFC 2198, `audio/red` among the receiver's codecs); Chromium has it,
 *   Firefox ESR 153 does not. Without it speech breaks up sooner on a lossy network.
 * - remoteCertificates: `RTCDtlsTransport.getRemoteCertificates()`, the certificate the other side
 *   presented. Without it (and without certificate stats) the verification codes are made from the
 *   fingerprints of the descriptions applied, which the browser enforces in the handshake: just as
 *   binding, so the dialog does not mention it.
 * - speakerChoice: `HTMLMediaElement.setSinkId`, to play the call on another output device.
 * - encodedTransforms: `RTCRtpScriptTransform` or Chromium's `createEncodedStreams`, to encrypt
 *   frames end to end through a media server.
 */

/**
 * @typedef {{redundancy: boolean, remoteCertificates: boolean, speakerChoice: boolean,
 *   encodedTransforms: boolean}} Features
 */

/**
 * @param {any} [scope] the window (or a stand-in, for tests)
 * @returns {Features}
 */
export function detectFeatures(scope = globalThis) {
  const receiver = scope.RTCRtpReceiver;
  let codecs = [];
  try {
    codecs = typeof receiver?.getCapabilities === "function" ? receiver.getCapabilities("audio")?.codecs || [] : [];
  } catch (error) {
    console.debug("features: no receiver capabilities", error);
  }
  const prototype = (/** @type {string} */ name) => scope[name]?.prototype || {};
  return Object.freeze({
    redundancy: codecs.some((/** @type {{mimeType: string}} */ codec) => codec.mimeType.toLowerCase() === "audio/red"),
    remoteCertificates: typeof prototype("RTCDtlsTransport").getRemoteCertificates === "function",
    speakerChoice: typeof prototype("HTMLMediaElement").setSinkId === "function",
    encodedTransforms: typeof scope.RTCRtpScriptTransform === "function"
      || typeof prototype("RTCRtpSender").createEncodedStreams === "function",
  });
}

/**
 * What to tell the person about this browser, as locale keys: one line per feature that matters
 * to them today (the ones a missing feature takes away something from).
 * @param {Features} features
 * @returns {{key: string, ok: boolean}[]}
 */
export function featureNotes(features) {
  const notes = [{ key: features.redundancy ? "featureRedundancy" : "featureNoRedundancy", ok: features.redundancy }];
  if (!features.speakerChoice) notes.push({ key: "featureNoSpeakerChoice", ok: false });
  return notes;
}
