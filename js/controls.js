// @ts-check
/**
 * The call card: the join form (name, room token), the one Join/Leave toggle, the self-mute
 * button, inline messages, and the reconnecting banner.
 */
import { Events, emit } from "./events.js";
import { cleanName } from "./names.js";

/** The page's name rule lives in names.js (it mirrors the server's); kept importable from here. */
export { cleanName };

/** @typedef {import("./call.js").CallState} CallState */

const BUTTON_LABELS = Object.freeze({
  idle: "join", connecting: "connecting", live: "leave", reconnecting: "leave",
});
const TITLES = Object.freeze({
  idle: "titleIdle", connecting: "titleConnecting", live: "titleLive", reconnecting: "titleReconnecting",
});
const LEADS = Object.freeze({
  idle: "leadIdle", connecting: "leadConnecting", live: "leadLive", reconnecting: "leadReconnecting",
});

export class CallControls extends EventTarget {
  /** @param {import("./i18n.js").I18n} i18n */
  constructor(i18n) {
    super();
    this.i18n = i18n;
    const byId = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
    this.card = byId("call-card");
    this.form = /** @type {HTMLFormElement} */ (byId("join-form"));
    this.fields = /** @type {HTMLFieldSetElement} */ (byId("join-fields"));
    this.name = /** @type {HTMLInputElement} */ (byId("name"));
    this.token = /** @type {HTMLInputElement} */ (byId("token"));
    this.tokenHint = byId("token-hint");
    this.nameError = byId("name-error");
    this.tokenError = byId("token-error");
    this.button = /** @type {HTMLButtonElement} */ (byId("join-button"));
    this.buttonLabel = byId("join-label");
    this.muteButton = /** @type {HTMLButtonElement} */ (byId("mute-button"));
    this.message = byId("form-message");
    this.title = byId("call-title");
    this.lead = byId("call-lead");
    this.banner = byId("reconnect-banner");
    /** @type {CallState} */
    this.state = "idle";
    this.muted = false;
    /** @type {{key: string, params: Record<string, string | number>} | null} */
    this.shownMessage = null;

    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    this.muteButton.addEventListener("click", () => emit(this, Events.UI_SELF_MUTE, { muted: !this.muted }));
    for (const input of [this.name, this.token]) {
      input.addEventListener("input", () => this.clearFieldError(input));
    }
    i18n.addEventListener("change", () => this.render());
  }

  /** @private */
  submit() {
    if (this.state !== "idle") {
      emit(this, Events.UI_LEAVE);
      return;
    }
    const name = cleanName(this.name.value);
    const token = this.token.value;
    this.clearMessage();
    this.setFieldError(this.name, this.nameError, name ? "" : "errNameEmpty");
    this.setFieldError(this.token, this.tokenError, token ? "" : "errTokenEmpty");
    if (!name) {
      this.name.focus();
      return;
    }
    if (!token) {
      this.token.focus();
      return;
    }
    emit(this, Events.UI_JOIN, { name, token });
  }

  /**
   * @param {CallState} state
   */
  setState(state) {
    this.state = state;
    const focusInFields = this.fields.contains(document.activeElement);
    this.render();
    // The fields lock during a call: keep the keyboard user on the toggle instead of nowhere.
    if (focusInFields && state !== "idle") this.button.focus();
  }

  /** @param {boolean} muted */
  setSelfMuted(muted) {
    this.muted = muted;
    this.render();
  }

  /**
   * @param {string} name
   * @param {string} token
   * @param {boolean} fromInvite
   */
  fill(name, token, fromInvite) {
    this.name.value = name;
    this.token.value = token;
    this.tokenHint.dataset.i18n = fromInvite && token ? "tokenFromLink" : "tokenHint";
    this.i18n.apply(this.tokenHint.parentElement || this.tokenHint);
  }

  /** Put the caret where the user most likely types next. */
  focusFirstEmpty() {
    if (this.state !== "idle") return;
    if (!this.name.value) this.name.focus();
    else if (!this.token.value) this.token.focus();
  }

  focusToken() {
    this.token.focus();
    this.token.select();
  }

  /**
   * Show a message under the form (key into the locale, with parameters).
   * @param {string} key
   * @param {Record<string, string | number>} [params]
   */
  showMessage(key, params = {}) {
    this.shownMessage = { key, params };
    this.render();
  }

  clearMessage() {
    this.shownMessage = null;
    this.render();
  }

  /**
   * @private
   * @param {HTMLInputElement} input
   * @param {HTMLElement} error
   * @param {string} key
   */
  setFieldError(input, error, key) {
    error.hidden = !key;
    if (key) {
      error.dataset.i18n = key;
      error.textContent = this.i18n.t(key);
      input.setAttribute("aria-invalid", "true");
    } else {
      delete error.dataset.i18n;
      input.removeAttribute("aria-invalid");
    }
  }

  /**
   * @private
   * @param {HTMLInputElement} input
   */
  clearFieldError(input) {
    this.setFieldError(input, input === this.name ? this.nameError : this.tokenError, "");
  }

  /** @private */
  render() {
    const t = this.i18n.t.bind(this.i18n);
    const state = this.state;
    this.card.dataset.state = state;
    this.button.dataset.state = state;
    this.button.setAttribute("aria-busy", String(state === "connecting"));
    setKey(this.buttonLabel, BUTTON_LABELS[state], t);
    setKey(this.title, TITLES[state], t);
    setKey(this.lead, LEADS[state], t);
    this.fields.disabled = state !== "idle";
    this.banner.hidden = state !== "reconnecting";
    this.muteButton.hidden = state !== "live" && state !== "reconnecting";
    this.muteButton.setAttribute("aria-pressed", String(this.muted));
    const muteLabel = t(this.muted ? "unmuteMic" : "muteMic");
    this.muteButton.setAttribute("aria-label", muteLabel);
    this.muteButton.title = muteLabel;
    this.message.hidden = !this.shownMessage;
    this.message.textContent = this.shownMessage ? t(this.shownMessage.key, this.shownMessage.params) : "";
  }
}

/**
 * Set an element's text from a locale key (and remember the key for a language switch).
 * @param {HTMLElement} element
 * @param {string} key
 * @param {(key: string) => string} t
 */
function setKey(element, key, t) {
  element.dataset.i18n = key;
  element.textContent = t(key);
}
