// @ts-check
/** The status bar: the connection to the room, and a hint for what to do next. */

/** @typedef {import("./call.js").ConnectionState} ConnectionState */
/** @typedef {import("./call.js").CallState} CallState */

const CONNECTION_KEYS = Object.freeze({
  offline: "connOffline", connecting: "connConnecting", open: "connOpen",
  reconnecting: "connReconnecting", refused: "connRefused",
});

export class StatusBar {
  /** @param {import("./i18n.js").I18n} i18n */
  constructor(i18n) {
    this.i18n = i18n;
    this.bar = /** @type {HTMLElement} */ (document.getElementById("statusbar"));
    this.text = /** @type {HTMLElement} */ (document.getElementById("status-text"));
    this.hint = /** @type {HTMLElement} */ (document.getElementById("status-hint"));
    /** @type {ConnectionState} */
    this.connection = "offline";
    /** @type {CallState} */
    this.call = "idle";
    this.retryAt = 0;
    this.hasToken = false;
    this.peers = 0;
    this.audioBlocked = false;
    i18n.addEventListener("change", () => this.render());
  }

  /**
   * @param {Partial<{connection: ConnectionState, call: CallState, hasToken: boolean, peers: number,
   *   audioBlocked: boolean, retryIn: number}>} changes
   */
  set(changes) {
    const { retryIn, ...rest } = changes;
    Object.assign(this, rest);
    if (retryIn !== undefined) this.retryAt = Date.now() + retryIn;
    this.render();
  }

  /** @private */
  hintKey() {
    if (this.audioBlocked) return "hintAudioBlocked";
    if (this.connection === "reconnecting") return "hintReconnecting";
    if (this.connection === "refused") return "hintRefused";
    if (this.call === "connecting") return "hintConnecting";
    if (this.call === "live") return this.peers ? "hintLive" : "hintLiveAlone";
    if (!this.hasToken && this.connection === "offline") return "hintNoToken";
    return "hintIdle";
  }

  /** @private */
  render() {
    const t = this.i18n.t.bind(this.i18n);
    this.bar.dataset.connection = this.connection;
    this.bar.dataset.call = this.call;
    this.text.dataset.i18n = CONNECTION_KEYS[this.connection];
    this.text.textContent = t(this.text.dataset.i18n);
    const seconds = Math.max(0, Math.ceil((this.retryAt - Date.now()) / 1000));
    const key = this.hintKey();
    this.hint.textContent = key === "hintReconnecting" && seconds === 0 ? "" : t(key, { seconds });
  }
}
