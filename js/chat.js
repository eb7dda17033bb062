// @ts-check
/**
 * The chat card: the message log (each message with its sender's name, local time and text, own
 * messages set apart, @mentions of me highlighted), the composer with its @mention list (an ARIA
 * combobox, js/mention-list.js) and emoji picker, the length counter, and the collapse toggle. Everything people typed
 * goes in as text nodes. It never sees the socket: it emits UI_CHAT_SEND and app.js sends.
 */
import { element } from "./dom.js";
import { EmojiPicker } from "./emoji-picker.js";
import { Events, emit } from "./events.js";
import { MentionList } from "./mention-list.js";
import { mentionedIds, splitMentions } from "./mentions.js";
import { idTag } from "./names.js";

/** @typedef {import("./mentions.js").Person} Person */
/** @typedef {import("./signaling.js").ChatMessage} ChatMessage */
/** @typedef {import("./call.js").Participant} Participant */
/** @typedef {import("./call.js").CallState} CallState */

/** The server's limit, in code points after trimming (docs/PROTOCOL.md, chat). */
export const MAX_CHAT = 2000;
/** From here on the counter warns. */
const WARN_AT = 1800;
/** A flood must not grow the page without end: the oldest messages go first. */
const MAX_HISTORY = 1000;
/** Scrolled this close to the end counts as reading the newest messages. */
const NEAR_END_PX = 40;
const MAX_INPUT_PX = 168;

/** The toast for a refused chat message, by the server's error code. */
export const CHAT_ERRORS = Object.freeze({
  "too-long": "errChatTooLong", "rate-limited": "errChatRateLimited", "not-joined": "errChatNotJoined",
  "bad-message": "errChatBadMessage",
});

/** The browser's locale decides how times look; the language of the page does not. */
const TIME = new Intl.DateTimeFormat(undefined, { hour: "numeric", minute: "2-digit" });
const FULL_TIME = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

/**
 * How many characters the server counts: code points, as Python's len() does.
 * @param {string} text
 */
export function charCount(text) {
  let count = 0;
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (code >= 0xd800 && code <= 0xdbff && index + 1 < text.length) {
      const next = text.charCodeAt(index + 1);
      if (next >= 0xdc00 && next <= 0xdfff) index++;
    }
    count++;
  }
  return count;
}

/**
 * The start of a message, for a toast.
 * @param {string} text
 * @param {number} [max] code points
 */
export function excerpt(text, max = 80) {
  const chars = Array.from(text.replace(/\s+/g, " ").trim());
  return chars.length > max ? `${chars.slice(0, max - 1).join("")}…` : chars.join("");
}

export class ChatPanel extends EventTarget {
  /** @param {import("./i18n.js").I18n} i18n */
  constructor(i18n) {
    super();
    this.i18n = i18n;
    const byId = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
    this.card = byId("chat-card");
    this.toggle = /** @type {HTMLButtonElement} */ (byId("chat-toggle"));
    this.unreadBadge = byId("chat-unread");
    this.body = byId("chat-body");
    this.log = byId("chat-log");
    this.empty = byId("chat-empty");
    this.newButton = /** @type {HTMLButtonElement} */ (byId("chat-new"));
    this.form = /** @type {HTMLFormElement} */ (byId("chat-form"));
    this.input = /** @type {HTMLTextAreaElement} */ (byId("chat-input"));
    this.sendButton = /** @type {HTMLButtonElement} */ (byId("chat-send"));
    this.counter = byId("chat-counter");
    this.counterText = byId("chat-counter-text");
    this.counterSpoken = byId("chat-counter-spoken");
    this.tooLong = byId("chat-too-long");

    /** @type {Map<string, string>} id → name of everyone seen in this call, to render mentions */
    this.names = new Map();
    this.expanded = true;
    /** Messages that came while the chat was collapsed. */
    this.unread = 0;
    /** The log is on screen (not scrolled off the page). */
    this.onScreen = false;
    this.lastSent = { text: "", picked: /** @type {Person[]} */ ([]) };

    this.mentions = new MentionList(this.input, byId("chat-mentions"));
    this.mentions.addEventListener("change", () => this.refresh());
    this.picker = new EmojiPicker(i18n, {
      toggle: /** @type {HTMLButtonElement} */ (byId("emoji-button")),
      panel: byId("emoji-picker"),
      grid: byId("emoji-grid"),
      closeButton: /** @type {HTMLButtonElement} */ (byId("emoji-close")),
      returnFocus: this.input,
    });
    this.picker.addEventListener("pick", (event) => {
      this.insertAtCaret(/** @type {CustomEvent} */ (event).detail.emoji);
    });
    this.picker.addEventListener("open", () => this.mentions.close());

    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.send();
    });
    this.input.addEventListener("input", () => this.refresh());
    this.input.addEventListener("keydown", (event) => this.keydown(event));
    this.toggle.addEventListener("click", () => this.setExpanded(!this.expanded));
    this.newButton.addEventListener("click", () => this.scrollToEnd());
    this.log.addEventListener("scroll", () => {
      if (this.nearEnd()) this.newButton.hidden = true;
    });
    new IntersectionObserver((entries) => {
      for (const entry of entries) this.onScreen = entry.isIntersecting && entry.intersectionRatio >= 0.2;
    }, { threshold: [0, 0.2, 0.5, 1] }).observe(this.log);
    i18n.addEventListener("change", () => this.render());
    this.refresh();
    this.render();
  }

  /**
   * Shown in the call only; a new call starts with an empty chat.
   * @param {CallState} state
   */
  setCallState(state) {
    const inCall = state === "live" || state === "reconnecting";
    if (state === "idle" || state === "connecting") this.clear();
    const appears = inCall && this.card.hidden;
    this.card.hidden = !inCall;
    if (appears) this.scrollToEnd();
  }

  /** @param {Participant[]} participants */
  setParticipants(participants) {
    this.mentions.setPeople(participants.filter((participant) => !participant.self).map(({ id, name }) => ({ id, name })));
    for (const { id, name } of participants) this.names.set(id, name);
  }

  /**
   * Show a relayed message.
   * @param {ChatMessage} message
   * @param {string} selfId this tab's id now
   * @returns {{own: boolean, mentionsMe: boolean}}
   */
  add(message, selfId) {
    if (typeof message.text !== "string" || typeof message.from !== "string") return { own: false, mentionsMe: false };
    const own = message.from === selfId;
    const mentions = Array.isArray(message.mentions) ? message.mentions.filter((id) => typeof id === "string") : [];
    const mentionsMe = !own && mentions.includes(selfId);
    const ts = Number.isFinite(message.ts) ? message.ts : Date.now();
    const name = typeof message.name === "string" ? message.name : "";
    if (name) this.names.set(message.from, name);

    const item = element("div", "chat-message");
    item.classList.toggle("own", own);
    item.classList.toggle("mentions-me", mentionsMe);
    item.dataset.from = message.from;
    const meta = element("div", "chat-meta");
    const time = /** @type {HTMLTimeElement} */ (element("time", "chat-time", TIME.format(ts)));
    time.dateTime = new Date(ts).toISOString();
    time.title = FULL_TIME.format(ts);
    meta.append(element("span", "chat-name", name), element("span", "chat-tag", idTag(message.from)), time);
    if (mentionsMe) meta.append(element("span", "chat-chip", this.i18n.t("chatMentionsYou")));
    const body = element("p", "chat-text");
    const people = mentions.flatMap((id) => (this.names.has(id) ? [{ id, name: this.names.get(id) || "" }] : []));
    for (const segment of splitMentions(message.text, people)) {
      if (segment.id) {
        const mark = element("mark", segment.id === selfId ? "mention mention-self" : "mention", segment.text);
        body.append(mark);
      } else {
        body.append(document.createTextNode(segment.text));
      }
    }
    item.append(meta, body);

    const follow = own || this.nearEnd();
    this.log.append(item);
    while (this.log.childElementCount > MAX_HISTORY) this.log.firstElementChild?.remove();
    this.empty.hidden = true;
    if (follow) this.scrollToEnd();
    else this.newButton.hidden = false;
    if (!this.expanded && !own) {
      this.unread += 1;
      this.renderUnread();
    }
    return { own, mentionsMe };
  }

  /**
   * A line from the page itself among the messages (someone took another name).
   * @param {string} text
   */
  notice(text) {
    const follow = this.nearEnd();
    this.log.append(element("p", "chat-notice", text));
    while (this.log.childElementCount > MAX_HISTORY) this.log.firstElementChild?.remove();
    this.empty.hidden = true;
    if (follow) this.scrollToEnd();
    else this.newButton.hidden = false;
  }

  /** Whether someone would notice a new message: the chat is open, on screen, in a visible page. */
  inView() {
    return !this.card.hidden && this.expanded && this.onScreen && document.visibilityState === "visible";
  }

  /** The message went out: empty the composer (kept aside in case the server refuses it). */
  sent() {
    this.lastSent = { text: this.input.value, picked: this.mentions.picked };
    this.input.value = "";
    this.mentions.picked = [];
    this.refresh();
  }

  /** The server refused the last message: put it back, unless something new is being written. */
  restore() {
    if (this.input.value.trim() || !this.lastSent.text) return;
    this.input.value = this.lastSent.text;
    this.mentions.picked = this.lastSent.picked;
    this.refresh();
  }

  /** @private */
  clear() {
    this.log.replaceChildren();
    this.empty.hidden = false;
    this.newButton.hidden = true;
    this.names.clear();
    this.input.value = "";
    this.mentions.picked = [];
    this.lastSent = { text: "", picked: [] };
    this.unread = 0;
    this.picker.close({ refocus: false });
    this.mentions.close();
    this.refresh();
    this.renderUnread();
  }

  /** @private */
  send() {
    const text = this.input.value.trim();
    if (!text || charCount(text) > MAX_CHAT) return;
    emit(this, Events.UI_CHAT_SEND, { text, mentions: mentionedIds(text, this.mentions.picked) });
  }

  /**
   * @private
   * @param {KeyboardEvent} event
   */
  keydown(event) {
    if (event.isComposing || event.keyCode === 229) return;
    if (this.mentions.keydown(event)) return;
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      this.send();
    }
  }

  /**
   * The counter, the send button, the input's height and the mention list, after any change.
   * @private
   */
  refresh() {
    const text = this.input.value.trim();
    const count = charCount(text);
    const over = count - MAX_CHAT;
    this.counterText.textContent = `${count}/${MAX_CHAT}`;
    this.counterSpoken.textContent = this.i18n.t("chatCount", { count, max: MAX_CHAT });
    this.counter.classList.toggle("warn", count >= WARN_AT && over <= 0);
    this.counter.classList.toggle("over", over > 0);
    this.tooLong.hidden = over <= 0;
    this.tooLong.textContent = over > 0 ? this.i18n.t("chatTooLong", { count: over }) : "";
    if (over > 0) this.input.setAttribute("aria-invalid", "true");
    else this.input.removeAttribute("aria-invalid");
    this.sendButton.disabled = !text || over > 0;
    this.input.style.height = "auto";
    if (this.input.scrollHeight) this.input.style.height = `${Math.min(this.input.scrollHeight, MAX_INPUT_PX)}px`;
    this.input.classList.toggle("scrolls", this.input.scrollHeight > MAX_INPUT_PX);
    this.mentions.update();
  }

  /**
   * @private
   * @param {string} text
   */
  insertAtCaret(text) {
    const { selectionStart, selectionEnd } = this.input;
    this.input.setRangeText(text, selectionStart, selectionEnd, "end");
    this.refresh();
  }

  /**
   * @private
   * @param {boolean} expanded
   */
  setExpanded(expanded) {
    this.expanded = expanded;
    this.body.hidden = !expanded;
    this.card.dataset.collapsed = String(!expanded);
    this.toggle.setAttribute("aria-expanded", String(expanded));
    if (expanded) {
      this.unread = 0;
      this.scrollToEnd();
    } else {
      this.picker.close({ refocus: false });
      this.mentions.close();
    }
    this.render();
  }

  /** @private */
  nearEnd() {
    return this.log.scrollHeight - this.log.scrollTop - this.log.clientHeight <= NEAR_END_PX;
  }

  /** @private */
  scrollToEnd() {
    this.log.scrollTop = this.log.scrollHeight;
    this.newButton.hidden = true;
  }

  /** @private */
  renderUnread() {
    this.unreadBadge.hidden = this.unread === 0;
    this.unreadBadge.textContent = String(this.unread);
    // The badge is for the eyes; the toggle says the same in words.
    const t = this.i18n.t.bind(this.i18n);
    let label = t("chatHide");
    if (!this.expanded) label = this.unread ? t("chatShowUnread", { count: this.unread }) : t("chatShow");
    this.toggle.setAttribute("aria-label", label);
    this.toggle.title = label;
  }

  /** The strings that depend on the language and are not in the markup. @private */
  render() {
    for (const chip of this.log.querySelectorAll(".chat-chip")) chip.textContent = this.i18n.t("chatMentionsYou");
    this.renderUnread();
    this.refresh();
  }
}
