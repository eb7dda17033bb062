// @ts-check
/**
 * The secure-context notice: over plain http on a LAN address the browser hides the microphone,
 * so say why and how to fix it before anyone presses Join.
 */

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
    const localhost = `http://localhost${port}/`;
    const [before, after = ""] = this.i18n.t("insecureFix").split("{localhost}");
    const code = document.createElement("code");
    code.textContent = localhost;
    this.fix.replaceChildren(before, code, after);
  }
}
