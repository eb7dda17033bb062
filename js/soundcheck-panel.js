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
    /** Why the sound check is off ("privacy"), or "" */
    this.blocked = "";
    /** @type {{state: "idle" | "starting" | "running", error?: string}} */
    this.last = { state: "idle" };
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
    this.last = { state, error };
    const active = state !== "idle";
    this.button.setAttribute("aria-pressed", String(active));
    this.button.classList.toggle("active", active);
    this.setText(this.button, active ? "soundCheckStop" : "soundCheck");
    const reason = error || (state === "idle" ? this.blocked : "");
    const hint = reason ? `soundCheckError_${reason}` : { idle: "soundCheckHint", starting: "soundCheckStarting",
      running: "soundCheckRunning" }[state];
    this.button.disabled = !active && Boolean(this.blocked);
    this.setText(this.hint, this.i18n.has(hint) ? hint : "soundCheckError_failed");
    this.hint.classList.toggle("field-error", Boolean(reason));
    if (!active) this.audio.srcObject = null;
  }

  /**
   * Turn the button off, with the reason in its hint, or on again.
   * @param {string} reason "privacy" (privacy mode without a relay), or "" when it may run
   */
  setBlocked(reason) {
    if (reason === this.blocked) return;
    this.blocked = reason;
    this.setState(this.last.state, this.last.error);
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
