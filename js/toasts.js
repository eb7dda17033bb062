// @ts-check
/** Short notices in a corner: who joined or left, and errors. They go away by themselves. */

const MAX_TOASTS = 4;
const DURATION = Object.freeze({ info: 4000, join: 4000, leave: 4000, success: 3500, error: 8000 });

export class Toasts {
  constructor() {
    this.container = /** @type {HTMLElement} */ (document.getElementById("toasts"));
  }

  /**
   * @param {string} text shown as text, never parsed as markup
   * @param {"info" | "join" | "leave" | "success" | "error"} [kind]
   */
  show(text, kind = "info") {
    const toast = document.createElement("div");
    toast.className = `toast toast-${kind}`;
    // The container is a polite live region; errors interrupt.
    if (kind === "error") toast.setAttribute("role", "alert");
    const dot = document.createElement("span");
    dot.className = "toast-dot";
    dot.setAttribute("aria-hidden", "true");
    const body = document.createElement("span");
    body.className = "toast-text";
    body.textContent = text;
    toast.append(dot, body);
    this.container.append(toast);
    while (this.container.children.length > MAX_TOASTS) this.container.firstElementChild?.remove();
    const timer = setTimeout(() => this.dismiss(toast), DURATION[kind]);
    toast.addEventListener("click", () => {
      clearTimeout(timer);
      this.dismiss(toast);
    });
    return toast;
  }

  /**
   * @private
   * @param {HTMLElement} toast
   */
  dismiss(toast) {
    if (!toast.isConnected) return;
    toast.classList.add("leaving");
    const done = () => toast.remove();
    toast.addEventListener("animationend", done, { once: true });
    // With animations off there is no animationend.
    setTimeout(done, 400);
  }
}
