// @ts-check
/**
 * The Verify dialog: one participant's verification code, large, with what to do with it (read it
 * aloud to each other) and what it protects. The person answers "they match" or "they differ";
 * app.js hands that to the Verifier, whose news comes back through update().
 */
import { Events, emit } from "./events.js";
import { showCode } from "./code-symbols.js";
import { Modal } from "./modal.js";

/** @typedef {import("./verify.js").PeerCode} PeerCode */

/** The note under the code, by status: [title key, text key]. */
const NOTES = Object.freeze({
  verified: ["verifyVerifiedTitle", "verifyVerifiedText"],
  changed: ["verifyChangedTitle", "verifyChangedText"],
  mismatch: ["verifyMismatchTitle", "verifyMismatchText"],
});

export class VerifyDialog extends Modal {
  /** @param {import("./i18n.js").I18n} i18n */
  constructor(i18n) {
    super("verify-modal");
    this.i18n = i18n;
    /** @type {PeerCode | null} */
    this.peer = null;
    const find = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
    this.title = find("verify-title");
    this.code = find("verify-code");
    this.how = find("verify-how");
    this.why = find("verify-why");
    this.note = find("verify-note");
    this.noteTitle = find("verify-note-title");
    this.noteText = find("verify-note-text");
    this.matchButton = find("verify-match");
    find("verify-differ").addEventListener("click", () => this.answer(false));
    this.matchButton.addEventListener("click", () => this.answer(true));
    i18n.addEventListener("change", () => this.render());
  }

  /** @param {PeerCode} peer */
  show(peer) {
    if (!peer.code) return;
    this.peer = peer;
    this.render();
    this.open();
  }

  /**
   * News about some participant's code; the open dialog follows it if it is theirs.
   * @param {PeerCode} peer
   */
  update(peer) {
    if (!this.isOpen || !this.peer || this.peer.id !== peer.id) return;
    if (!peer.code) {
      // The link closed (they left): there is nothing left to compare.
      this.close();
      return;
    }
    this.peer = peer;
    this.render();
  }

  /**
   * @private
   * @param {boolean} match
   */
  answer(match) {
    if (!this.peer) return;
    emit(this, Events.UI_VERIFY_RESULT, { id: this.peer.id, match });
    if (match) this.close();
  }

  /** @private */
  render() {
    const peer = this.peer;
    if (!peer || !peer.code) return;
    const t = this.i18n.t.bind(this.i18n);
    const name = peer.name;
    this.title.textContent = t("verifyTitle", { name });
    showCode(this.code, peer.code, this.i18n, "verify-tile");
    this.how.textContent = t("verifyHow", { name });
    this.why.textContent = t("verifyWhy", { name });
    const note = NOTES[/** @type {keyof NOTES} */ (peer.status)];
    this.note.hidden = !note;
    this.note.dataset.status = peer.status;
    if (note) {
      this.noteTitle.textContent = t(note[0]);
      this.noteText.textContent = t(note[1], { name });
    }
    this.matchButton.hidden = peer.status === "verified";
    this.dialog.dataset.status = peer.status;
  }
}
