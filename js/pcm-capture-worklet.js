// @ts-nocheck: this runs in an AudioWorkletGlobalScope, whose names (AudioWorkletProcessor,
// currentFrame, registerProcessor) TypeScript's libraries do not describe.
// A PCM tap for the voice benchmark (bench/voice.py), which loads it into the page to record, as raw
// samples, what a call plays and what the microphone gives; the app itself never loads it. It lives
// here so that it is served under the page's own allow-list and Content-Security-Policy.
// An AudioWorkletProcessor that posts its first input channel, untouched, in blocks of BLOCK frames
// together with the context frame index of each block's first sample.
const BLOCK = 4096;

class PcmCapture extends AudioWorkletProcessor {
  constructor() {
    super();
    this.block = new Float32Array(BLOCK);
    this.filled = 0;
    this.first = 0;
  }

  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    const frames = channel ? channel.length : 128;
    if (this.filled === 0) this.first = currentFrame;
    if (channel) this.block.set(channel, this.filled);
    else this.block.fill(0, this.filled, this.filled + frames);
    this.filled += frames;
    if (this.filled >= BLOCK) {
      this.port.postMessage({ first: this.first, samples: this.block }, [this.block.buffer]);
      this.block = new Float32Array(BLOCK);
      this.filled = 0;
    }
    return true;
  }
}

registerProcessor("pcm-capture", PcmCapture);
