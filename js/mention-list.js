// @ts-check
/**
 * The @mention list of the chat composer: an ARIA combobox on the text box, listing the people
 * whose names start with the "@query" at the caret. Arrow keys move, Enter or Tab picks, Esc closes
 * it for that "@" only. A pick puts "@Name " in place of the query and remembers whom it means, so
 * that the message can say which ids it mentions (js/mentions.js has the pure text rules).
 */
import { element } from "./dom.js";
import { insertMention, matchPeople, mentionAt } from "./mentions.js";
import { idTag, initials } from "./names.js";

/** @typedef {import("./mentions.js").Person} Person */
/** @typedef {import("./mentions.js").MentionQuery} MentionQuery */

const MAX_OPTIONS = 8;


/** Emits "change" after a pick has rewritten the text box's value. */
export class MentionList extends EventTarget {
  /**
   * @param {HTMLTextAreaElement} input the composer, which keeps the focus
   * @param {HTMLElement} list the listbox under it
   */
  constructor(input, list) {
    super();
    this.input = input;
    this.list = list;
    /** @type {Person[]} the others, whom @ can mention */
    this.people = [];
    /** @type {Person[]} the people picked from the list for the message being written */
    this.picked = [];
    /** @type {MentionQuery | null} the "@query" the open list is for */
    this.mention = null;
    /** @type {Person[]} */
    this.options = [];
    this.active = 0;
    /** The "@" whose list was closed with Esc (or just used): it stays closed. */
    this.dismissedAt = -1;
    input.addEventListener("keyup", (event) => {
      if (["ArrowLeft", "ArrowRight", "Home", "End"].includes(event.key) ||
          (!this.mention && ["ArrowUp", "ArrowDown"].includes(event.key))) this.update();
    });
    input.addEventListener("click", () => this.update());
    input.addEventListener("blur", () => this.close());
    // The input keeps focus (and its caret) while the list is clicked or scrolled.
    list.addEventListener("mousedown", (event) => event.preventDefault());
  }

  /** @param {Person[]} people */
  setPeople(people) {
    this.people = people;
    if (this.mention) this.update();
  }

  /**
   * A key in the text box: true when the open list used it.
   * @param {KeyboardEvent} event
   */
  keydown(event) {
    if (!this.mention) return false;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      this.moveActive(event.key === "ArrowDown" ? 1 : -1);
    } else if ((event.key === "Enter" || event.key === "Tab") && !event.shiftKey) {
      this.pick(this.active);
    } else if (event.key === "Escape") {
      // Only the list closes: no dialog or panel around the chat may see this Esc.
      event.stopPropagation();
      this.dismissedAt = this.mention.start;
      this.close();
    } else {
      return false;
    }
    event.preventDefault();
    return true;
  }

  /** Open, filter or close the list for the "@query" at the caret. */
  update() {
    const { value, selectionStart, selectionEnd } = this.input;
    const typing = document.activeElement === this.input && selectionStart === selectionEnd;
    const found = typing ? mentionAt(value, selectionStart) : null;
    if (!found || found.start !== this.dismissedAt) this.dismissedAt = -1;
    if (!found || this.dismissedAt >= 0) {
      this.close();
      return;
    }
    const options = matchPeople(this.people, found.query).slice(0, MAX_OPTIONS);
    if (!options.length) {
      this.close();
      return;
    }
    const activeId = this.mention ? this.options[this.active]?.id : undefined;
    this.mention = found;
    this.options = options;
    this.active = Math.max(0, options.findIndex((person) => person.id === activeId));
    this.render();
  }

  close() {
    this.mention = null;
    this.options = [];
    this.list.hidden = true;
    this.list.replaceChildren();
    this.input.setAttribute("aria-expanded", "false");
    this.input.removeAttribute("aria-activedescendant");
  }

  /** @private */
  render() {
    this.list.replaceChildren(...this.options.map((person, index) => {
      const option = element("li", "chat-mention");
      option.id = `chat-mention-${person.id}`;
      option.setAttribute("role", "option");
      option.setAttribute("aria-selected", String(index === this.active));
      option.dataset.peerId = person.id;
      const avatar = element("span", "chat-mention-avatar", initials(person.name));
      avatar.setAttribute("aria-hidden", "true");
      const id = element("span", "chat-mention-id", idTag(person.id));
      id.setAttribute("aria-hidden", "true");
      option.append(avatar, element("span", "chat-mention-name", person.name), id);
      option.addEventListener("click", () => this.pick(index));
      return option;
    }));
    this.list.hidden = false;
    this.input.setAttribute("aria-expanded", "true");
    this.showActive();
  }

  /** @private */
  showActive() {
    [...this.list.children].forEach((option, index) => {
      option.setAttribute("aria-selected", String(index === this.active));
    });
    const option = this.list.children[this.active];
    if (option) {
      this.input.setAttribute("aria-activedescendant", option.id);
      option.scrollIntoView({ block: "nearest" });
    }
  }

  /**
   * @private
   * @param {number} step
   */
  moveActive(step) {
    const count = this.options.length;
    this.active = (this.active + step + count) % count;
    this.showActive();
  }

  /**
   * Put "@Name " in place of the "@query" and remember whom it means.
   * @private
   * @param {number} index
   */
  pick(index) {
    const person = this.options[index];
    const mention = this.mention;
    if (!person || !mention) return;
    const caret = this.input.selectionStart;
    const result = insertMention(this.input.value, mention.start, caret, person.name);
    this.input.value = result.text;
    this.input.setSelectionRange(result.caret, result.caret);
    this.picked.push({ id: person.id, name: person.name });
    this.dismissedAt = mention.start;
    this.dispatchEvent(new Event("change"));
  }
}
