// @ts-check
/**
 * The signaling client: one WebSocket speaking protocol v1 (docs/PROTOCOL.md).
 * It parses frames into events, reconnects after an unexpected drop, and never touches the DOM.
 */
import { Events, emit } from "./events.js";

/** @typedef {{id: string, name: string, reconnecting?: boolean}} RosterEntry */
/** @typedef {{urls: string | string[], username?: string, credential?: string}} IceServer */
/**
 * @typedef {object} HelloMessage
 * @property {"hello"} type
 * @property {number} version
 * @property {string} id           this socket's id (8 hex digits)
 * @property {string} resume       the secret that takes this id and seat back after a drop
 * @property {boolean} resumed     true when this socket took back an earlier id and seat
 * @property {RosterEntry[]} roster participants in join order
 * @property {number} capacity
 * @property {IceServer[]} iceServers
 */
/** @typedef {{type: "roster", roster: RosterEntry[]}} RosterMessage */
/** @typedef {{type: "full", capacity: number}} FullMessage */
/** @typedef {{type: "offer" | "answer", from: string, to: string, sdp: string}} DescriptionMessage */
/** @typedef {{type: "ice", from: string, to: string, candidate: RTCIceCandidateInit | null}} IceMessage */
/**
 * @typedef {object} ChatMessage
 * @property {"chat"} type
 * @property {string} from
 * @property {string} name
 * @property {string} text
 * @property {string[]} mentions
 * @property {number} ts
 */
/** @typedef {{type: "error", code: string, message: string, id?: string}} ErrorMessage  `id`: the refused message's */
/** @typedef {{type: "browser-only", message: string}} BrowserOnlyMessage */
/** @typedef {{type: "echo", sdp: string}} EchoMessage  the sound check's answer */
/** @typedef {{type: "echo-stop"}} EchoStopMessage */
/** @typedef {{type: "verify", from: string, to: string, step: "commit" | "reveal", value: string}} VerifyMessage */
/**
 * @typedef {HelloMessage | RosterMessage | FullMessage | DescriptionMessage | IceMessage | ChatMessage
 *   | ErrorMessage | BrowserOnlyMessage | EchoMessage | EchoStopMessage | VerifyMessage} ServerMessage
 */
/** @typedef {"closed" | "connecting" | "open" | "reconnecting"} SocketState */

export const SUBPROTOCOL = "secret-call.v1";
export const CLOSE_BROWSER_ONLY = 4400;
export const CLOSE_UNAUTHORIZED = 4401;
export const CLOSE_REPLACED = 4409;

/**
 * base64url of the UTF-8 bytes of `text`, without padding: a valid subprotocol token for any text.
 * @param {string} text
 */
export function base64url(text) {
  let binary = "";
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/**
 * The delay before reconnect attempt `attempt` (0-based): exponential, capped, with ±50 % jitter
 * so that a room full of tabs does not come back in lockstep after a server restart.
 * @param {number} attempt
 * @param {{base?: number, cap?: number, random?: () => number}} [options]
 */
export function backoffDelay(attempt, { base = 500, cap = 10_000, random = Math.random } = {}) {
  const plain = Math.min(cap, base * 2 ** attempt);
  return Math.round(plain * (0.5 + random()));
}

export class SignalingClient extends EventTarget {
  /**
   * @param {string} url the ws:// or wss:// address of /ws
   * @param {{WebSocketImpl?: typeof WebSocket}} [options]
   */
  constructor(url, { WebSocketImpl = WebSocket } = {}) {
    super();
    this.url = url;
    this.WebSocketImpl = WebSocketImpl;
    /** @type {WebSocket | null} */
    this.socket = null;
    /** @type {SocketState} */
    this.state = "closed";
    /** This socket's id from `hello`, or "" before it. */
    this.id = "";
    /** @type {RosterEntry[]} */
    this.roster = [];
    this.capacity = 0;
    /** Chat messages sent on this page: each gets the id `c<n>`, echoed in an error that refuses it. */
    this.chatsSent = 0;
    /** @type {IceServer[]} */
    this.iceServers = [];
    this.token = "";
    /** The id and secret of the last hello, offered again after an unexpected drop (memory only). */
    this.resume = { id: "", secret: "" };
    /** True when the last hello took back the previous id and seat. */
    this.resumed = false;
    this.attempt = 0;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.retryTimer = undefined;
  }

  /**
   * Open the socket with this room token (closing any previous one).
   * @param {string} token
   */
  connect(token) {
    this.close();
    this.token = token;
    this.attempt = 0;
    this.open();
  }

  /** Close on purpose: no reconnect. */
  close() {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
      socket.close(1000);
    }
    this.id = "";
    this.resume = { id: "", secret: "" };
    this.setState("closed");
  }

  /** Reconnect now instead of waiting for the backoff timer (e.g. the network came back). */
  retryNow() {
    if (this.state === "reconnecting" && this.retryTimer !== undefined) {
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
      this.open();
    }
  }

  /** @private */
  open() {
    this.setState(this.attempt === 0 ? "connecting" : "reconnecting");
    const protocols = [SUBPROTOCOL, "auth." + base64url(this.token)];
    if (this.resume.id && this.resume.secret) protocols.push(`resume.${this.resume.id}.${this.resume.secret}`);
    let socket;
    try {
      socket = new this.WebSocketImpl(this.url, protocols);
    } catch (error) {
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    socket.onmessage = (event) => this.receive(event.data);
    socket.onclose = (event) => this.closed(socket, event.code, event.reason);
  }

  /**
   * @private
   * @param {WebSocket} socket
   * @param {number} code
   * @param {string} reason
   */
  closed(socket, code, reason) {
    if (socket !== this.socket) return;
    this.socket = null;
    this.id = "";
    if (code === CLOSE_UNAUTHORIZED || code === CLOSE_BROWSER_ONLY || code === CLOSE_REPLACED) {
      // 4409: this tab's seat was taken over by a newer connection of the same participant.
      this.setState("closed");
      if (code === CLOSE_UNAUTHORIZED) emit(this, Events.UNAUTHORIZED, { code, reason });
      return;
    }
    this.scheduleReconnect();
  }

  /** @private */
  scheduleReconnect() {
    const delay = backoffDelay(this.attempt);
    this.attempt += 1;
    this.setState("reconnecting");
    emit(this, Events.RECONNECTING, { attempt: this.attempt, delay });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.open();
    }, delay);
  }

  /**
   * @private
   * @param {SocketState} state
   */
  setState(state) {
    if (state === this.state) return;
    this.state = state;
    emit(this, Events.SOCKET_STATE, { state });
  }

  /**
   * @private
   * @param {unknown} data
   */
  receive(data) {
    if (typeof data !== "string") return;
    /** @type {ServerMessage} */
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      return;
    }
    if (!message || typeof message !== "object" || typeof message.type !== "string") return;
    switch (message.type) {
      case "hello":
        this.id = message.id;
        this.resumed = message.resumed === true;
        this.resume = { id: message.id, secret: typeof message.resume === "string" ? message.resume : "" };
        this.roster = message.roster;
        this.capacity = message.capacity;
        this.iceServers = Array.isArray(message.iceServers) ? message.iceServers : [];
        this.attempt = 0;
        this.setState("open");
        emit(this, Events.HELLO, message);
        break;
      case "roster":
        this.roster = message.roster;
        emit(this, Events.ROSTER, message);
        break;
      case "full":
        emit(this, Events.FULL, message);
        break;
      case "offer":
      case "answer":
      case "ice":
        emit(this, Events.SIGNAL, message);
        break;
      case "chat":
        emit(this, Events.CHAT, message);
        break;
      case "error":
        // `unauthorized` is followed by close 4401, which reports it.
        if (message.code !== "unauthorized") emit(this, Events.SERVER_ERROR, message);
        break;
      case "browser-only":
        emit(this, Events.BROWSER_ONLY, { message: message.message });
        break;
      case "echo":
        emit(this, Events.ECHO, { sdp: message.sdp });
        break;
      case "verify":
        emit(this, Events.VERIFY_STEP, { from: message.from, step: message.step, value: message.value });
        break;
      case "echo-stop":
        emit(this, Events.ECHO_STOP, {});
        break;
      default:
        break;
    }
  }

  /**
   * Send one message; false when the socket is not open.
   * @param {object} message
   */
  send(message) {
    if (!this.socket || this.socket.readyState !== 1 || this.state !== "open") return false;
    this.socket.send(JSON.stringify(message));
    return true;
  }

  /** @param {string} name */
  join(name) { return this.send({ type: "name", name }); }

  leave() { return this.send({ type: "leave" }); }

  /** @param {string} to @param {string} sdp */
  offer(to, sdp) { return this.send({ type: "offer", to, sdp }); }

  /** @param {string} to @param {string} sdp */
  answer(to, sdp) { return this.send({ type: "answer", to, sdp }); }

  /** @param {string} to @param {RTCIceCandidateInit | null} candidate */
  ice(to, candidate) { return this.send({ type: "ice", to, candidate }); }

  /** @param {string} text @param {string[]} [mentions] */
  chat(text, mentions = []) {
    const id = `c${++this.chatsSent}`;
    return this.send({ type: "chat", text, mentions, id }) ? id : null;
  }

  /** @param {string} sdp a complete (non-trickle) offer for the sound check */
  echo(sdp) { return this.send({ type: "echo", sdp }); }

  echoStop() { return this.send({ type: "echo-stop" }); }

  /** @param {string} to @param {"commit" | "reveal"} step @param {string} value */
  verify(to, step, value) { return this.send({ type: "verify", to, step, value }); }
}
