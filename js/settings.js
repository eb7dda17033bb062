// @ts-check
/**
 * The settings dialog: an extra STUN server, privacy mode and the language, kept in localStorage;
 * it also lists the STUN and TURN servers the call uses, and what this browser lacks.
 */
import { Events, emit } from "./events.js";
import { detectFeatures, featureNotes } from "./features.js";
import { Modal } from "./modal.js";

/** @typedef {import("./signaling.js").IceServer} IceServer */
/** @typedef {{kind: "stun" | "turn", host: string, transports: string[]}} IceHost */

/**
 * True for a STUN URL as RTCIceServer accepts it: stun: or stuns:, a host name, IPv4 or
 * bracketed IPv6 address, and an optional port (RFC 7064).
 * @param {string} url
 */
export function isStunUrl(url) {
  const match = /^stuns?:(\[[0-9a-f:.]+\]|[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*)(?::(\d{1,5}))?$/i
    .exec(url);
  return Boolean(match) && (match?.[2] === undefined || Number(match[2]) <= 65535 && Number(match[2]) > 0);
}

/**
 * The STUN and TURN hosts that ICE servers name, credentials left out: one entry per kind and host,
 * with the transports offered ("udp", "tcp", "tls"; STUN lists none).
 * @param {IceServer[]} servers
 * @returns {IceHost[]}
 */
export function iceHosts(servers) {
  /** @type {Map<string, IceHost>} */
  const hosts = new Map();
  for (const server of servers) {
    for (const url of Array.isArray(server.urls) ? server.urls : [server.urls]) {
      const match = /^(stuns?|turns?):(\[[^\]]+\]|[^:?]+)(?::\d+)?(?:\?transport=(udp|tcp))?$/i.exec(String(url).trim());
      if (!match) continue;
      const scheme = match[1].toLowerCase();
      const kind = scheme.startsWith("turn") ? "turn" : "stun";
      const host = match[2].toLowerCase();
      const entry = hosts.get(`${kind} ${host}`) || { kind, host, transports: [] };
      const transport = scheme === "turns" ? "tls" : (match[3] || "udp").toLowerCase();
      if (kind === "turn" && !entry.transports.includes(transport)) entry.transports.push(transport);
      hosts.set(`${kind} ${host}`, entry);
    }
  }
  return [...hosts.values()];
}

/**
 * @typedef {{stun: string, lang: string, privacy: boolean, turn?: boolean, servers?: IceServer[]}} Settings
 *   lang is "auto", "en" or "ru"; privacy is relay-only mode; turn says whether a TURN server exists;
 *   servers are the ICE servers the call uses
 */

export class SettingsDialog extends Modal {
  /** @param {import("./i18n.js").I18n} i18n */
  constructor(i18n) {
    super("settings-modal");
    this.i18n = i18n;
    this.form = /** @type {HTMLFormElement} */ (document.getElementById("settings-form"));
    this.stun = /** @type {HTMLInputElement} */ (document.getElementById("stun-url"));
    this.stunError = /** @type {HTMLElement} */ (document.getElementById("stun-error"));
    this.language = /** @type {HTMLSelectElement} */ (document.getElementById("language"));
    this.privacy = /** @type {HTMLInputElement} */ (document.getElementById("privacy-mode"));
    this.privacyHint = /** @type {HTMLElement} */ (document.getElementById("privacy-hint"));
    this.hosts = /** @type {HTMLElement} */ (document.getElementById("ice-hosts"));
    this.features = /** @type {HTMLElement} */ (document.getElementById("browser-features"));
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.save();
    });
    this.stun.addEventListener("input", () => this.setError(false));
  }

  /** @param {Settings} settings */
  show(settings) {
    this.stun.value = settings.stun;
    this.language.value = settings.lang;
    this.privacy.checked = settings.privacy;
    // Relay-only needs a TURN server; without one the switch would silently break every call.
    this.privacy.disabled = !settings.turn && !settings.privacy;
    this.privacyHint.dataset.i18n = settings.turn ? "privacyHint" : "privacyNoTurn";
    this.privacyHint.textContent = this.i18n.t(this.privacyHint.dataset.i18n);
    this.showHosts(settings.servers || []);
    this.showFeatures();
    this.setError(false);
    this.open();
  }

  /**
   * @private
   * @param {IceServer[]} servers
   */
  showHosts(servers) {
    const hosts = iceHosts(servers);
    const items = hosts.map(({ kind, host, transports }) => this.i18n.t(kind === "turn" ? "iceTurn" : "iceStun",
      { host, transports: transports.join(", ") }));
    this.hosts.replaceChildren(...(items.length ? items : [this.i18n.t("iceNone")]).map((text) => {
      const item = document.createElement("li");
      item.textContent = text;
      return item;
    }));
  }

  /**
   * What this browser lacks of what the call uses, in plain words (js/features.js).
   * @private
   */
  showFeatures() {
    this.features.replaceChildren(...featureNotes(detectFeatures()).map(({ key, ok }) => {
      const item = document.createElement("li");
      item.dataset.ok = String(ok);
      item.textContent = this.i18n.t(key);
      return item;
    }));
  }

  /** @private */
  save() {
    const stun = this.stun.value.trim();
    if (stun && !isStunUrl(stun)) {
      this.setError(true);
      this.stun.focus();
      return;
    }
    this.close();
    emit(this, Events.UI_SETTINGS, { stun, lang: this.language.value, privacy: this.privacy.checked });
  }

  /**
   * @private
   * @param {boolean} shown
   */
  setError(shown) {
    this.stunError.hidden = !shown;
    if (shown) {
      this.stunError.dataset.i18n = "stunInvalid";
      this.stunError.textContent = this.i18n.t("stunInvalid");
      this.stun.setAttribute("aria-invalid", "true");
    } else {
      this.stun.removeAttribute("aria-invalid");
    }
  }
}
