// The benchmark's recorder, a classic script: in its own page (call.html) and, as a Playwright init
// script, in Secret-Call's page. window.voiceCapture records MediaStreams as raw PCM through the
// pcm-capture AudioWorklet (js/pcm-capture-worklet.js) and maps the context's frames to the page's
// high-resolution clock (performance.timeOrigin + performance.now(), one clock for every page of the
// browser) with AudioContext.getOutputTimestamp(), read with every block.
(() => {
  "use strict";
  const RATE = 16000;
  /** @type {AudioContext | null} */
  let context = null;
  /**
   * @type {Map<string, {node: AudioWorkletNode, source: MediaStreamAudioSourceNode,
   *   blocks: {first: number, samples: Float32Array}[], clock: number[][]}>}
   */
  const recordings = new Map();
  /** @type {MediaStream | null} the stream getUserMedia gave this page last */
  let microphone = null;

  const original = navigator.mediaDevices && navigator.mediaDevices.getUserMedia;
  if (original) {
    navigator.mediaDevices.getUserMedia = async function getUserMedia(constraints) {
      const stream = await original.call(navigator.mediaDevices, constraints);
      microphone = stream;
      return stream;
    };
  }

  /** @type {RTCPeerConnection[]} every connection that took a remote description, newest last */
  const connections = [];
  const setRemote = RTCPeerConnection.prototype.setRemoteDescription;
  RTCPeerConnection.prototype.setRemoteDescription = function setRemoteDescription(...args) {
    if (!connections.includes(this)) connections.push(this);
    return setRemote.apply(this, args);
  };
  const connection = () => [...connections].reverse().find((pc) => pc.connectionState !== "closed") || null;

  async function ensureContext(worklet) {
    if (context) return context;
    context = new AudioContext({ sampleRate: RATE });
    await context.audioWorklet.addModule(worklet);
    if (context.state !== "running") await context.resume();
    return context;
  }

  /** One reading of the context's clock against the shared one: [context frame, ms on the shared clock]. */
  function clockReading() {
    const stamp = context.getOutputTimestamp();
    if (stamp.performanceTime > 0 && stamp.contextTime > 0) {
      return [stamp.contextTime * context.sampleRate, performance.timeOrigin + stamp.performanceTime];
    }
    return [context.currentTime * context.sampleRate, performance.timeOrigin + performance.now()];
  }

  function toBase64(int16) {
    const bytes = new Uint8Array(int16.buffer);
    let text = "";
    for (let i = 0; i < bytes.length; i += 0x8000) {
      text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    return btoa(text);
  }

  window.voiceCapture = Object.freeze({
    RATE,
    microphone: () => microphone,
    /** The stream of the first <audio> element that plays one (the received voice). */
    playing: () => {
      const audio = [...document.querySelectorAll("audio")].find((element) => element.srcObject);
      return audio ? audio.srcObject : null;
    },
    /** True once the newest peer connection is connected. */
    connected: () => connection()?.connectionState === "connected",
    /** The newest peer connection's RTCStats as plain objects. */
    stats: async () => {
      const pc = connection();
      return pc ? [...(await pc.getStats()).values()] : [];
    },
    /** The newest peer connection's applied descriptions (remote as applied, after any tuning). */
    descriptions: () => {
      const pc = connection();
      return { local: pc?.currentLocalDescription?.sdp || "", remote: pc?.currentRemoteDescription?.sdp || "" };
    },
    /** Start recording `stream` under `name`. */
    async start(name, stream, worklet) {
      const ctx = await ensureContext(worklet);
      const source = ctx.createMediaStreamSource(stream);
      const node = new AudioWorkletNode(ctx, "pcm-capture", {
        numberOfInputs: 1, numberOfOutputs: 1, channelCount: 1, channelCountMode: "explicit",
      });
      const recording = { node, source, blocks: [], clock: [clockReading()] };
      node.port.onmessage = ({ data }) => {
        recording.blocks.push(data);
        recording.clock.push(clockReading());
      };
      source.connect(node);
      node.connect(ctx.destination);
      recordings.set(name, recording);
    },
    /**
     * Stop and hand over {rate, first, clock, pcm}: `first` is the context frame of the first sample,
     * `clock` readings [context frame, ms on the shared clock] taken while recording, `pcm` base64 s16le.
     */
    stop(name) {
      const recording = recordings.get(name);
      if (!recording) throw new Error(`no recording ${name}`);
      recording.source.disconnect();
      recording.node.disconnect();
      recordings.delete(name);
      const blocks = recording.blocks;
      recording.clock.push(clockReading());
      if (!blocks.length) return { rate: context.sampleRate, first: 0, clock: recording.clock, pcm: "" };
      const first = blocks[0].first;
      const last = blocks[blocks.length - 1];
      const total = last.first + last.samples.length - first;
      const pcm = new Int16Array(total);
      for (const block of blocks) {
        const at = block.first - first;
        for (let i = 0; i < block.samples.length; i += 1) {
          const value = Math.max(-1, Math.min(1, block.samples[i]));
          pcm[at + i] = Math.round(value * 32767);
        }
      }
      return { rate: context.sampleRate, first, clock: recording.clock, pcm: toBase64(pcm) };
    },
  });
})();
