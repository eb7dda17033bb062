// @ts-check
/**
 * One hidden <audio> element per remote participant. Per-peer mute and volume are set on the
 * element (muted, volume), never on the track, so the browser's echo cancellation still sees
 * what is played.
 */

export class PeerPlayers {
  /** @param {(blocked: boolean) => void} onBlocked told when autoplay is refused and when it recovers */
  constructor(onBlocked) {
    this.container = /** @type {HTMLElement} */ (document.getElementById("players"));
    this.onBlocked = onBlocked;
    /** @type {Map<string, HTMLAudioElement>} */
    this.elements = new Map();
    /** @type {Map<string, {muted: boolean, volume: number}>} */
    this.choices = new Map();
    this.blocked = false;
    const resume = () => {
      if (this.blocked) this.playAll();
    };
    document.addEventListener("pointerdown", resume, true);
    document.addEventListener("keydown", resume, true);
  }

  /**
   * @param {string} id
   * @param {MediaStream} stream
   */
  attach(id, stream) {
    let audio = this.elements.get(id);
    if (!audio) {
      audio = document.createElement("audio");
      audio.autoplay = true;
      audio.dataset.peerId = id;
      this.container.append(audio);
      this.elements.set(id, audio);
    }
    if (audio.srcObject !== stream) audio.srcObject = stream;
    this.apply(id);
    this.play(audio);
  }

  /** @param {string} id */
  detach(id) {
    const audio = this.elements.get(id);
    if (audio) {
      audio.srcObject = null;
      audio.remove();
      this.elements.delete(id);
    }
    this.choices.delete(id);
  }

  clear() {
    for (const id of [...this.elements.keys()]) this.detach(id);
    this.choices.clear();
    this.setBlocked(false);
  }

  /**
   * @param {string} id
   * @param {boolean} muted
   */
  setMuted(id, muted) {
    this.choice(id).muted = muted;
    this.apply(id);
  }

  /**
   * @param {string} id
   * @param {number} volume 0…1
   */
  setVolume(id, volume) {
    this.choice(id).volume = Math.min(1, Math.max(0, volume));
    this.apply(id);
  }

  /**
   * @private
   * @param {string} id
   */
  choice(id) {
    let choice = this.choices.get(id);
    if (!choice) {
      choice = { muted: false, volume: 1 };
      this.choices.set(id, choice);
    }
    return choice;
  }

  /**
   * @private
   * @param {string} id
   */
  apply(id) {
    const audio = this.elements.get(id);
    const choice = this.choices.get(id);
    if (!audio || !choice) return;
    audio.muted = choice.muted;
    audio.volume = choice.volume;
  }

  /**
   * @private
   * @param {HTMLAudioElement} audio
   */
  play(audio) {
    audio.play().then(() => {
      if (this.blocked && [...this.elements.values()].every((element) => !element.paused)) this.setBlocked(false);
    }, (error) => {
      // Autoplay without a user gesture is refused; the next click or key press resumes it.
      if (error && error.name === "NotAllowedError") this.setBlocked(true);
    });
  }

  /** @private */
  playAll() {
    for (const audio of this.elements.values()) this.play(audio);
  }

  /**
   * @private
   * @param {boolean} blocked
   */
  setBlocked(blocked) {
    if (blocked === this.blocked) return;
    this.blocked = blocked;
    this.onBlocked(blocked);
  }
}
