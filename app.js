// @ts-check
/**
 * Secret-Call's entry point: reads the invite link, builds the widgets and the call session,
 * and wires their events together. The widgets never see a socket; the session never sees the DOM.
 */
import { SpeakingMeter } from "./js/audio.js";
import { CallSession } from "./js/call.js";
import { CallControls } from "./js/controls.js";
import { Events } from "./js/events.js";
import { I18n, pickLanguage } from "./js/i18n.js";
import { takeInviteToken } from "./js/invite.js";
import { BrowserOnlyModal, FullModal, TokenModal } from "./js/modal.js";
import { InsecureNotice } from "./js/notice.js";
import { Particles } from "./js/particles.js";
import { PeerPlayers } from "./js/players.js";
import { Roster, SELF } from "./js/roster.js";
import { SettingsDialog } from "./js/settings.js";
import { hasTurnServer } from "./js/mesh.js";
import { StatusBar } from "./js/statusbar.js";
import { local, session as tabStore } from "./js/storage.js";
import { Toasts } from "./js/toasts.js";

/** Messages shown under the form, by CALL_ERROR code. */
const FORM_ERRORS = Object.freeze({
  "mic-denied": "errMicDenied",
  "mic-missing": "errMicMissing",
  "mic-busy": "errMicBusy",
  "mic-failed": "errMicFailed",
  "mic-unsupported": "errMicUnsupported",
  insecure: "errInsecure",
  "bad-name": "errBadName",
});

async function main() {
  const { token, fromInvite } = takeInviteToken();
  const i18n = new I18n();
  const query = new URLSearchParams(location.search).get("lang");
  await i18n.use(pickLanguage({ query, saved: local.get("lang"), browser: navigator.languages || [navigator.language] }));

  const particles = new Particles(/** @type {HTMLCanvasElement} */ (document.getElementById("particles")));
  const controls = new CallControls(i18n);
  const roster = new Roster(i18n);
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
      turn: hasTurnServer(call.iceServers()),
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
    const { code, capacity, message } = /** @type {CustomEvent} */ (event).detail;
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
      /** @returns {boolean} whether the particles canvas is animating */
      particlesRunning: () => particles.running,
    }),
  });
  document.documentElement.dataset.ready = "true";
}

main();
