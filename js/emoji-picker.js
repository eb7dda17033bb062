// @ts-check
/**
 * The emoji picker beside the chat input: a grid of common emoji behind a button. Arrow keys move
 * in the grid (one tab stop); a click or Enter inserts and leaves the picker open for more; Esc,
 * the close button or a click outside close it, and focus goes back to the input.
 */
import { emit } from "./events.js";

/** Each emoji with the locale key of its accessible name, in rows of COLUMNS (TOUCH_COLUMNS for fingers). */
export const EMOJI = Object.freeze([
  ["😀", "emojiGrinning"], ["😂", "emojiJoy"], ["🙂", "emojiSmile"], ["😉", "emojiWink"],
  ["😊", "emojiBlush"], ["😍", "emojiHeartEyes"], ["😎", "emojiCool"], ["🤔", "emojiThinking"],
  ["😅", "emojiSweatSmile"], ["🥳", "emojiParty"], ["😮", "emojiSurprised"], ["😢", "emojiCry"],
  ["😭", "emojiSob"], ["😡", "emojiAngry"], ["😴", "emojiSleeping"], ["🙈", "emojiSeeNoEvil"],
  ["👍", "emojiThumbsUp"], ["👎", "emojiThumbsDown"], ["👏", "emojiClap"], ["🙌", "emojiRaisedHands"],
  ["🙏", "emojiPray"], ["👋", "emojiWave"], ["💪", "emojiMuscle"], ["🤝", "emojiHandshake"],
  ["👀", "emojiEyes"], ["👌", "emojiOk"], ["✌️", "emojiVictory"], ["🤞", "emojiCrossedFingers"],
  ["❤️", "emojiHeart"], ["💔", "emojiBrokenHeart"], ["🔥", "emojiFire"], ["✨", "emojiSparkles"],
  ["🎉", "emojiTada"], ["💯", "emojiHundred"], ["✅", "emojiCheck"], ["❌", "emojiCross"],
  ["⚠️", "emojiWarning"], ["❓", "emojiQuestion"], ["💡", "emojiBulb"], ["⭐", "emojiStar"],
  ["☕", "emojiCoffee"], ["🍕", "emojiPizza"], ["🎂", "emojiCake"], ["🎵", "emojiMusic"],
  ["🎧", "emojiHeadphones"], ["🎤", "emojiMicrophone"], ["📞", "emojiPhone"], ["🚀", "emojiRocket"],
].map(([emoji, key]) => Object.freeze({ emoji, key })));

export const COLUMNS = 8;
/** Where a finger picks (a coarse pointer), fewer and bigger: each a 44 px target even on a phone. */
export const TOUCH_COLUMNS = 6;
/** The same query as css/touch.css, which draws the rows this many wide. */
const COARSE = "(pointer: coarse)";

/** What a click outside may land on and keep focus for itself. */
const FOCUSABLE = "button, [href], input, select, textarea, [tabindex]";

export class EmojiPicker extends EventTarget {
  /**
   * @param {import("./i18n.js").I18n} i18n
   * @param {{toggle: HTMLButtonElement, panel: HTMLElement, grid: HTMLElement, closeButton: HTMLButtonElement,
   *   returnFocus: HTMLElement}} elements
   */
  constructor(i18n, { toggle, panel, grid, closeButton, returnFocus }) {
    super();
    this.i18n = i18n;
    this.toggle = toggle;
    this.panel = panel;
    this.grid = grid;
    this.closeButton = closeButton;
    this.returnFocus = returnFocus;
    /** @type {HTMLButtonElement[]} */
    this.buttons = [];
    /** The button that holds the grid's one tab stop. */
    this.current = 0;
    this.coarse = matchMedia(COARSE);
    this.columns = COLUMNS;
    this.build();
    this.coarse.addEventListener("change", () => this.layout());
    this.onMouseDown = (/** @type {MouseEvent} */ event) => this.mouseDown(event);

    toggle.addEventListener("click", () => (this.isOpen ? this.close() : this.open()));
    closeButton.addEventListener("click", () => this.close());
    panel.addEventListener("keydown", (event) => this.keydown(event));
    panel.addEventListener("focusout", (event) => {
      // Tabbing away closes the picker; focus stays where the user took it.
      const next = /** @type {Node | null} */ (event.relatedTarget);
      if (next && !panel.contains(next) && !toggle.contains(next)) this.close({ refocus: false });
    });
    i18n.addEventListener("change", () => this.label());
  }

  get isOpen() {
    return !this.panel.hidden;
  }

  open() {
    if (this.isOpen) return;
    this.panel.hidden = false;
    this.toggle.setAttribute("aria-expanded", "true");
    document.addEventListener("mousedown", this.onMouseDown, true);
    this.buttons[this.current]?.focus();
    emit(this, "open");
  }

  /** @param {{refocus?: boolean}} [options] refocus: put focus back in the input */
  close({ refocus = true } = {}) {
    if (!this.isOpen) return;
    this.panel.hidden = true;
    this.toggle.setAttribute("aria-expanded", "false");
    document.removeEventListener("mousedown", this.onMouseDown, true);
    if (refocus) this.returnFocus.focus();
  }

  /** @private */
  build() {
    EMOJI.forEach(({ emoji }, index) => {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "emoji";
      button.textContent = emoji;
      button.tabIndex = index === 0 ? 0 : -1;
      button.addEventListener("click", () => {
        this.moveTo(index, false);
        emit(this, "pick", { emoji });
      });
      this.buttons.push(button);
    });
    this.layout();
    this.label();
  }

  /**
   * Puts the buttons in rows as wide as the pointer wants; the arrow keys follow the rows.
   * @private
   */
  layout() {
    this.columns = this.coarse.matches ? TOUCH_COLUMNS : COLUMNS;
    /** @type {HTMLElement[]} */
    const rows = [];
    this.buttons.forEach((button, index) => {
      if (index % this.columns === 0) {
        const row = document.createElement("div");
        row.className = "emoji-row";
        row.setAttribute("role", "row");
        rows.push(row);
      }
      const cell = button.parentElement || document.createElement("span");
      cell.className = "emoji-cell";
      cell.setAttribute("role", "gridcell");
      cell.append(button);
      rows[rows.length - 1].append(cell);
    });
    this.grid.replaceChildren(...rows);
  }

  /** @private */
  label() {
    this.buttons.forEach((button, index) => {
      const name = this.i18n.t(EMOJI[index].key);
      button.setAttribute("aria-label", name);
      button.title = name;
    });
  }

  /**
   * @private
   * @param {number} index
   * @param {boolean} [focus]
   */
  moveTo(index, focus = true) {
    const last = this.buttons.length - 1;
    const next = Math.max(0, Math.min(last, index));
    this.buttons[this.current].tabIndex = -1;
    this.current = next;
    this.buttons[next].tabIndex = 0;
    if (focus) this.buttons[next].focus();
  }

  /**
   * @private
   * @param {KeyboardEvent} event
   */
  keydown(event) {
    if (event.key === "Escape") {
      // Only the picker closes: nothing around it should see this Esc.
      event.preventDefault();
      event.stopPropagation();
      this.close();
      return;
    }
    const index = this.buttons.indexOf(/** @type {HTMLButtonElement} */ (event.target));
    if (index < 0) return;
    const columns = this.columns;
    const rowStart = index - (index % columns);
    /** @type {Record<string, number>} */
    const moves = {
      ArrowRight: index + 1,
      ArrowLeft: index - 1,
      ArrowDown: index + columns <= this.buttons.length - 1 ? index + columns : index,
      ArrowUp: index - columns >= 0 ? index - columns : index,
      Home: event.ctrlKey ? 0 : rowStart,
      End: event.ctrlKey ? this.buttons.length - 1 : Math.min(rowStart + columns - 1, this.buttons.length - 1),
    };
    if (!(event.key in moves)) return;
    event.preventDefault();
    this.moveTo(moves[event.key]);
  }

  /**
   * @private
   * @param {MouseEvent} event
   */
  mouseDown(event) {
    const target = event.target;
    if (!(target instanceof Node) || this.panel.contains(target) || this.toggle.contains(target)) return;
    // A click on another control gives it focus; a click on nothing in particular goes back to
    // typing (and must not blur the input, which is the mousedown's default).
    const control = target instanceof Element && target.closest(FOCUSABLE);
    if (!control) event.preventDefault();
    this.close({ refocus: !control });
  }
}
