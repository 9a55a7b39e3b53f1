import { io, type ManagerOptions, type Socket, type SocketOptions } from "socket.io-client";
import { backoffDelay } from "../../core/backoff.js";
import { errorMessage } from "../../core/errors.js";
import type { Logger } from "../../core/logger.js";
import { discoverSocketUrl, type FetchLike } from "./discovery.js";
import { foreignText } from "./foreign-text.js";

/**
 * One CyTube session at a time: discovery, socket, `login` + `joinChannel`, login retries, and our own
 * reconnection (socket.io-client never reconnects after a server-side disconnect, cytube-protocol.md §8).
 *
 * We log in *before* `joinChannel`: the server then skips the "name already in use" check and kicks a stale
 * socket of ours still sitting in the channel (§9), which is what a reconnecting bot needs.
 */

export type ClientStatus =
  | { type: "connecting"; attempt: number }
  | { type: "connected" }
  | { type: "disconnected"; reason: string; reconnectInMs: number | null }
  | { type: "kicked"; reason: string; rejoin: boolean }
  | { type: "login_failed"; error: string; retryInMs: number | null }
  | { type: "fatal"; error: string };

export interface ReconnectPolicy {
  /** First delay after a lost connection. @default 1000 */
  initialDelayMs: number;
  /** @default 60000 */
  maxDelayMs: number;
  /** Mirror of the server's per-IP connection bucket (§2): capacity… @default 5 */
  bucketCapacity: number;
  /** …and refill rate, tokens per second. @default 0.1 */
  bucketRefillPerSec: number;
}

/**
 * The largest websocket frame accepted from the server (ws's own default is 100 MiB). A CyTube playlist of
 * 4,000 items is about 1 MiB; anything near this is a broken or hostile server, and ws closes the socket
 * (then we reconnect with backoff) instead of parsing it on the core's thread.
 */
export const MAX_FRAME_BYTES = 16 * 1024 * 1024;

export const DEFAULT_RECONNECT: Readonly<ReconnectPolicy> = Object.freeze({
  initialDelayMs: 1_000,
  maxDelayMs: 60_000,
  bucketCapacity: 5,
  bucketRefillPerSec: 0.1,
});

export interface ClientOptions {
  server: string;
  channel: string;
  username?: string | undefined;
  password?: string | undefined;
  channelPassword?: string | undefined;
  rejoinOnKick: boolean;
  rejoinOnBan: boolean;
  logger: Logger;
  reconnect?: Partial<ReconnectPolicy>;
  /** Extra HTTP headers on the socket's handshake (tests use `X-Forwarded-For`). */
  extraHeaders?: Record<string, string>;
  fetch?: FetchLike;
  /** Every server frame, in order. */
  onFrame(event: string, payload: unknown): void;
  onStatus(status: ClientStatus): void;
}

const BAN_REASONS = ["You're banned!", "You are banned from this channel."];
/** Kicks that are not moderation: always come back (with backoff). */
const TRANSIENT_KICKS = [
  "Too many connections from your IP address",
  "Rate limit exceeded",
  "Channel reloading",
  "Channel shutting down",
];
const FINAL_LOGIN_ERRORS = [
  "That username is registered.",
  "That username is reserved.",
  "Invalid username",
  "Invalid username/password combination",
  "User does not exist",
];

/** When a guest-login refusal says "one per IP address per N seconds", wait N s (plus a little). */
export function loginRetryDelayMs(error: string): number | null {
  const guest = /per IP address per (\d+) seconds/i.exec(error);
  if (guest) return Number(guest[1]) * 1000 + 500;
  if (FINAL_LOGIN_ERRORS.some((e) => error.startsWith(e))) return null;
  if (/already in use/i.test(error)) return 10_000;
  return 30_000;
}

/**
 * Should we come back after `kick {reason}`? `guest`: the bot logs in without a password, so its name is
 * anyone's to take.
 */
export function kickDecision(
  reason: string,
  policy: { rejoinOnKick: boolean; rejoinOnBan: boolean; guest?: boolean },
): boolean {
  if (BAN_REASONS.includes(reason)) return policy.rejoinOnBan;
  if (TRANSIENT_KICKS.includes(reason)) return true;
  // Another session took our name. With our password, coming back would kick it in turn, forever. As a guest,
  // anyone in chat can log in with our name and join: giving up would let any user remove the bot for good;
  // coming back (login before join) kicks them, and the server's guest-login delay paces the fight.
  if (reason === "Duplicate login") return policy.guest === true;
  if (reason === "Invalid channel name") return false;
  return policy.rejoinOnKick;
}

export class CytubeClient {
  readonly #o: ClientOptions;
  readonly #policy: ReconnectPolicy;
  readonly #log: Logger;
  #socket: Socket | undefined;
  #stopped = false;
  #attempt = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #kickReason: string | undefined;
  #loggedIn = false;
  /** The one pending login retry: a server repeating refusals must not pile up timers. */
  #loginTimer: ReturnType<typeof setTimeout> | undefined;
  // Per-IP connection bucket mirror.
  #tokens: number;
  #tokensAt = Date.now();

  constructor(options: ClientOptions) {
    this.#o = options;
    this.#policy = { ...DEFAULT_RECONNECT, ...options.reconnect };
    this.#tokens = this.#policy.bucketCapacity;
    this.#log = options.logger.child({ component: "cytube-client", channel: options.channel });
  }

  get connected(): boolean {
    return this.#socket?.connected === true;
  }

  get loggedIn(): boolean {
    return this.#loggedIn;
  }

  start(): void {
    this.#stopped = false;
    void this.#connect();
  }

  /** Emits a frame on the live socket; false (nothing sent) when there is none. */
  emit(event: string, payload?: unknown, ack?: (response: unknown) => void): boolean {
    const socket = this.#socket;
    if (!socket?.connected) return false;
    if (ack) socket.emit(event, payload, ack);
    else if (payload === undefined) socket.emit(event);
    else socket.emit(event, payload);
    return true;
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    clearTimeout(this.#loginTimer);
    this.#loginTimer = undefined;
    const socket = this.#socket;
    this.#socket = undefined;
    if (socket) {
      socket.removeAllListeners();
      socket.offAny();
      socket.disconnect();
    }
  }

  #takeToken(): number {
    const now = Date.now();
    const p = this.#policy;
    this.#tokens = Math.min(
      p.bucketCapacity,
      this.#tokens + ((now - this.#tokensAt) / 1000) * p.bucketRefillPerSec,
    );
    this.#tokensAt = now;
    if (this.#tokens >= 1) return 0;
    return Math.ceil(((1 - this.#tokens) / p.bucketRefillPerSec) * 1000);
  }

  #scheduleReconnect(reason: string): number {
    const p = this.#policy;
    const backoff = backoffDelay(this.#attempt - 1, p.initialDelayMs, p.maxDelayMs);
    // Never more than the server's per-IP connection bucket allows (5 quick ones, then one per 10 s).
    const delay = Math.max(backoff, this.#takeToken());
    this.#log.info({ reason, delayMs: delay, attempt: this.#attempt + 1 }, "reconnecting to CyTube");
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#connect();
    }, delay);
    return delay;
  }

  async #connect(): Promise<void> {
    if (this.#stopped) return;
    this.#attempt += 1;
    this.#o.onStatus({ type: "connecting", attempt: this.#attempt });
    let url: string;
    try {
      url = await discoverSocketUrl(
        this.#o.server,
        this.#o.channel,
        this.#o.fetch ? { fetch: this.#o.fetch } : {},
      );
    } catch (err) {
      if (this.#stopped) return;
      this.#log.warn({ err: errorMessage(err) }, "CyTube discovery failed");
      const wait = this.#scheduleReconnect("discovery failed");
      this.#o.onStatus({ type: "disconnected", reason: errorMessage(err), reconnectInMs: wait });
      return;
    }
    if (this.#stopped) return;
    const wait = this.#takeToken();
    if (wait > 0) {
      this.#attempt -= 1;
      this.#log.info({ delayMs: wait }, "waiting for the per-IP connection limit");
      this.#timer = setTimeout(() => void this.#connect(), wait);
      return;
    }
    this.#tokens -= 1;
    this.#open(url);
  }

  #open(url: string): void {
    this.#kickReason = undefined;
    this.#loggedIn = false;
    // engine.io hands `maxPayload` to ws although its typings leave it out.
    const options: Partial<ManagerOptions & SocketOptions> & { maxPayload: number } = {
      transports: ["websocket"],
      reconnection: false,
      forceNew: true,
      timeout: 20_000,
      maxPayload: MAX_FRAME_BYTES,
      ...(this.#o.extraHeaders ? { extraHeaders: this.#o.extraHeaders } : {}),
    };
    const socket = io(url, options);
    this.#socket = socket;
    socket.onAny((event: string, ...args: unknown[]) => {
      if (socket !== this.#socket) return;
      this.#onFrame(event, args[0]);
    });
    socket.on("connect", () => {
      if (socket !== this.#socket) return;
      this.#o.onStatus({ type: "connected" });
      this.#log.info({ url }, "connected to CyTube");
      this.#login();
      socket.emit("joinChannel", {
        name: this.#o.channel,
        ...(this.#o.channelPassword ? { pw: this.#o.channelPassword } : {}),
      });
    });
    socket.on("connect_error", (err: Error) => {
      if (socket !== this.#socket) return;
      socket.removeAllListeners();
      socket.offAny();
      socket.disconnect();
      this.#socket = undefined;
      if (this.#stopped) return;
      if (/rate limit/i.test(err.message)) this.#tokens = 0;
      const reason = foreignText(err.message);
      this.#log.warn({ err: reason }, "CyTube connection failed");
      if (/banned from the server/i.test(err.message)) {
        this.#o.onStatus({ type: "fatal", error: reason });
        return;
      }
      const wait = this.#scheduleReconnect(reason);
      this.#o.onStatus({ type: "disconnected", reason, reconnectInMs: wait });
    });
    socket.on("disconnect", (reason: string) => {
      if (socket !== this.#socket) return;
      socket.removeAllListeners();
      socket.offAny();
      this.#socket = undefined;
      this.#loggedIn = false;
      if (this.#stopped) return;
      const kick = this.#kickReason;
      // A moderator typed the reason: logs and health get it escaped.
      const why = kick === undefined ? reason : `kicked: ${foreignText(kick)}`;
      if (kick !== undefined) {
        const rejoin = kickDecision(kick, {
          rejoinOnKick: this.#o.rejoinOnKick,
          rejoinOnBan: this.#o.rejoinOnBan,
          guest: !this.#o.password,
        });
        this.#o.onStatus({ type: "kicked", reason: foreignText(kick), rejoin });
        if (!rejoin) {
          this.#log.warn(
            { reason: foreignText(kick) },
            "kicked from CyTube; not rejoining (config rejoin_on_kick / rejoin_on_ban)",
          );
          this.#o.onStatus({ type: "disconnected", reason: why, reconnectInMs: null });
          return;
        }
      }
      const wait = this.#scheduleReconnect(why);
      this.#o.onStatus({ type: "disconnected", reason: why, reconnectInMs: wait });
    });
  }

  #login(): void {
    const name = this.#o.username;
    if (!name) return;
    const pw = this.#o.password;
    this.#socket?.emit("login", pw ? { name, pw } : { name });
  }

  #onFrame(event: string, payload: unknown): void {
    if (event === "kick") {
      const reason = (payload as { reason?: unknown } | null)?.reason;
      this.#kickReason = typeof reason === "string" ? reason : "";
    } else if (event === "login") {
      const r = (payload ?? {}) as { success?: unknown; error?: unknown; name?: unknown };
      if (r.success === true) {
        this.#loggedIn = true;
        this.#attempt = 0;
        this.#log.info({ name: r.name }, "logged in to CyTube");
      } else {
        const raw = typeof r.error === "string" ? r.error : "login refused";
        const retryInMs = loginRetryDelayMs(raw);
        const error = foreignText(raw);
        // The refusal names the account, never the password.
        this.#log.error(
          { user: this.#o.username, error, retryInMs },
          retryInMs === null
            ? "CyTube login refused; staying connected read-only"
            : "CyTube login refused; retrying",
        );
        this.#o.onStatus({ type: "login_failed", error, retryInMs });
        if (retryInMs !== null) {
          const socket = this.#socket;
          clearTimeout(this.#loginTimer);
          this.#loginTimer = setTimeout(() => {
            this.#loginTimer = undefined;
            if (socket === this.#socket && !this.#stopped) this.#login();
          }, retryInMs);
          this.#loginTimer.unref?.();
        }
      }
    } else if (event === "needPassword") {
      if (payload === true) {
        this.#log.error({}, "CyTube refused the channel password (channel_password)");
        this.#o.onStatus({ type: "fatal", error: "wrong channel password" });
      } else if (this.#o.channelPassword) {
        this.#socket?.emit("channelPassword", this.#o.channelPassword);
      } else {
        this.#log.error({}, "the channel needs a password; set channel_password");
        this.#o.onStatus({ type: "fatal", error: "channel needs a password" });
      }
    }
    this.#o.onFrame(event, payload);
  }
}
