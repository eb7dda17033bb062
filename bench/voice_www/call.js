// One end of the benchmark's own two-page call. With no tuning it is plain WebRTC: browser defaults,
// getUserMedia({audio: true}), no SDP changes. With a tuning object it applies js/voice-tuning.js
// (served here as /voice-tuning.js) the way Secret-Call's mesh does, for measuring each choice alone.
// Signaling is the benchmark's job: it carries the (complete, non-trickled) descriptions between pages.
import * as voice from "./voice-tuning.js";

/** @type {RTCPeerConnection} */
let pc;
/** @type {MediaStream} */
let stream;
/** @type {object | null} */
let tuning = null;

function gathered() {
  return new Promise((resolve) => {
    if (pc.iceGatheringState === "complete") return resolve(undefined);
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") resolve(undefined);
    });
  });
}

async function describe() {
  await gathered();
  return pc.localDescription.sdp;
}

function incoming(type, sdp) {
  return tuning ? voice.tuneDescription({ type, sdp }, tuning) : { type, sdp };
}

window.voiceCall = Object.freeze({
  /** @param {object | null} options a voice-tuning object, or null for plain WebRTC */
  async setup(options) {
    tuning = options ? { ...voice.VOICE_TUNING, ...options } : null;
    stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    pc = new RTCPeerConnection();
    pc.ontrack = ({ streams, track }) => {
      const audio = document.createElement("audio");
      audio.autoplay = true;
      audio.srcObject = streams[0] || new MediaStream([track]);
      document.getElementById("players").append(audio);
      audio.play().catch(() => {});
    };
    for (const track of stream.getAudioTracks()) pc.addTrack(track, stream);
    if (tuning) voice.tuneConnection(pc, tuning);
  },
  async offer() {
    await pc.setLocalDescription();
    return describe();
  },
  async answer(sdp) {
    await pc.setRemoteDescription(incoming("offer", sdp));
    if (tuning) voice.tuneConnection(pc, tuning);
    await pc.setLocalDescription();
    return describe();
  },
  async accept(sdp) {
    await pc.setRemoteDescription(incoming("answer", sdp));
  },
  mute() {
    for (const track of stream.getAudioTracks()) track.enabled = false;
  },
  close() {
    pc.close();
    for (const track of stream.getTracks()) track.stop();
  },
});
document.documentElement.dataset.ready = "true";
