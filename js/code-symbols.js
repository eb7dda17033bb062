// @ts-check
/**
 * A verification code on screen: each symbol's emoji with its spoken name under it, and one
 * accessible name for the whole code made of those names ("dog, rocket, key, anchor"), so that it
 * can be read out, heard by ear, and read at all where no colour emoji font draws the pictures.
 * Used by the roster row and the Verify dialog alike.
 */
import { symbolKey } from "./verify-code.js";

/** @typedef {{t(key: string, params?: Record<string, string | number>): string}} Strings */

/**
 * The spoken names of a code's symbols, in this language.
 * @param {string[]} code emoji
 * @param {Strings} i18n
 */
export function spokenCode(code, i18n) {
  return code.map((emoji) => {
    const key = symbolKey(emoji);
    return key ? i18n.t(key) : emoji;
  });
}

/**
 * Fill `container` with the code, one `.code-symbol` per emoji (its picture hidden from screen
 * readers, its name shown under it), labelled as an image named by the spoken code.
 * @param {HTMLElement} container
 * @param {string[]} code emoji
 * @param {Strings} i18n
 * @param {string} [symbolClass] an extra class for each symbol (the dialog's large tiles)
 */
export function showCode(container, code, i18n, symbolClass = "") {
  const names = spokenCode(code, i18n);
  container.setAttribute("role", "img");
  container.setAttribute("aria-label", i18n.t("verifyCodeLabel", { code: names.join(", ") }));
  container.replaceChildren(...code.map((emoji, index) => {
    const symbol = document.createElement("span");
    symbol.className = symbolClass ? `code-symbol ${symbolClass}` : "code-symbol";
    const picture = document.createElement("span");
    picture.className = "code-emoji";
    picture.setAttribute("aria-hidden", "true");
    picture.textContent = emoji;
    const name = document.createElement("span");
    name.className = "code-name";
    name.textContent = names[index];
    symbol.append(picture, name);
    return symbol;
  }));
}
