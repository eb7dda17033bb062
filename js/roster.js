// @ts-check
/**
 * The list of participants: the self entry "(you)", a speaking indicator per person, each remote
 * link's state, and per-peer Mute and Volume (local only; app.js applies them to the audio).
 */
import { Events, emit } from "./events.js";
import { showCode } from "./code-symbols.js";
import { idTag, initials } from "./names.js";

/** @typedef {import("./call.js").Participant} Participant */

/** The id under which the speaking meter reports this tab's own microphone. */
export const SELF = "self";

/** Avatar hues that sit well with the violet and cyan of the page, handed out in turn. */
const HUES = Object.freeze([252, 195, 330, 160, 280, 25, 220, 45, 300, 175]);

const STATE_KEYS = Object.freeze({
  new: "peerConnecting", connecting: "peerConnecting", connected: "peerConnected",
  disconnected: "peerReconnecting", failed: "peerFailed", closed: "",
  restarting: "peerReconnecting", rebuilding: "peerReconnecting", broken: "peerBroken",
});

/** How a connected link goes (js/pathinfo.js), by path and relay protocol. */
const PATH_KEYS = Object.freeze({
  direct: "pathDirect", stun: "pathStun", relay: "pathRelay", "relay-tcp": "pathRelayTcp", "relay-tls": "pathRelayTls",
});

/** The badge next to a verification code, by status (js/verify.js); none while unverified. */
const BADGE_KEYS = Object.freeze({
  verified: "verifyBadgeVerified", changed: "verifyBadgeChanged", mismatch: "verifyBadgeMismatch",
});

/** One row of the list. */
class Entry {
  /**
   * @param {Roster} roster
   * @param {HTMLElement} element
   */
  constructor(roster, element) {
    this.roster = roster;
    this.element = element;
    const find = (/** @type {string} */ selector) => /** @type {HTMLElement} */ (element.querySelector(selector));
    this.avatar = find(".avatar");
    this.initials = find(".initials");
    this.nameText = find(".name-text");
    this.youTag = find(".you-tag");
    this.idTag = find(".id-tag");
    this.stateText = find(".participant-state");
    this.pathText = find(".participant-path");
    this.selfMuted = find(".self-muted");
    this.controls = find(".peer-controls");
    this.muteButton = /** @type {HTMLButtonElement} */ (find(".peer-mute"));
    this.volume = /** @type {HTMLInputElement} */ (find(".volume"));
    this.id = "";
    this.name = "";
    this.self = false;
    /** @type {string} an RTCPeerConnectionState, or "" before a link exists */
    this.linkState = "";
    /** @type {string} how the connected link goes: "direct", "stun", "relay", "relay-tcp", "relay-tls" */
    this.path = "";
    /** The link failed before it ever connected: the networks block it (js/pathinfo.js). */
    this.unreachable = false;
    this.muted = false;
    /** The server keeps this participant's seat while its connection to the server is down. */
    this.reconnecting = false;
    this.verifyRow = find(".peer-verify");
    this.codeText = find(".verify-code");
    this.verifyBadge = find(".verify-badge");
    this.verifyButton = /** @type {HTMLButtonElement} */ (find(".verify-button"));
    /** @type {string[] | null} the link's verification code (js/verify.js) */
    this.code = null;
    /** @type {import("./verify.js").VerifyStatus} */
    this.verifyStatus = "pending";
    /** Connected for a while with no completed code: someone may be blocking verification. */
    this.verifyStalled = false;
  }
}

export class Roster extends EventTarget {
  /** @param {import("./i18n.js").I18n} i18n */
  constructor(i18n) {
    super();
    this.i18n = i18n;
    this.list = /** @type {HTMLUListElement} */ (document.getElementById("roster"));
    this.empty = /** @type {HTMLElement} */ (document.getElementById("roster-empty"));
    this.count = /** @type {HTMLElement} */ (document.getElementById("roster-count"));
    this.template = /** @type {HTMLTemplateElement} */ (document.getElementById("participant-template"));
    /** @type {Map<string, Entry>} */
    this.entries = new Map();
    /** @type {Participant[]} */
    this.participants = [];
    /** @type {Map<string, {muted: boolean, volume: number}>} per-peer choices by name, so they
     *  survive the new id someone gets after a reconnect; forgotten on leave */
    this.choices = new Map();
    this.nextHue = 0;
    /** @type {Set<string>} ids whose speaking indicator is on */
    this.speaking = new Set();
    this.capacity = 0;
    this.joined = false;
    this.connected = false;
    this.selfMuted = false;
    i18n.addEventListener("change", () => this.render());
  }

  /**
   * @param {{participants: Participant[], capacity: number, joined: boolean}} view
   * @param {boolean} connected the lobby socket is open
   */
  update({ participants, capacity, joined }, connected) {
    this.participants = participants;
    this.capacity = capacity;
    this.joined = joined;
    this.connected = connected;
    const ids = new Set(participants.map((p) => p.id));
    for (const [id, entry] of this.entries) {
      if (!ids.has(id)) {
        entry.element.remove();
        this.entries.delete(id);
      }
    }
    participants.forEach((participant, index) => {
      let entry = this.entries.get(participant.id);
      if (!entry) {
        entry = this.create(participant);
        this.entries.set(participant.id, entry);
      }
      entry.name = participant.name;
      entry.self = participant.self;
      entry.reconnecting = participant.reconnecting === true;
      if (this.list.children[index] !== entry.element) this.list.insertBefore(entry.element, this.list.children[index] || null);
    });
    this.render();
  }

  /**
   * @param {string} id
   * @param {string} state an RTCPeerConnectionState
   */
  setLinkState(id, state) {
    const entry = this.entries.get(id);
    if (!entry) return;
    entry.linkState = state;
    this.renderEntry(entry);
  }

  /**
   * @param {string} id
   * @param {import("./pathinfo.js").PathInfo} info how the link goes, or that it cannot connect
   */
  setPath(id, info) {
    const entry = this.entries.get(id);
    if (!entry) return;
    const tunnelled = info.path === "relay" && (info.relayProtocol === "tcp" || info.relayProtocol === "tls");
    entry.path = tunnelled ? `relay-${info.relayProtocol}` : info.path;
    entry.unreachable = info.unreachable;
    this.renderEntry(entry);
  }

  /**
   * @param {string} id
   * @param {string[] | null} code the link's verification code, null while there is none
   * @param {import("./verify.js").VerifyStatus} status
   * @param {boolean} [stalled] connected for a while with no completed code
   */
  setVerification(id, code, status, stalled = false) {
    const entry = this.entries.get(id);
    if (!entry) return;
    entry.code = code;
    entry.verifyStatus = status;
    entry.verifyStalled = stalled;
    this.renderEntry(entry);
  }

  /**
   * @param {string} id a participant's id, or SELF for this tab's microphone
   * @param {boolean} speaking
   */
  setSpeaking(id, speaking) {
    // Kept apart from the rows: the meter may report someone before their row exists (ourselves).
    if (speaking) this.speaking.add(id);
    else this.speaking.delete(id);
    for (const entry of this.entries.values()) {
      if (entry.self ? id === SELF : entry.id === id) entry.element.classList.toggle("speaking", speaking);
    }
  }

  /** @param {boolean} muted */
  setSelfMuted(muted) {
    this.selfMuted = muted;
    this.render();
  }

  /** Forget per-peer choices and link states (after leaving the call). */
  resetLinks() {
    this.choices.clear();
    this.speaking.clear();
    for (const entry of this.entries.values()) {
      entry.linkState = "";
      entry.path = "";
      entry.unreachable = false;
      entry.muted = false;
      entry.volume.value = "100";
      entry.code = null;
      entry.verifyStatus = "pending";
      entry.verifyStalled = false;
    }
    this.render();
  }

  /**
   * @private
   * @param {Participant} participant
   */
  create(participant) {
    const fragment = /** @type {DocumentFragment} */ (this.template.content.cloneNode(true));
    const element = /** @type {HTMLElement} */ (fragment.firstElementChild);
    const entry = new Entry(this, element);
    entry.id = participant.id;
    element.dataset.peerId = participant.id;
    entry.avatar.style.setProperty("--hue", String(this.hue()));
    entry.muteButton.addEventListener("click", () => {
      entry.muted = !entry.muted;
      this.remember(entry);
      this.renderEntry(entry);
      emit(this, Events.UI_PEER_MUTE, { id: entry.id, muted: entry.muted });
    });
    entry.volume.addEventListener("input", () => {
      this.remember(entry);
      this.renderEntry(entry);
      emit(this, Events.UI_PEER_VOLUME, { id: entry.id, volume: Number(entry.volume.value) / 100 });
    });
    entry.verifyButton.addEventListener("click", () => emit(this, Events.UI_VERIFY, { id: entry.id }));
    const choice = participant.self ? undefined : this.choices.get(participant.name);
    if (choice) {
      entry.muted = choice.muted;
      entry.volume.value = String(Math.round(choice.volume * 100));
      emit(this, Events.UI_PEER_MUTE, { id: entry.id, muted: choice.muted });
      emit(this, Events.UI_PEER_VOLUME, { id: entry.id, volume: choice.volume });
    }
    return entry;
  }

  /**
   * @private
   * @param {Entry} entry
   */
  remember(entry) {
    this.choices.set(entry.name, { muted: entry.muted, volume: Number(entry.volume.value) / 100 });
  }

  /**
   * The next avatar hue, skipping those on screen while there are others left.
   * @private
   */
  hue() {
    const used = new Set([...this.entries.values()].map((entry) => entry.avatar.style.getPropertyValue("--hue")));
    for (let tries = 0; tries < HUES.length; tries++) {
      const hue = String(HUES[this.nextHue++ % HUES.length]);
      if (!used.has(hue)) return hue;
    }
    return String(HUES[this.nextHue++ % HUES.length]);
  }

  /** @private */
  render() {
    const t = this.i18n.t.bind(this.i18n);
    const count = this.participants.length;
    this.count.hidden = !this.connected || !this.capacity;
    this.count.textContent = t("rosterCount", { count, capacity: this.capacity });
    this.empty.hidden = count > 0;
    this.empty.dataset.i18n = this.connected ? "rosterEmpty" : "rosterOffline";
    this.empty.textContent = t(this.empty.dataset.i18n);
    this.list.classList.toggle("is-live", this.joined);
    for (const entry of this.entries.values()) this.renderEntry(entry);
  }

  /**
   * @private
   * @param {Entry} entry
   */
  renderEntry(entry) {
    const t = this.i18n.t.bind(this.i18n);
    entry.element.classList.toggle("self", entry.self);
    entry.element.classList.toggle("speaking", this.speaking.has(entry.self ? SELF : entry.id));
    entry.initials.textContent = initials(entry.name);
    entry.nameText.textContent = entry.name;
    entry.idTag.textContent = idTag(entry.id);
    // Its own element, so that a long name is cut short and "(you)" still shows.
    entry.youTag.textContent = entry.self ? ` ${t("you")}` : "";
    entry.youTag.hidden = !entry.self;
    const remoteInCall = this.joined && !entry.self;
    entry.controls.hidden = !remoteInCall;
    entry.selfMuted.hidden = !(entry.self && this.joined && this.selfMuted);
    /** @type {string} */
    let stateKey = "";
    if (entry.self && this.joined && this.selfMuted) stateKey = "micOff";
    else if (remoteInCall && entry.unreachable && entry.linkState !== "connected") stateKey = "peerCantConnect";
    else if (remoteInCall && entry.muted) stateKey = "peerMuted";
    else if (remoteInCall && entry.reconnecting) stateKey = "peerReconnecting";
    else if (remoteInCall) stateKey = STATE_KEYS[/** @type {keyof STATE_KEYS} */ (entry.linkState || "new")] || "";
    entry.stateText.textContent = stateKey ? t(stateKey) : "";
    entry.stateText.hidden = !stateKey;
    const path = remoteInCall && entry.linkState === "connected" ? entry.path : "";
    const pathKey = PATH_KEYS[/** @type {keyof PATH_KEYS} */ (path)] || "";
    entry.pathText.textContent = pathKey ? t(pathKey) : "";
    entry.pathText.hidden = !pathKey;
    entry.element.dataset.note = stateKey;
    entry.element.dataset.link = remoteInCall ? entry.linkState || "new" : "";
    entry.element.dataset.path = path;
    entry.muteButton.setAttribute("aria-pressed", String(entry.muted));
    const muteLabel = t(entry.muted ? "peerUnmute" : "peerMute", { name: entry.name });
    entry.muteButton.setAttribute("aria-label", muteLabel);
    entry.muteButton.title = muteLabel;
    entry.volume.setAttribute("aria-label", t("peerVolume", { name: entry.name }));
    entry.volume.setAttribute("aria-valuetext", `${entry.volume.value} %`);
    entry.volume.disabled = entry.muted;
    this.renderCode(entry, remoteInCall);
  }

  /**
   * The verification code, its badge (verified, or a warning) and the Verify button.
   * @private
   * @param {Entry} entry
   * @param {boolean} remoteInCall
   */
  renderCode(entry, remoteInCall) {
    const t = this.i18n.t.bind(this.i18n);
    const code = remoteInCall ? entry.code : null;
    if (!code) {
      this.renderNoCode(entry, remoteInCall);
      return;
    }
    entry.verifyRow.hidden = false;
    entry.element.dataset.verify = entry.verifyStatus;
    entry.verifyButton.hidden = false;
    showCode(entry.codeText, code, this.i18n);
    const badgeKey = BADGE_KEYS[/** @type {keyof BADGE_KEYS} */ (entry.verifyStatus)] || "";
    entry.verifyBadge.hidden = !badgeKey;
    entry.verifyBadge.textContent = badgeKey ? t(badgeKey) : "";
    entry.verifyButton.textContent = t("verify");
    entry.verifyButton.setAttribute("aria-label", t("verifyPeer", { name: entry.name }));
  }

  /**
   * No code to compare: nothing to show, unless the verified code was withdrawn or none came in
   * time. Then the row says so, with nothing that could be read aloud as if it were current.
   * @private
   * @param {Entry} entry
   * @param {boolean} remoteInCall
   */
  renderNoCode(entry, remoteInCall) {
    const t = this.i18n.t.bind(this.i18n);
    const changed = entry.verifyStatus === "changed";
    const warn = remoteInCall && (changed || entry.verifyStalled);
    entry.verifyRow.hidden = !warn;
    entry.element.dataset.verify = !warn ? "" : changed ? "changed" : "blocked";
    if (!warn) return;
    entry.codeText.removeAttribute("role");
    entry.codeText.removeAttribute("aria-label");
    entry.codeText.textContent = t(entry.verifyStalled ? "verifyBlocked" : "verifyWaiting", { name: entry.name });
    entry.verifyBadge.hidden = false;
    entry.verifyBadge.textContent = t(changed ? "verifyBadgeChanged" : "verifyBadgeBlocked");
    entry.verifyButton.hidden = true;
  }
}
