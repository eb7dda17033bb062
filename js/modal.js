// @ts-check
/**
 * Dialogs: a Modal base on <dialog> (focus trapped inside, Esc closes, focus goes back where it
 * was), and the three notices the call can end in: room full, wrong token, not a browser.
 */
import { Events, emit } from "./events.js";

const FOCUSABLE = "button, [href], input, select, textarea, [tabindex]:not([tabindex='-1'])";

export class Modal extends EventTarget {
  /** @param {string} id the <dialog>'s id */
  constructor(id) {
    super();
    this.dialog = /** @type {HTMLDialogElement} */ (document.getElementById(id));
    /** @type {HTMLElement | null} */
    this.returnFocus = null;
    this.dialog.addEventListener("cancel", (event) => {
      // Esc: close through close() so that focus is restored the same way.
      event.preventDefault();
      this.close();
    });
    this.dialog.addEventListener("keydown", (event) => this.trap(event));
    this.dialog.addEventListener("click", (event) => {
      // A click on the backdrop lands on the dialog element itself.
      if (event.target === this.dialog) this.close();
    });
    for (const button of this.dialog.querySelectorAll("[data-close]")) {
      button.addEventListener("click", () => this.close());
    }
  }

  get isOpen() {
    return this.dialog.open;
  }

  open() {
    if (this.dialog.open) return;
    const active = document.activeElement;
    this.returnFocus = active instanceof HTMLElement && active !== document.body ? active : null;
    this.dialog.showModal();
    const first = this.dialog.querySelector("[autofocus]") || this.focusable()[0];
    if (first instanceof HTMLElement) first.focus();
  }

  /**
   * @param {HTMLElement | null} [focusTarget] where focus goes instead of where it came from
   */
  close(focusTarget = null) {
    if (!this.dialog.open) return;
    this.dialog.close();
    const target = focusTarget || this.returnFocus;
    this.returnFocus = null;
    if (target && target.isConnected && !target.closest("[hidden]")) target.focus();
    emit(this, "close");
  }

  /** @private */
  focusable() {
    return /** @type {HTMLElement[]} */ ([...this.dialog.querySelectorAll(FOCUSABLE)]).filter(
      (element) => !element.hasAttribute("disabled") && !element.closest("[hidden]"));
  }

  /**
   * Keep Tab and Shift+Tab inside the dialog.
   * @private
   * @param {KeyboardEvent} event
   */
  trap(event) {
    if (event.key !== "Tab") return;
    const items = this.focusable();
    if (!items.length) return;
    const first = items[0];
    const last = items[items.length - 1];
    const active = document.activeElement;
    if (event.shiftKey && (active === first || !this.dialog.contains(active))) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && (active === last || !this.dialog.contains(active))) {
      event.preventDefault();
      first.focus();
    }
  }
}

/** "The call is full": shows the capacity, offers to try again. */
export class FullModal extends Modal {
  /** @param {import("./i18n.js").I18n} i18n */
  constructor(i18n) {
    super("full-modal");
    this.i18n = i18n;
    this.capacity = 0;
    this.text = /** @type {HTMLElement} */ (document.getElementById("full-text"));
    this.badge = /** @type {HTMLElement} */ (document.getElementById("full-capacity"));
    /** @type {HTMLElement} */ (document.getElementById("full-retry")).addEventListener("click", () => {
      this.close();
      emit(this, Events.UI_RETRY);
    });
    i18n.addEventListener("change", () => this.render());
  }

  /** @param {number} capacity */
  show(capacity) {
    this.capacity = capacity;
    this.render();
    this.open();
  }

  /** @private */
  render() {
    this.badge.textContent = `${this.capacity}/${this.capacity}`;
    this.text.textContent = this.i18n.t("fullText", { capacity: this.capacity });
  }
}

/** "Wrong room token" (close 4401): offers to correct the token. */
export class TokenModal extends Modal {
  constructor() {
    super("token-modal");
    /** @type {HTMLElement} */ (document.getElementById("token-edit")).addEventListener("click", () => {
      emit(this, Events.UI_EDIT_TOKEN);
    });
  }
}

/** "Open this link in a web browser" (close 4400). */
export class BrowserOnlyModal extends Modal {
  constructor() {
    super("browser-modal");
  }
}
