// @ts-check
/**
 * Speaking indicators: one shared AudioContext with an AnalyserNode per stream. Nothing is
 * connected to the speakers (the <audio> elements play the sound); the context is closed on leave.
 */

/** RMS level above which someone counts as speaking (the fake and real mics both clear it). */
const SPEAKING_LEVEL = 0.015;
/** Keep the indicator on this long after the level drops, so it does not flicker between words. */
const HOLD_MS = 350;
const TICK_MS = 100;

export class SpeakingMeter {
  /** @param {(id: string, speaking: boolean) => void} onChange */
  constructor(onChange) {
    this.onChange = onChange;
    /** @type {AudioContext | null} */
    this.context = null;
    /** @type {Map<string, {source: MediaStreamAudioSourceNode, analyser: AnalyserNode, samples: Float32Array<ArrayBuffer>, speaking: boolean, lastLoud: number}>} */
    this.meters = new Map();
    /** @type {ReturnType<typeof setInterval> | undefined} */
    this.timer = undefined;
  }

  /** Create (or wake) the context; call it from a click so the browser lets it run. */
  prepare() {
    if (!this.context || this.context.state === "closed") {
      try {
        this.context = new AudioContext();
      } catch {
        this.context = null;
        return null;
      }
    }
    if (this.context.state === "suspended") this.context.resume().catch(() => {});
    return this.context;
  }

  /**
   * Start measuring a stream under an id (replacing what was measured under it).
   * @param {string} id
   * @param {MediaStream} stream
   */
  watch(id, stream) {
    this.unwatch(id);
    const context = this.prepare();
    if (!context || !stream.getAudioTracks().length) return;
    const source = context.createMediaStreamSource(stream);
    const analyser = context.createAnalyser();
    analyser.fftSize = 512;
    source.connect(analyser);
    this.meters.set(id, { source, analyser, samples: new Float32Array(analyser.fftSize), speaking: false, lastLoud: 0 });
    if (this.timer === undefined) this.timer = setInterval(() => this.tick(), TICK_MS);
  }

  /** @param {string} id */
  unwatch(id) {
    const meter = this.meters.get(id);
    if (!meter) return;
    meter.source.disconnect();
    this.meters.delete(id);
    if (meter.speaking) this.onChange(id, false);
    if (!this.meters.size) this.stopTimer();
  }

  /** Stop everything and close the context (on leave). */
  close() {
    for (const id of [...this.meters.keys()]) this.unwatch(id);
    this.stopTimer();
    const context = this.context;
    this.context = null;
    if (context && context.state !== "closed") context.close().catch(() => {});
  }

  /** @private */
  stopTimer() {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** @private */
  tick() {
    const now = performance.now();
    for (const [id, meter] of this.meters) {
      meter.analyser.getFloatTimeDomainData(meter.samples);
      let sum = 0;
      for (const sample of meter.samples) sum += sample * sample;
      const level = Math.sqrt(sum / meter.samples.length);
      if (level > SPEAKING_LEVEL) meter.lastLoud = now;
      const speaking = now - meter.lastLoud < HOLD_MS;
      if (speaking !== meter.speaking) {
        meter.speaking = speaking;
        this.onChange(id, speaking);
      }
    }
  }
}
