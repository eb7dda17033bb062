// @ts-check
/**
 * Secret-Call's entry point: reads the invite link, builds the widgets and the call session,
 * and wires their events together. The widgets never see a socket; the session never sees the DOM.
 */
import { SpeakingMeter } from "./js/audio.js";
import { CallSession } from "./js/call.js";
import { CHAT_ERRORS, ChatPanel, excerpt } from "./js/chat.js";
import { ConnectNotice } from "./js/connect-notice.js";
import { CallControls } from "./js/controls.js";
import { Events } from "./js/events.js";
import { I18n, pickLanguage } from "./js/i18n.js";
import { takeInviteToken } from "./js/invite.js";
import { BrowserOnlyModal, FullModal, TokenModal } from "./js/modal.js";
import { idTag } from "./js/names.js";
import { InsecureNotice } from "./js/notice.js";
import { Particles } from "./js/particles.js";
import { PathWatcher } from "./js/pathinfo.js";
import { PeerPlayers } from "./js/players.js";
import { Roster, SELF } from "./js/roster.js";
import { SettingsDialog } from "./js/settings.js";
import { SoundCheck } from "./js/soundcheck.js";
import { SoundCheckPanel } from "./js/soundcheck-panel.js";
import { hasTurnServer } from "./js/mesh.js";
import { StatusBar } from "./js/statusbar.js";
import { local, session as tabStore } from "./js/storage.js";
import { Toasts } from "./js/toasts.js";
import { VerifyDialog } from "./js/verify-dialog.js";
import { Verifier } from "./js/verify.js";

/** Messages shown under the form, by CALL_ERROR code. */
const FORM_ERRORS = Object.freeze({
  "mic-denied": "errMicDenied",
  "mic-missing": "errMicMissing",
  "mic-busy": "errMicBusy",
  "mic-failed": "errMicFailed",
  "mic-unsupported": "errMicUnsupported",
  insecure: "errInsecure",
  "bad-name": "errBadName",
  "name-taken": "errNameTaken",
  "privacy-no-turn": "errPrivacyNoTurn",
  "privacy-ice-refused": "errPrivacyIceRefused",
});

async function main() {
  const { token, fromInvite } = takeInviteToken();
  const i18n = new I18n();
  const query = new URLSearchParams(location.search).get("lang");
  await i18n.use(pickLanguage({ query, saved: local.get("lang"), browser: navigator.languages || [navigator.language] }));

  const particles = new Particles(/** @type {HTMLCanvasElement} */ (document.getElementById("particles")));
  const controls = new CallControls(i18n);
  const roster = new Roster(i18n);
  const chat = new ChatPanel(i18n);
  const status = new StatusBar(i18n);
  const toasts = new Toasts();
  const fullModal = new FullModal(i18n);
  const tokenModal = new TokenModal();
  const browserModal = new BrowserOnlyModal();
  const settings = new SettingsDialog(i18n);
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const call = new CallSession(`${scheme}//${location.host}/ws`);
  const meter = new SpeakingMeter((id, speaking) => roster.setSpeaking(id, speaking));
  const players = new PeerPlayers((blocked) => status.set({ audioBlocked: blocked }));
  const t = i18n.t.bind(i18n);

  call.stunUrl = local.get("stun");
  call.mesh.relayOnly = local.get("privacy") === "1";
  controls.fill(local.get("name"), token, fromInvite);
  controls.setState("idle");
  status.set({ hasToken: Boolean(token) });

  // -- widgets → session ---------------------------------------------------------------
  controls.addEventListener(Events.UI_JOIN, (event) => {
    const { name, token: typed } = /** @type {CustomEvent} */ (event).detail;
    local.set("name", name);
    tabStore.set("token", typed);
    status.set({ hasToken: true });
    meter.prepare();
    call.join(name, typed);
  });
  controls.addEventListener(Events.UI_LEAVE, () => call.leave());
  controls.addEventListener(Events.UI_SELF_MUTE, (event) => call.setSelfMuted(/** @type {CustomEvent} */ (event).detail.muted));
  roster.addEventListener(Events.UI_PEER_MUTE, (event) => {
    const { id, muted } = /** @type {CustomEvent} */ (event).detail;
    players.setMuted(id, muted);
  });
  roster.addEventListener(Events.UI_PEER_VOLUME, (event) => {
    const { id, volume } = /** @type {CustomEvent} */ (event).detail;
    players.setVolume(id, volume);
  });
  fullModal.addEventListener(Events.UI_RETRY, () => {
    meter.prepare();
    call.retry();
  });
  tokenModal.addEventListener(Events.UI_EDIT_TOKEN, () => {
    tokenModal.close(controls.token);
    controls.focusToken();
  });
  /** @type {HTMLElement} */ (document.getElementById("settings-button")).addEventListener("click", () => {
    settings.show({
      stun: local.get("stun"), lang: local.get("lang") || "auto", privacy: call.mesh.relayOnly,
      turn: hasTurnServer(call.iceServers()), servers: call.iceServers(),
    });
  });
  settings.addEventListener(Events.UI_SETTINGS, async (event) => {
    const { stun, lang, privacy } = /** @type {CustomEvent} */ (event).detail;
    if (stun) local.set("stun", stun);
    else local.remove("stun");
    call.stunUrl = stun;
    if (privacy) local.set("privacy", "1");
    else local.remove("privacy");
    if (privacy !== call.mesh.relayOnly) {
      call.mesh.relayOnly = privacy;
      // Connections already made keep their paths: rebuild them under the new policy.
      for (const id of call.mesh.peerIds()) call.mesh.rebuild(id);
    }
    if (lang === "auto") local.remove("lang");
    else local.set("lang", lang);
    // The switch wins over ?lang= from now on, so drop it from the address bar.
    if (query) history.replaceState(history.state, "", location.pathname);
    await i18n.use(pickLanguage({ saved: lang, browser: navigator.languages || [navigator.language] }));
    toasts.show(t("settingsSaved"), "success");
  });

  // -- session → widgets ---------------------------------------------------------------
  let previousCall = call.callState;
  call.addEventListener(Events.CALL_STATE, (event) => {
    const { state } = /** @type {CustomEvent} */ (event).detail;
    controls.setState(state);
    status.set({ call: state });
    if (state === "idle") {
      players.clear();
      meter.close();
      roster.resetLinks();
    }
    if (state === "connecting") controls.clearMessage();
    if (state === "live" && previousCall === "reconnecting") toasts.show(t("toastRejoined"), "success");
    previousCall = state;
  });
  call.addEventListener(Events.CONNECTION, (event) => {
    const { state, delay } = /** @type {CustomEvent} */ (event).detail;
    status.set({ connection: state, retryIn: delay });
  });
  call.addEventListener(Events.PARTICIPANTS, (event) => {
    const detail = /** @type {CustomEvent} */ (event).detail;
    roster.update(detail, call.client.state === "open");
    status.set({ peers: detail.joined ? detail.participants.length - 1 : 0 });
  });
  call.addEventListener(Events.PARTICIPANT_JOINED, (event) => {
    toasts.show(t("toastJoined", { name: /** @type {CustomEvent} */ (event).detail.name }), "join");
  });
  call.addEventListener(Events.PARTICIPANT_LEFT, (event) => {
    toasts.show(t("toastLeft", { name: /** @type {CustomEvent} */ (event).detail.name }), "leave");
  });
  call.addEventListener(Events.PARTICIPANT_RENAMED, (event) => {
    const { id, name, previous } = /** @type {CustomEvent} */ (event).detail;
    const text = t("renamed", { previous, tag: idTag(id), name });
    toasts.show(text, "info");
    chat.notice(text);
  });
  call.addEventListener(Events.LOCAL_STREAM, (event) => {
    const { stream } = /** @type {CustomEvent} */ (event).detail;
    if (stream) meter.watch(SELF, stream);
    else meter.unwatch(SELF);
  });
  call.addEventListener(Events.SELF_MUTED, (event) => {
    const { muted } = /** @type {CustomEvent} */ (event).detail;
    controls.setSelfMuted(muted);
    roster.setSelfMuted(muted);
  });
  call.addEventListener(Events.CALL_ERROR, (event) => {
    const { code, capacity, message, id } = /** @type {CustomEvent} */ (event).detail;
    if (chatRefused(code, id)) return;
    const formKey = FORM_ERRORS[/** @type {keyof FORM_ERRORS} */ (code)];
    if (code === "full") fullModal.show(capacity);
    else if (code === "unauthorized") tokenModal.open();
    else if (code === "browser-only") browserModal.open();
    else if (formKey) controls.showMessage(formKey);
    else if (code === "rate-limited") toasts.show(t("errRateLimited"), "error");
    else toasts.show(t("errServer", { message: message || code }), "error");
  });
  call.mesh.addEventListener(Events.PEER_TRACK, (event) => {
    const { id, stream } = /** @type {CustomEvent} */ (event).detail;
    players.attach(id, stream);
    meter.watch(id, stream);
  });
  call.mesh.addEventListener(Events.PEER_STATE, (event) => {
    const { id, state } = /** @type {CustomEvent} */ (event).detail;
    roster.setLinkState(id, state);
  });
  call.mesh.addEventListener(Events.PEER_CLOSED, (event) => {
    const { id } = /** @type {CustomEvent} */ (event).detail;
    players.detach(id);
    meter.unwatch(id);
    roster.setLinkState(id, "");
  });
  window.addEventListener("online", () => call.client.retryNow());

  // -- chat: a card beside the roster; messages go over the signaling socket --------------------
  /**
   * The ids of chat messages sent and not answered yet. The server answers each, in order, with the
   * message itself or with an error that carries its id.
   * @type {Set<string>}
   */
  const chatPending = new Set();
  /**
   * A refused chat message: a toast, and the text back in the composer. False for other errors.
   * @param {string} code
   * @param {string | undefined} id  the refused message's id, from the error
   */
  function chatRefused(code, id) {
    const key = CHAT_ERRORS[/** @type {keyof CHAT_ERRORS} */ (code)];
    if (!key || !id || !chatPending.delete(id)) return false;
    chat.restore();
    toasts.show(t(key), "error");
    return true;
  }
  chat.addEventListener(Events.UI_CHAT_SEND, (event) => {
    const { text, mentions } = /** @type {CustomEvent} */ (event).detail;
    const id = call.client.chat(text, mentions);
    if (!id) {
      toasts.show(t("errChatOffline"), "error");
      return;
    }
    chatPending.add(id);
    chat.sent();
  });
  call.client.addEventListener(Events.CHAT, (event) => {
    const message = /** @type {CustomEvent} */ (event).detail;
    if (message.from === call.client.id) {
      const oldest = chatPending.values().next();
      if (!oldest.done) chatPending.delete(oldest.value);
    }
    const { own, mentionsMe } = chat.add(message, call.client.id);
    if (mentionsMe && !own && !chat.inView()) {
      toasts.show(t("toastMentioned", { name: message.name, text: excerpt(message.text) }), "info");
    }
  });
  // CallSession drops not-joined as noise from links being torn down; right after a chat message it is news.
  call.client.addEventListener(Events.SERVER_ERROR, (event) => {
    const { code, id } = /** @type {CustomEvent} */ (event).detail;
    if (code === "not-joined") chatRefused(code, id);
  });
  call.client.addEventListener(Events.SOCKET_STATE, () => {
    if (call.client.state !== "open") chatPending.clear();
  });
  call.addEventListener(Events.CALL_STATE, (event) => {
    chat.setCallState(/** @type {CustomEvent} */ (event).detail.state);
  });
  call.addEventListener(Events.PARTICIPANTS, (event) => {
    chat.setParticipants(/** @type {CustomEvent} */ (event).detail.participants);
  });

  // -- verification codes: each link's code in the roster, compared aloud in the Verify dialog --
  const verifier = new Verifier(call.mesh, (to, step, value) => call.client.verify(to, step, value));
  call.client.addEventListener(Events.VERIFY_STEP, (event) => {
    const { from, step, value } = /** @type {CustomEvent} */ (event).detail;
    verifier.receive(from, step, value);
  });
  const verifyDialog = new VerifyDialog(i18n);
  call.addEventListener(Events.PARTICIPANTS, (event) => {
    const { participants } = /** @type {CustomEvent} */ (event).detail;
    verifier.setParticipants(participants);
    // A row made again (after a roster change) gets its code back.
    for (const { id } of participants) {
      const peer = verifier.view(id);
      roster.setVerification(id, peer.code, peer.status, peer.stalled);
    }
  });
  call.addEventListener(Events.CALL_STATE, (event) => {
    if (/** @type {CustomEvent} */ (event).detail.state === "idle") verifier.reset();
  });
  verifier.addEventListener(Events.PEER_CODE, (event) => {
    const peer = /** @type {CustomEvent} */ (event).detail;
    roster.setVerification(peer.id, peer.code, peer.status, peer.stalled);
    verifyDialog.update(peer);
    if (peer.changed) toasts.show(t("toastCodeChanged", { name: peer.name }), "error");
  });
  roster.addEventListener(Events.UI_VERIFY, (event) => {
    const { id } = /** @type {CustomEvent} */ (event).detail;
    verifier.refresh(id);
    verifyDialog.show(verifier.view(id));
  });
  verifyDialog.addEventListener(Events.UI_VERIFY_RESULT, (event) => {
    const { id, match } = /** @type {CustomEvent} */ (event).detail;
    verifier.mark(id, match);
  });

  // -- how each link goes, and a notice for the people no connection can be made to ------------
  const paths = new PathWatcher(call.mesh);
  const connectNotice = new ConnectNotice(i18n);
  paths.addEventListener(Events.PEER_PATH, (event) => {
    const info = /** @type {CustomEvent} */ (event).detail;
    roster.setPath(info.id, info);
    connectNotice.setPath(info);
  });
  call.addEventListener(Events.PARTICIPANTS, (event) => {
    const { participants } = /** @type {CustomEvent} */ (event).detail;
    connectNotice.setParticipants(participants);
    // A row made again (after a roster change) gets its path back.
    for (const { id } of participants) roster.setPath(id, paths.view(id));
  });
  call.addEventListener(Events.CALL_STATE, (event) => {
    if (/** @type {CustomEvent} */ (event).detail.state === "idle") connectNotice.clear();
  });

  // -- sound check: a private echo from the server, offered outside the call -------------------
  const soundCheck = new SoundCheck(call.client);
  const soundPanel = new SoundCheckPanel(i18n);
  soundPanel.addEventListener(Events.UI_SOUND_CHECK_START, () => {
    const typed = controls.token.value.trim();
    if (typed) {
      tabStore.set("token", typed);
      call.connect(typed);
    }
    soundCheck.start(() => call.iceServers(), () => call.mesh.relayOnly);
  });
  /** Privacy mode without a relay: the sound check would connect directly, so it is off. */
  const soundCheckPrivacy = () => soundPanel.setBlocked(
    call.mesh.relayOnly && call.client.state === "open" && !hasTurnServer(call.iceServers()) ? "privacy" : "");
  call.client.addEventListener(Events.HELLO, soundCheckPrivacy);
  settings.addEventListener(Events.UI_SETTINGS, () => {
    // A check that started before privacy mode was turned on is not relay-only: end it.
    if (call.mesh.relayOnly && soundCheck.state !== "idle") soundCheck.stop();
    soundCheckPrivacy();
  });
  soundPanel.addEventListener(Events.UI_SOUND_CHECK_STOP, () => soundCheck.stop());
  soundCheck.addEventListener(Events.SOUND_CHECK_STATE, (event) => {
    const { state, error } = /** @type {CustomEvent} */ (event).detail;
    soundPanel.setState(state, error);
  });
  soundCheck.addEventListener(Events.SOUND_CHECK_TRACK, (event) => {
    soundPanel.play(/** @type {CustomEvent} */ (event).detail.stream);
  });
  call.addEventListener(Events.CALL_STATE, (event) => {
    const inCall = /** @type {CustomEvent} */ (event).detail.state !== "idle";
    if (inCall) soundCheck.stop();
    soundPanel.show(!inCall);
  });

  if (!window.isSecureContext) new InsecureNotice(i18n).show();
  if (token) call.connect(token);
  controls.focusFirstEmpty();

  // Test-only, read-only debug handle: the browser tests (tests/test_browser_*.py) read each
  // RTCPeerConnection's getStats() through it, which nothing on the page shows. It has no way
  // to change the call. Keep it this small.
  Object.defineProperty(window, "secretCall", {
    value: Object.freeze({
      /** @returns {string} this tab's participant id, "" before `hello` */
      selfId: () => call.client.id,
      /** @returns {string[]} the ids with an open RTCPeerConnection */
      peers: () => call.mesh.peerIds(),
      /** @param {string} id @returns {string} that RTCPeerConnection's connectionState */
      connectionState: (id) => call.mesh.connectionState(id),
      /** @param {string} id @returns {Promise<object[]>} that connection's RTCStats, as plain objects */
      getStats: (id) => call.mesh.getStats(id),
      /** @param {string} id @returns {string} that RTCPeerConnection's iceTransportPolicy */
      iceTransportPolicy: (id) => call.mesh.configuration(id)?.iceTransportPolicy || "",
      /** @param {string} id @returns {RTCIceServer[]} the ICE servers that RTCPeerConnection would use now */
      iceServers: (id) => call.mesh.configuration(id)?.iceServers || [],
      /** @returns {Promise<object[]>} the sound check connection's RTCStats, as plain objects */
      soundCheckStats: () => soundCheck.getStats(),
      /** @returns {boolean} whether the particles canvas is animating */
      particlesRunning: () => particles.running,
    }),
  });
  document.documentElement.dataset.ready = "true";
}

main();
