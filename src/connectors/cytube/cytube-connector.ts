import { ErrorCode as NatsErrorCode } from "nats";
import type { Bus, BusMessage, BusSubscription } from "../../core/bus.js";
import type { CytubePlatformConfig } from "../../core/config/schema.js";
import { type ErrorCode, errorMessage } from "../../core/errors.js";
import { LogBudget } from "../../core/log-budget.js";
import type { Logger } from "../../core/logger.js";
import type { HealthCheck } from "../../core/monitoring/health.js";
import { platformSubject } from "../../core/subjects.js";
import type { Connector } from "../connector.js";
import { type ActionPlan, isActionName, planAction } from "./actions.js";
import { type Addition, type AddOutcome, AddQueue, type AddQueueOptions, queueLimit } from "./add-queue.js";
import { type ClientStatus, CytubeClient, type ReconnectPolicy } from "./client.js";
import type { FetchLike } from "./discovery.js";
import { foreignText } from "./foreign-text.js";
import { htmlToText } from "./html.js";
import { type NormalizeContext, normalizeEvent, PLATFORM, userData } from "./normalize.js";
import type { RankContext } from "./permissions.js";
import { effectiveFlood, type FloodParams, SendQueue, type SendQueueOptions } from "./send-queue.js";
import { ChannelState, MAX_PLAYLIST_ITEMS, MAX_USERS } from "./state.js";

/**
 * One CyTube channel on the bus (`source` `connector:cytube`):
 *
 * ```
 *  CyTube ──frames──► client ──► raw: rosey.platform.cytube.<event>
 *                               ├─► normalize ──► rosey.events.*
 *                               └─► state ◄── rosey.api.{users.list,playlist.get,channel.get}
 *  rosey.actions.> ──► planAction (zod + rank check) ──► send queue (chat/PM) ──► client
 *                                                   ├──► add queue (playlist.queue) ──► client
 *                                                   └──► frame (playlist, poll)  ──► client
 * ```
 */

export interface CytubeConnectorOptions {
  bus: Bus;
  config: CytubePlatformConfig;
  logger: Logger;
  /** Overrides the limiter the server is assumed to apply (tests, or a server with custom limits). */
  flood?: FloodParams;
  sendQueue?: Pick<
    SendQueueOptions,
    "marginMs" | "burstHeadroom" | "maxPerSource" | "inflightTimeoutMs" | "maxAttempts"
  >;
  addQueue?: Pick<
    AddQueueOptions,
    "marginMs" | "burstHeadroom" | "maxPerSource" | "answerTimeoutMs" | "maxAttempts"
  >;
  reconnect?: Partial<ReconnectPolicy>;
  extraHeaders?: Record<string, string>;
  fetch?: FetchLike;
  /** Where `password_env` is looked up. @default process.env */
  env?: Record<string, string | undefined>;
}

interface PendingAction {
  action: string;
  message: BusMessage;
}

const EVENT_TOKEN = /^[A-Za-z0-9_-]{1,64}$/;
/** Log lines whose rate the server decides (its error frames, refusals, malformed frames), per second. */
const SERVER_LOGS_PER_SECOND = 20;

export class CytubeConnector implements Connector {
  readonly platform = PLATFORM;
  /** Resolves on `stop()`: a CyTube connector runs until stopped. */
  readonly finished: Promise<void>;
  #finish!: () => void;
  readonly channel: string;
  readonly #bus: Bus;
  readonly #config: CytubePlatformConfig;
  readonly #log: Logger;
  readonly #state: ChannelState;
  readonly #queue: SendQueue;
  readonly #additions: AddQueue;
  readonly #client: CytubeClient;
  readonly #floodOverride: FloodParams | undefined;
  readonly #subs: BusSubscription[] = [];
  readonly #pending: PendingAction[] = [];
  #joined = false;
  /** The client's latest status, for health: why we are not in the channel, and whether it will retry. */
  #lastStatus: ClientStatus | undefined;
  /** Rank picture of the last joined session, for checking actions that arrive while we are away. */
  #lastCtx: RankContext | undefined;
  #listening = false;
  #started = false;
  #stopping: Promise<void> | undefined;
  #readyWaiters: Array<() => void> = [];
  readonly #serverLogs = new LogBudget(SERVER_LOGS_PER_SECOND);
  /** `state.overflow` when last reported. */
  #overflowReported = 0;

  constructor(options: CytubeConnectorOptions) {
    this.finished = new Promise((resolve) => {
      this.#finish = resolve;
    });
    this.#bus = options.bus;
    this.#config = options.config;
    this.channel = options.config.channel.toLowerCase();
    this.#log = options.logger.child({ component: "cytube", channel: this.channel });
    this.#state = new ChannelState(this.channel);
    this.#floodOverride = options.flood;
    this.#queue = new SendQueue({
      ...options.sendQueue,
      ...(options.flood ? { flood: options.flood } : {}),
      emit: (m) =>
        this.#client.emit(
          m.kind === "pm" ? "pm" : "chatMsg",
          m.kind === "pm" ? { to: m.to, msg: m.text } : { msg: m.text },
        ),
      onGiveUp: (m, reason) =>
        this.#reportError(
          "MESSAGE_DROPPED",
          `Gave up sending a ${m.kind} from '${m.source}': ${reason}`,
          { source: m.source },
          m.correlationId,
        ),
    });
    this.#additions = new AddQueue({
      ...options.addQueue,
      emit: (payload) => this.#client.emit("queue", payload),
      onSettled: (addition, outcome) => this.#additionSettled(addition, outcome),
    });
    const env = options.env ?? process.env;
    const password =
      options.config.password ?? (options.config.password_env ? env[options.config.password_env] : undefined);
    if (options.config.password_env && !password) {
      this.#log.warn(
        { password_env: options.config.password_env },
        "password_env names an unset variable; logging in as a guest",
      );
    }
    this.#client = new CytubeClient({
      server: options.config.server,
      channel: this.channel,
      username: options.config.username,
      password,
      channelPassword: options.config.channel_password,
      rejoinOnKick: options.config.rejoin_on_kick,
      rejoinOnBan: options.config.rejoin_on_ban,
      logger: options.logger,
      ...(options.reconnect ? { reconnect: options.reconnect } : {}),
      ...(options.extraHeaders ? { extraHeaders: options.extraHeaders } : {}),
      ...(options.fetch ? { fetch: options.fetch } : {}),
      onFrame: (event, payload) => this.#onFrame(event, payload),
      onStatus: (status) => this.#onStatus(status),
    });
  }

  /** True while logged in and inside the channel. */
  get joined(): boolean {
    return this.#joined;
  }

  /** Resolves once the bot is in the channel (tests; the orchestrator does not wait for a remote site). */
  whenJoined(): Promise<void> {
    if (this.#joined) return Promise.resolve();
    return new Promise((resolve) => this.#readyWaiters.push(resolve));
  }

  async listen(): Promise<void> {
    if (this.#listening) return;
    this.#listening = true;
    const bus = this.#bus;
    this.#subs.push(
      bus.subscribe("rosey.actions.>", (m) => this.#onAction(m)),
      bus.subscribe("rosey.api.users.list", (m) => this.#answer(m, () => this.#usersReply())),
      bus.subscribe("rosey.api.playlist.get", (m) => this.#answer(m, () => this.#playlistReply())),
      bus.subscribe("rosey.api.channel.get", (m) =>
        this.#answer(m, () => ({ ok: true, platform: PLATFORM, ...this.#state.snapshot() })),
      ),
    );
    await bus.flush();
  }

  /** Actions that arrive before the bot has joined wait for it (`#pending`). */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    await this.listen();
    this.#client.start();
  }

  /** Idempotent: leaves the channel, unsubscribes, gives up queued messages. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      for (const s of this.#subs.splice(0)) s.unsubscribe();
      this.#client.stop();
      this.#queue.clear();
      this.#additions.clear();
      this.#joined = false;
      for (const p of this.#pending.splice(0))
        this.#reply(p.message, {
          ok: false,
          error: { code: "BUS_CLOSED", message: "The CyTube connector stopped" },
        });
      this.#finish();
    })();
    return this.#stopping;
  }

  // ── inbound ────────────────────────────────────────────────────────────────────────────────────

  #onFrame(event: string, payload: unknown): void {
    const receivedAt = Date.now();
    const state = this.#state;
    if (EVENT_TOKEN.test(event)) {
      this.#safePublish(platformSubject(PLATFORM, event), {
        platform: PLATFORM,
        channel: this.channel,
        event,
        payload,
        timestamp: receivedAt,
      });
    } else if (this.#serverLogged()) {
      this.#log.debug(
        { event: foreignText(event, 80) },
        "raw event name is not a subject token; not republished",
      );
    }
    const ctx: NormalizeContext = {
      channel: this.channel,
      receivedAt,
      self: state.self,
      joined: this.#joined,
      lookup: (name) => state.user(name),
    };
    let normalized: ReturnType<typeof normalizeEvent> = [];
    try {
      normalized = normalizeEvent(event, payload, ctx);
    } catch (err) {
      if (this.#serverLogged())
        this.#log.warn(
          { event: foreignText(event, 80), err: errorMessage(err) },
          "could not normalize a CyTube frame",
        );
    }
    state.apply(event, payload, receivedAt);
    if (state.overflow !== this.#overflowReported && this.#serverLogged()) {
      this.#log.warn(
        {
          dropped: state.overflow - this.#overflowReported,
          maxUsers: MAX_USERS,
          maxItems: MAX_PLAYLIST_ITEMS,
        },
        "CyTube sent more users or playlist items than the connector keeps; the rest were left out",
      );
      this.#overflowReported = state.overflow;
    }
    if (event === "queueFail" && this.#joined) {
      this.#onQueueFail(payload, normalized);
      return;
    }
    for (const n of normalized) this.#safePublish(`rosey.events.${n.type}`, n.data);

    switch (event) {
      case "chatMsg":
      case "pm": {
        const name = (payload as { username?: unknown } | null)?.username;
        if (this.#joined && typeof name === "string" && state.isSelf(name)) this.#queue.onEcho();
        break;
      }
      case "cooldown":
        if (this.#serverLogged())
          this.#log.warn(
            { ms: typeof payload === "number" ? payload : foreignText(payload, 80) },
            "CyTube flood control dropped a message; resending",
          );
        this.#queue.onCooldown();
        break;
      case "noflood":
      case "spamFiltered":
        this.#queue.onRejected(`refused by CyTube (${event}): ${foreignText(payload)}`);
        break;
      case "rank":
      case "channelOpts":
        this.#queue.setFlood(this.#floodOverride ?? effectiveFlood(state.options, state.rank));
        this.#additions.setLimits(queueLimit(state.rank));
        break;
      case "queue": {
        const item = (payload as { item?: { uid?: unknown; queueby?: unknown; media?: unknown } } | null)
          ?.item;
        const media = item?.media as { id?: unknown; type?: unknown } | undefined;
        if (typeof item?.queueby === "string" && state.isSelf(item.queueby) && media)
          this.#additions.onQueued(
            { id: String(media.id), type: String(media.type) },
            typeof item.uid === "number" ? item.uid : undefined,
          );
        break;
      }
      case "addUser":
        if (state.self && state.isSelf(String((payload as { name?: unknown } | null)?.name ?? "")))
          this.#markJoined();
        break;
      case "userlist":
        if (this.#client.loggedIn && state.self && state.user(state.self)) this.#markJoined();
        break;
      case "login":
        // Logged in after joining (the retry after a guest-login delay): our addUser follows.
        break;
      case "errorMsg":
        if (this.#serverLogged())
          this.#log.warn({ msg: foreignText((payload as { msg?: unknown } | null)?.msg) }, "CyTube error");
        break;
    }
  }

  #markJoined(): void {
    if (this.#joined) return;
    this.#joined = true;
    this.#lastCtx = { ...this.#state.rankContext(), permissions: { ...this.#state.permissions } };
    this.#log.info({ name: this.#state.self, rank: this.#state.rank }, "joined the CyTube channel");
    this.#queue.setFlood(this.#floodOverride ?? effectiveFlood(this.#state.options, this.#state.rank));
    this.#additions.setLimits(queueLimit(this.#state.rank));
    // What the previous socket left unanswered goes first (retry queues), then what waited for us.
    this.#queue.resume();
    this.#additions.resume();
    for (const p of this.#pending.splice(0)) this.#execute(p.action, p.message, true);
    for (const w of this.#readyWaiters.splice(0)) w();
  }

  health(): HealthCheck {
    const name = `connector cytube ${this.channel}`;
    if (this.#joined)
      return {
        name,
        status: "ok",
        detail: `joined as ${this.#state.self ?? "anonymous"} (rank ${this.#state.rank})`,
      };
    const s = this.#lastStatus;
    if (!s) return { name, status: "degraded", detail: "connecting" };
    switch (s.type) {
      case "fatal":
        return { name, status: "down", detail: s.error };
      case "login_failed":
        return s.retryInMs === null
          ? { name, status: "down", detail: `login refused: ${s.error} (fix the config)` }
          : { name, status: "degraded", detail: `login refused: ${s.error}; retrying in ${s.retryInMs} ms` };
      case "disconnected":
        return s.reconnectInMs === null
          ? { name, status: "down", detail: `disconnected for good: ${s.reason}` }
          : { name, status: "degraded", detail: `disconnected (${s.reason}); reconnecting` };
      case "kicked":
        return { name, status: s.rejoin ? "degraded" : "down", detail: `kicked: ${s.reason}` };
      default:
        return { name, status: "degraded", detail: s.type === "connecting" ? "connecting" : "joining" };
    }
  }

  #onStatus(status: ClientStatus): void {
    this.#lastStatus = status;
    switch (status.type) {
      case "connecting":
      case "connected":
        break;
      case "disconnected":
        if (this.#joined)
          this.#lastCtx = { ...this.#state.rankContext(), permissions: { ...this.#state.permissions } };
        this.#joined = false;
        this.#queue.pause();
        this.#additions.pause();
        this.#state.resetSession();
        this.#log.warn(
          { reason: status.reason, reconnectInMs: status.reconnectInMs },
          "left the CyTube channel",
        );
        if (status.reconnectInMs === null)
          this.#reportError("DISCONNECTED", `Disconnected from CyTube for good: ${status.reason}`);
        break;
      case "kicked":
        this.#log.warn({ reason: status.reason, rejoin: status.rejoin }, "kicked from the CyTube channel");
        break;
      case "login_failed":
        this.#reportError(
          "LOGIN_FAILED",
          `CyTube login as '${this.#config.username ?? ""}' refused: ${status.error}`,
          {
            retry_in_ms: status.retryInMs,
          },
        );
        break;
      case "fatal":
        this.#reportError("CYTUBE_FATAL", status.error);
        break;
    }
  }

  // ── actions ────────────────────────────────────────────────────────────────────────────────────

  #onAction(message: BusMessage): void {
    const data = message.envelope.data as { platform?: unknown; channel?: unknown } | null;
    if (!data || typeof data !== "object" || data.platform !== PLATFORM) return;
    if (typeof data.channel !== "string" || data.channel.toLowerCase() !== this.channel) return;
    const action = message.subject.slice("rosey.actions.".length);
    if (!isActionName(action)) {
      this.#refuse(message, action, "VALIDATION_FAILED", `The CyTube connector has no action '${action}'`);
      return;
    }
    if (!this.#joined) {
      // Refuse now what we already know we cannot do; keep the rest for when we are back.
      if (this.#lastCtx) {
        const plan = planAction(action, data, this.#state, this.#lastCtx);
        if (!plan.ok) {
          this.#refuse(message, action, plan.code, plan.message);
          return;
        }
      }
      this.#pending.push({ action, message });
      this.#reply(message, { ok: true, status: "queued" });
      return;
    }
    this.#execute(action, message, false);
  }

  #execute(action: string, message: BusMessage, replied: boolean): void {
    if (!isActionName(action)) return;
    const plan: ActionPlan = planAction(action, message.envelope.data, this.#state);
    if (!plan.ok) {
      this.#refuse(message, action, plan.code, plan.message, replied);
      return;
    }
    if (plan.kind === "chat") {
      try {
        for (const line of plan.lines) {
          void this.#queue.enqueue({
            ...line,
            source: message.envelope.source,
            correlationId: message.envelope.correlationId,
          });
        }
      } catch (err) {
        this.#refuse(message, action, "RATE_LIMITED", errorMessage(err), replied);
        return;
      }
      if (!replied) this.#reply(message, { ok: true, status: "queued", chunks: plan.lines.length });
      return;
    }
    if (plan.kind === "add") {
      const env = message.envelope;
      try {
        this.#additions.enqueue({
          payload: plan.payload,
          source: env.source,
          correlationId: env.correlationId,
        });
      } catch (err) {
        this.#refuse(message, action, "RATE_LIMITED", errorMessage(err), replied);
        return;
      }
      if (!replied) this.#reply(message, { ok: true, status: "queued" });
      return;
    }
    if (plan.ack) {
      const sent = this.#client.emit(plan.event, plan.payload, (response: unknown) => {
        const error = (response as { error?: { message?: unknown } } | null)?.error;
        if (error)
          this.#refuse(
            message,
            action,
            "VALIDATION_FAILED",
            `CyTube refused ${action}: ${String(error.message)}`,
            replied,
          );
        else if (!replied) this.#reply(message, { ok: true, status: "sent" });
      });
      if (!sent) this.#pending.push({ action, message });
      return;
    }
    if (!this.#client.emit(plan.event, plan.payload)) {
      this.#pending.push({ action, message });
      if (!replied) this.#reply(message, { ok: true, status: "queued" });
      return;
    }
    if (!replied) this.#reply(message, { ok: true, status: "sent" });
  }

  /**
   * A `queueFail` about one of our additions is published as that action's error (its correlationId, source
   * and media); one the add queue sends again (too quick) is not an error, only a log line.
   */
  #onQueueFail(payload: unknown, normalized: ReturnType<typeof normalizeEvent>): void {
    const r = payload as { msg?: unknown; id?: unknown } | null;
    const about = this.#additions.onQueueFail(
      htmlToText(String(r?.msg ?? "")),
      typeof r?.id === "string" ? r.id : undefined,
    );
    if (about?.retrying) {
      this.#log.warn(
        { source: about.addition.source, correlationId: about.addition.correlationId },
        "CyTube refused a playlist addition as too quick; sending it again",
      );
      return;
    }
    for (const n of normalized) {
      if (!about) this.#safePublish(`rosey.events.${n.type}`, n.data);
      else {
        const { source, correlationId, payload: media } = about.addition;
        const data = {
          ...n.data,
          action: "playlist.queue",
          source,
          media: { type: media.type, id: media.id },
        };
        this.#safePublish(`rosey.events.${n.type}`, data, correlationId);
      }
    }
  }

  #additionSettled(addition: Addition, outcome: AddOutcome): void {
    const fields = {
      source: addition.source,
      correlationId: addition.correlationId,
      media: { type: addition.payload.type, id: addition.payload.id },
    };
    if (outcome.status === "added")
      this.#log.debug({ ...fields, uid: outcome.uid }, "playlist addition added");
    else if (outcome.status === "unconfirmed")
      this.#log.warn(fields, "CyTube did not answer a playlist addition; it may or may not have been added");
    else this.#log.warn({ ...fields, reason: outcome.reason }, "playlist addition failed");
  }

  #refuse(
    message: BusMessage,
    action: string,
    code: ErrorCode | string,
    text: string,
    replied = false,
  ): void {
    const env = message.envelope;
    this.#log.warn({ action, source: env.source, correlationId: env.correlationId, code }, text);
    this.#reportError(code, text, { action, source: env.source }, env.correlationId);
    if (!replied) this.#reply(message, { ok: false, error: { code, message: text } });
  }

  #reply(message: BusMessage, data: unknown): void {
    if (!message.replyTo) return;
    try {
      message.respond(data);
    } catch (err) {
      this.#log.warn({ subject: message.subject, err: errorMessage(err) }, "could not answer a request");
      // Silence would leave the asker waiting out its timeout; a channel this big says so instead.
      if ((err as { code?: unknown }).code === "MAX_PAYLOAD_EXCEEDED")
        this.#reply(message, {
          ok: false,
          error: {
            code: "PAYLOAD_TOO_LARGE",
            message: `Cannot answer ${message.subject}: the answer is larger than the bus allows`,
          },
        });
    }
  }

  /** Whether one more log line the server's frames caused fits this second's budget. */
  #serverLogged(): boolean {
    return this.#serverLogs.admit(this.#log, "CyTube frame");
  }

  // ── api ────────────────────────────────────────────────────────────────────────────────────────

  #answer(message: BusMessage, build: () => unknown): void {
    const d = message.envelope.data as { platform?: unknown; channel?: unknown } | null;
    if (d && typeof d === "object") {
      if (d.platform !== undefined && d.platform !== PLATFORM) return;
      // With several channels configured every connector hears the request: only the addressed one answers.
      if (d.channel !== undefined && String(d.channel).toLowerCase() !== this.channel) return;
    }
    this.#reply(message, build());
  }

  #usersReply(): unknown {
    const users = [...this.#state.users.values()].map((u) => ({ ...userData(u), profile: u.profile }));
    return { ok: true, platform: PLATFORM, channel: this.channel, users, count: users.length };
  }

  #playlistReply(): unknown {
    const s = this.#state;
    return {
      ok: true,
      platform: PLATFORM,
      channel: this.channel,
      items: s.playlist.map((i) => ({ uid: i.uid, temp: i.temp, queued_by: i.queueby, media: i.media })),
      current: s.currentUid ?? null,
      media: s.media ?? null,
      position: s.position ?? null,
      locked: s.playlistLocked,
      meta: s.playlistMeta,
    };
  }

  // ── helpers ────────────────────────────────────────────────────────────────────────────────────

  #reportError(
    code: string,
    message: string,
    extra: Record<string, unknown> = {},
    correlationId?: string,
  ): void {
    this.#safePublish(
      "rosey.events.error",
      { platform: PLATFORM, channel: this.channel, timestamp: Date.now(), code, message, ...extra },
      correlationId,
    );
  }

  #safePublish(subject: string, data: unknown, correlationId?: string): void {
    try {
      this.#bus.publish(subject, data, correlationId ? { correlationId } : {});
    } catch (err) {
      if (isOverBusLimit(err)) this.#publishOverLimit(subject, data, correlationId);
      else this.#log.debug({ subject, err: errorMessage(err) }, "could not publish (bus closing?)");
    }
  }

  /**
   * A big channel's `userlist` or `playlist` is over the bus's message limit once its raw frame rides along
   * as `platform_data` (the event holds the list twice). The normalized event is what plugins use, so it
   * goes without the raw copy; what still does not fit is dropped, and either way the log says so.
   */
  #publishOverLimit(subject: string, data: unknown, correlationId?: string): void {
    const raw = data !== null && typeof data === "object" && "platform_data" in data;
    if (raw) {
      const { platform_data: _omitted, ...normalized } = data as Record<string, unknown>;
      try {
        this.#bus.publish(subject, normalized, correlationId ? { correlationId } : {});
        if (this.#serverLogged())
          this.#log.warn({ subject }, "event over the bus's message limit: published without platform_data");
        return;
      } catch (err) {
        if (!isOverBusLimit(err)) {
          this.#log.debug({ subject, err: errorMessage(err) }, "could not publish (bus closing?)");
          return;
        }
      }
    }
    if (this.#serverLogged())
      this.#log.warn({ subject }, "event over the bus's message limit (nats.maxPayloadBytes): dropped");
  }
}

/** nats.js refuses a message over the server's `max_payload` before sending it. */
function isOverBusLimit(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === NatsErrorCode.MaxPayloadExceeded;
}
