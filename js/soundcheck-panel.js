// @ts-check
/** The sound-check control under the join form: a toggle button, a hint, and the echo's <audio>. */
import { Events, emit } from "./events.js";

export class SoundCheckPanel extends EventTarget {
  /** @param {import("./i18n.js").I18n} i18n */
  constructor(i18n) {
    super();
    this.i18n = i18n;
    this.root = /** @type {HTMLElement} */ (document.getElementById("sound-check"));
    this.button = /** @type {HTMLButtonElement} */ (document.getElementById("sound-check-button"));
    this.hint = /** @type {HTMLElement} */ (document.getElementById("sound-check-hint"));
    this.audio = /** @type {HTMLAudioElement} */ (document.getElementById("echo-audio"));
    this.button.addEventListener("click", () => {
      emit(this, this.button.getAttribute("aria-pressed") === "true" ? Events.UI_SOUND_CHECK_STOP
        : Events.UI_SOUND_CHECK_START, {});
    });
  }

  /**
   * @param {"idle" | "starting" | "running"} state
   * @param {string} [error] why it stopped, if it failed
   */
  setState(state, error) {
    const active = state !== "idle";
    this.button.setAttribute("aria-pressed", String(active));
    this.button.classList.toggle("active", active);
    this.setText(this.button, active ? "soundCheckStop" : "soundCheck");
    const hint = error ? `soundCheckError_${error}` : { idle: "soundCheckHint", starting: "soundCheckStarting",
      running: "soundCheckRunning" }[state];
    this.setText(this.hint, this.i18n.has(hint) ? hint : "soundCheckError_failed");
    this.hint.classList.toggle("field-error", Boolean(error));
    if (!active) this.audio.srcObject = null;
  }

  /** @param {MediaStream} stream our own voice, coming back */
  play(stream) {
    this.audio.srcObject = stream;
    this.audio.play().catch(() => {});
  }

  /** @param {boolean} shown the sound check is offered only outside a call */
  show(shown) {
    this.root.hidden = !shown;
  }

  /**
   * @private
   * @param {HTMLElement} element
   * @param {string} key
   */
  setText(element, key) {
    element.dataset.i18n = key;
    element.textContent = this.i18n.t(key);
  }
}
