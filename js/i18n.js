// @ts-check
/**
 * Strings by key from locales/<lang>.json; markup names its strings with data-i18n="key"
 * (text) and data-i18n-attr="aria-label:key;placeholder:key" (attributes).
 */

export const LANGUAGES = Object.freeze(["en", "ru"]);
const FALLBACK = "en";

/**
 * Which language to show: ?lang= wins, then the saved setting, then the browser's language.
 * @param {{query?: string | null, saved?: string, browser?: readonly string[]}} sources
 * @returns {string}
 */
export function pickLanguage({ query, saved, browser = [] }) {
  for (const candidate of [query, saved]) {
    if (candidate && LANGUAGES.includes(candidate)) return candidate;
  }
  for (const tag of browser) {
    const base = tag.toLowerCase().split("-")[0];
    if (LANGUAGES.includes(base)) return base;
  }
  return FALLBACK;
}

export class I18n extends EventTarget {
  constructor() {
    super();
    this.lang = FALLBACK;
    /** @type {Record<string, string>} */
    this.strings = {};
    /** @type {Record<string, string>} */
    this.fallback = {};
  }

  /**
   * Load a language and translate the document.
   * @param {string} lang
   */
  async use(lang) {
    if (!LANGUAGES.includes(lang)) lang = FALLBACK;
    if (!Object.keys(this.fallback).length) this.fallback = await fetchStrings(FALLBACK);
    this.strings = lang === FALLBACK ? this.fallback : await fetchStrings(lang);
    this.lang = lang;
    this.apply(document);
    document.documentElement.lang = lang;
    document.title = this.t("appTitle");
    this.dispatchEvent(new Event("change"));
  }

  /**
   * The string for `key`, with {placeholders} filled from `params`.
   * @param {string} key
   * @param {Record<string, string | number>} [params]
   */
  t(key, params = {}) {
    const template = this.strings[key] ?? this.fallback[key] ?? key;
    return template.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
  }

  /**
   * Translate every marked element under `root`.
   * @param {ParentNode} root
   */
  apply(root) {
    for (const element of root.querySelectorAll("[data-i18n]")) {
      const key = /** @type {HTMLElement} */ (element).dataset.i18n || "";
      // Without the strings (a failed fetch) the English text in the markup stays.
      if (this.has(key)) element.textContent = this.t(key);
    }
    for (const element of root.querySelectorAll("[data-i18n-attr]")) {
      const spec = /** @type {HTMLElement} */ (element).dataset.i18nAttr || "";
      for (const pair of spec.split(";")) {
        const [attribute, key] = pair.split(":").map((part) => part.trim());
        if (attribute && this.has(key)) element.setAttribute(attribute, this.t(key));
      }
    }
  }

  /** @param {string} key */
  has(key) {
    return key in this.strings || key in this.fallback;
  }
}

/** @param {string} lang */
async function fetchStrings(lang) {
  try {
    const response = await fetch(`locales/${lang}.json`, { cache: "no-cache" });
    if (!response.ok) return {};
    return await response.json();
  } catch {
    return {};
  }
}
