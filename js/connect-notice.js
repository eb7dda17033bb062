// @ts-check
/**
 * The "can't connect" notice: names the people no connection could be made to and says in plain
 * words what would help, which depends on whether a relay (TURN) server is configured. It clears
 * itself when the links come up (the mesh keeps retrying in the background).
 */
import { fillWithCode } from "./notice.js";

/** Literal settings the texts name, shown as code. */
const CODES = Object.freeze({
  turnFlag: "--turn", turnUrls: "TURN_URLS", tcp: "turn:…:3478?transport=tcp", tls: "turns:…:5349",
});

export class ConnectNotice {
  /** @param {import("./i18n.js").I18n} i18n */
  constructor(i18n) {
    this.i18n = i18n;
    this.element = /** @type {HTMLElement} */ (document.getElementById("connect-notice"));
    this.title = /** @type {HTMLElement} */ (document.getElementById("connect-notice-title"));
    this.text = /** @type {HTMLElement} */ (document.getElementById("connect-notice-text"));
    /** @type {Set<string>} ids of the participants no link could be made to */
    this.unreachable = new Set();
    /** @type {Map<string, string>} id → name of the remote participants */
    this.names = new Map();
    this.turn = false;
    i18n.addEventListener("change", () => this.render());
  }

  /** @param {import("./pathinfo.js").PathInfo} info */
  setPath(info) {
    if (info.unreachable) this.unreachable.add(info.id);
    else this.unreachable.delete(info.id);
    this.turn = info.turn;
    this.render();
  }

  /** @param {import("./call.js").Participant[]} participants */
  setParticipants(participants) {
    this.names = new Map(participants.filter((p) => !p.self).map((p) => [p.id, p.name]));
    for (const id of this.unreachable) if (!this.names.has(id)) this.unreachable.delete(id);
    this.render();
  }

  /** Out of the call: nothing to explain. */
  clear() {
    this.unreachable.clear();
    this.render();
  }

  /** @private */
  render() {
    const names = [...this.unreachable].map((id) => this.names.get(id)).filter((name) => name !== undefined);
    this.element.hidden = names.length === 0;
    this.element.dataset.turn = String(this.turn);
    if (!names.length) return;
    const t = this.i18n.t.bind(this.i18n);
    const list = new Intl.ListFormat(this.i18n.lang, { type: "conjunction" }).format(/** @type {string[]} */ (names));
    this.title.textContent = t("cantConnectTitle", { names: list });
    fillWithCode(this.text, t(this.turn ? "cantConnectRelay" : "cantConnectNoTurn"), CODES);
  }
}
