// @ts-check
/**
 * The secure-context notice: over plain http on a LAN address the browser hides the microphone,
 * so say why and how to fix it before anyone presses Join.
 */

/**
 * Fill an element with a translated text whose {placeholders} become <code> elements.
 * @param {HTMLElement} element
 * @param {string} template the translated text, placeholders left in
 * @param {Record<string, string>} codes placeholder → the literal text shown as code
 */
export function fillWithCode(element, template, codes) {
  const parts = template.split(/\{(\w+)\}/);
  element.replaceChildren(...parts.map((part, index) => {
    if (index % 2 === 0 || !(part in codes)) return index % 2 === 0 ? part : `{${part}}`;
    const code = document.createElement("code");
    code.textContent = codes[part];
    return code;
  }));
}

export class InsecureNotice {
  /** @param {import("./i18n.js").I18n} i18n */
  constructor(i18n) {
    this.i18n = i18n;
    this.element = /** @type {HTMLElement} */ (document.getElementById("insecure-notice"));
    this.fix = /** @type {HTMLElement} */ (document.getElementById("insecure-fix"));
    i18n.addEventListener("change", () => this.render());
  }

  show() {
    this.element.hidden = false;
    this.render();
  }

  /** @private */
  render() {
    const port = location.port ? `:${location.port}` : "";
    fillWithCode(this.fix, this.i18n.t("insecureFix"), { localhost: `http://localhost${port}/` });
  }
}
