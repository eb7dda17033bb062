// @ts-check
/**
 * Every event name that crosses a layer boundary, in one place.
 *
 * Protocol/RTC layer (SignalingClient, PeerMesh, CallSession) → UI, and UI widgets → app.js.
 * Each event is a CustomEvent; its `detail` is described next to the name.
 */
export const Events = Object.freeze({
  // SignalingClient (js/signaling.js)
  /** detail: {state: "closed"|"connecting"|"open"|"reconnecting"} */
  SOCKET_STATE: "signaling:state",
  /** detail: HelloMessage — the socket is admitted to the lobby */
  HELLO: "signaling:hello",
  /** detail: RosterMessage */
  ROSTER: "signaling:roster",
  /** detail: FullMessage */
  FULL: "signaling:full",
  /** detail: OfferMessage | AnswerMessage | IceMessage (relayed from a participant) */
  SIGNAL: "signaling:signal",
  /** detail: ChatMessage (relayed to every participant, the sender included) */
  CHAT: "signaling:chat",
  /** detail: ErrorMessage — a refused message, the socket stays open */
  SERVER_ERROR: "signaling:error",
  /** detail: {code, reason} — the socket closed and will not reconnect by itself */
  UNAUTHORIZED: "signaling:unauthorized",
  /** detail: {message} */
  BROWSER_ONLY: "signaling:browser-only",
  /** detail: {attempt, delay} — an unexpected drop; the next attempt starts after `delay` ms */
  RECONNECTING: "signaling:reconnecting",
  /** detail: {sdp} — the server's answer to our sound-check offer */
  ECHO: "signaling:echo",
  /** detail: {} — the server ended the sound check */
  ECHO_STOP: "signaling:echo-stop",
  /** detail: {from, step, value} — a verification-code commit or reveal from a participant */
  VERIFY_STEP: "signaling:verify",

  // SoundCheck (js/soundcheck.js)
  /** detail: {state: "idle"|"starting"|"running", error?: string} */
  SOUND_CHECK_STATE: "soundcheck:state",
  /** detail: {stream} — our own voice coming back from the server, to play */
  SOUND_CHECK_TRACK: "soundcheck:track",

  // PeerMesh (js/mesh.js)
  /** detail: {id, stream} — remote audio from one participant */
  PEER_TRACK: "mesh:track",
  /** detail: {id, state} — an RTCPeerConnection's connectionState, or "restarting", "rebuilding",
   *  or "broken" (the peer's offers cannot be applied; js/mesh.js gave up rebuilding for it) */
  PEER_STATE: "mesh:state",
  /** detail: {id, type: "offer"|"answer"} — a remote description was just applied to one link */
  PEER_DESCRIPTION: "mesh:description",
  /** detail: {id} — the link to one participant is closed */
  PEER_CLOSED: "mesh:closed",

  // Verifier (js/verify.js)
  /** detail: PeerCode {id, name, code: string[] | null, status: VerifyStatus, stalled} and `changed`: a
   *  code (verified, or of the same connection) is gone; stalled: no code came within STALL_MS */
  PEER_CODE: "verify:code",

  // PathWatcher (js/pathinfo.js)
  /** detail: PathInfo {id, path: "direct"|"stun"|"relay"|"", relayProtocol, unreachable, turn} */
  PEER_PATH: "path:info",

  // CallSession (js/call.js)
  /** detail: {state: "idle"|"connecting"|"live"|"reconnecting"} — reconnecting: the socket dropped
   *  mid-call and the page is resuming (audio goes on meanwhile) */
  CALL_STATE: "call:state",
  /** detail: {state: "offline"|"connecting"|"open"|"reconnecting"|"refused", delay?} */
  CONNECTION: "call:connection",
  /** detail: {participants: Participant[], capacity, selfId, joined} */
  PARTICIPANTS: "call:participants",
  /** detail: Participant */
  PARTICIPANT_JOINED: "call:participant-joined",
  /** detail: Participant */
  PARTICIPANT_LEFT: "call:participant-left",
  /** detail: {id, name, previous} — a participant took another name */
  PARTICIPANT_RENAMED: "call:participant-renamed",
  /** detail: {stream: MediaStream | null} */
  LOCAL_STREAM: "call:local-stream",
  /** detail: {muted} */
  SELF_MUTED: "call:self-muted",
  /** detail: {code, capacity?, message?} — a reason the call could not start or went on */
  CALL_ERROR: "call:error",

  // UI widgets → app.js
  /** detail: {name, token} */
  UI_JOIN: "ui:join",
  /** detail: {} */
  UI_LEAVE: "ui:leave",
  /** detail: {muted} */
  UI_SELF_MUTE: "ui:self-mute",
  /** detail: {id, muted} */
  UI_PEER_MUTE: "ui:peer-mute",
  /** detail: {id, volume} — 0…1 */
  UI_PEER_VOLUME: "ui:peer-volume",
  /** detail: {stun, lang, privacy} — the saved settings: extra STUN URL ("" for none), "auto"|"en"|"ru",
   *  relay-only mode */
  UI_SETTINGS: "ui:settings",
  /** detail: {text, mentions} — send a chat message (text trimmed, 1–2000 characters; mentions: ids) */
  UI_CHAT_SEND: "ui:chat-send",
  /** detail: {} — start the sound check */
  UI_SOUND_CHECK_START: "ui:sound-check-start",
  /** detail: {} — stop the sound check */
  UI_SOUND_CHECK_STOP: "ui:sound-check-stop",
  /** detail: {} — the user asks to try joining again (the room was full) */
  UI_RETRY: "ui:retry",
  /** detail: {} — the user wants to correct the room token */
  UI_EDIT_TOKEN: "ui:edit-token",
  /** detail: {id} — open the Verify dialog for one participant */
  UI_VERIFY: "ui:verify",
  /** detail: {id, match} — the person compared the codes aloud: they match, or they differ */
  UI_VERIFY_RESULT: "ui:verify-result",
});

/**
 * Dispatch a CustomEvent with a detail on a target.
 * @param {EventTarget} target
 * @param {string} type
 * @param {unknown} [detail]
 */
export function emit(target, type, detail = {}) {
  target.dispatchEvent(new CustomEvent(type, { detail }));
}
