import {
  connect,
  createInbox,
  ErrorCode,
  type Msg,
  type NatsConnection,
  type NatsError,
  type Subscription,
} from "nats";
import { backoffDelay } from "./backoff.js";
import { createEnvelope, decodeEnvelope, type Envelope, encodeEnvelope, encodeText } from "./envelope.js";
import { errorMessage, RoseyError } from "./errors.js";
import type { Logger } from "./logger.js";
import { natsConnectOptions } from "./nats/connect-options.js";
import { redactUrl } from "./redact-url.js";
import { isReplySubject } from "./subjects.js";

/**
 * The bus: the only way parts of Rosey talk. A thin layer over a real NATS connection that speaks
 * envelopes (validated on the way in), isolates handler failures, and drains on close.
 */

export interface BusMessage<T = unknown> {
  readonly subject: string;
  readonly envelope: Envelope<T>;
  /** Reply subject when the sender expects an answer. */
  readonly replyTo: string | undefined;
  /** Answers a request; the reply keeps the request's correlationId. Returns false when no reply was asked. */
  respond(data: unknown, fields?: { source?: string }): boolean;
}

export type BusHandler<T = unknown> = (message: BusMessage<T>) => void | Promise<void>;

export interface BusSubscription {
  readonly subject: string;
  unsubscribe(): void;
}

export interface PublishOptions {
  correlationId?: string | undefined;
  /** Overrides the bus's own source; forwarders (the gate) stamp the verified sender here. */
  source?: string | undefined;
  /**
   * Asks for answers on this subject (one from `createInbox`) without waiting for a single reply as
   * `request` does: for a message many parts receive, of which some may answer.
   */
  replyTo?: string | undefined;
}

export interface RequestOptions extends PublishOptions {
  timeoutMs: number;
}

export interface SubscribeOptions {
  /** Queue group: each message goes to one member of the group. */
  queue?: string;
}

export interface Bus {
  /** The `source` stamped on what this bus publishes, e.g. `core`, `connector:console`. */
  readonly source: string;
  /** The underlying connection, for JetStream users (database service). */
  readonly connection: NatsConnection;
  publish<T>(subject: string, data: T, options?: PublishOptions): Envelope<T>;
  /** Publishes a ready-made envelope. */
  publishEnvelope(envelope: Envelope, replyTo?: string): void;
  /** A subject nobody else listens on, for answers to come back to (`PublishOptions.replyTo`). */
  createInbox(): string;
  /**
   * Publishes envelope JSON text built by a forwarder that already holds the payload as JSON (the gate),
   * so the payload is not parsed and encoded a second time on the hot path.
   */
  publishEncoded(subject: string, envelopeJson: string): void;
  subscribe<T = unknown>(
    pattern: string,
    handler: BusHandler<T>,
    options?: SubscribeOptions,
  ): BusSubscription;
  request<T = unknown>(subject: string, data: unknown, options: RequestOptions): Promise<Envelope<T>>;
  /** Publishes a ready-made envelope as a request. */
  requestEnvelope<T = unknown>(envelope: Envelope, timeoutMs: number): Promise<Envelope<T>>;
  /** `publishEncoded`'s request counterpart. */
  requestEncoded<T = unknown>(subject: string, envelopeJson: string, timeoutMs: number): Promise<Envelope<T>>;
  flush(): Promise<void>;
  /** Drains subscriptions and pending publishes, then closes. Idempotent. */
  close(): Promise<void>;
}

export interface BusOptions {
  /** May carry credentials (`nats://user:password@host:port`, `nats://token@host:port`): see `natsConnectOptions`. */
  url: string;
  source: string;
  logger: Logger;
  /** Connection name shown by the server's monitoring. */
  name?: string;
  connectTimeoutMs?: number;
  /** Give up on reconnecting after this many attempts; -1 retries forever. @default -1 */
  maxReconnectAttempts?: number;
  /** How long `close()` waits for the drain before it closes anyway. @default 5000 */
  drainTimeoutMs?: number;
  /**
   * Where answers to this bus's requests (its own and JetStream's) arrive: a part with a NATS user of its
   * own may subscribe only under its prefix (nats/component-users.ts). @default "_INBOX"
   */
  inboxPrefix?: string;
}

const BACKOFF_BASE_MS = 100;
const BACKOFF_MAX_MS = 5_000;
const AUTH_HINT =
  " (give the server's credentials in the URL: nats://user:password@host:port or nats://token@host:port;" +
  " a running `rosey start`'s embedded server notes its URL in <dataDir>/nats-server.json)";

/**
 * @throws {RoseyError} CONFIG_INVALID for a URL `natsConnectOptions` refuses; NATS_START_FAILED when the
 *   server cannot be reached or refuses the credentials. Messages show the URL redacted.
 */
export async function createBus(options: BusOptions): Promise<Bus> {
  let attempts = 0;
  const connection = await connect({
    ...natsConnectOptions(options.url),
    name: options.name ?? options.source,
    timeout: options.connectTimeoutMs ?? 10_000,
    reconnect: true,
    maxReconnectAttempts: options.maxReconnectAttempts ?? -1,
    ...(options.inboxPrefix ? { inboxPrefix: options.inboxPrefix } : {}),
    // Capturing a stack trace for every request/flush costs ~8% of the core's CPU at 1,000 msg/s.
    noAsyncTraces: true,
    // Exponential backoff with jitter; reset once a reconnect succeeds (see the status loop below).
    reconnectDelayHandler: () => {
      const delay = backoffDelay(attempts++, BACKOFF_BASE_MS, BACKOFF_MAX_MS);
      return delay / 2 + Math.random() * (delay / 2);
    },
  }).catch((err: unknown) => {
    const refused = (err as Partial<NatsError>).code === ErrorCode.AuthorizationViolation;
    throw new RoseyError(
      "NATS_START_FAILED",
      `Cannot connect to NATS at ${redactUrl(options.url)}: ${errorMessage(err)}${refused ? AUTH_HINT : ""}`,
      { cause: err },
    );
  });
  return new NatsBus(connection, options, () => {
    attempts = 0;
  });
}

/** A delivered message; `respond` is a method, so delivery allocates no closure per message. */
class IncomingMessage<T> implements BusMessage<T> {
  readonly subject: string;
  readonly envelope: Envelope<T>;
  readonly #msg: Msg;
  readonly #source: string;

  constructor(msg: Msg, envelope: Envelope<T>, source: string) {
    this.subject = msg.subject;
    this.envelope = envelope;
    this.#msg = msg;
    this.#source = source;
  }

  get replyTo(): string | undefined {
    const reply = this.#msg.reply;
    return reply && isReplySubject(reply) ? reply : undefined;
  }

  respond(data: unknown, fields?: { source?: string }): boolean {
    const replyTo = this.replyTo;
    if (!replyTo) return false;
    const reply = createEnvelope(replyTo, data, {
      source: fields?.source ?? this.#source,
      correlationId: this.envelope.correlationId,
    });
    return this.#msg.respond(encodeEnvelope(reply));
  }
}

interface PendingRequest {
  subject: string;
  resolve(envelope: Envelope): void;
  reject(err: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

/** Settles a request with its reply: a 503 status with no payload means nobody was listening. */
function settle(pending: PendingRequest, msg: Msg): void {
  if (msg.data.length === 0 && msg.headers?.code === 503) {
    pending.reject(new RoseyError("NO_RESPONDERS", `Nothing is listening on '${pending.subject}'`));
    return;
  }
  try {
    pending.resolve(decodeEnvelope(msg.data, pending.subject));
  } catch (err) {
    pending.reject(err as Error);
  }
}

class NatsBus implements Bus {
  readonly source: string;
  readonly connection: NatsConnection;
  readonly #log: Logger;
  readonly #drainTimeoutMs: number;
  #closing: Promise<void> | undefined;
  /** False between a disconnect and the reconnect: there is no server to drain to then. */
  #connected = true;
  readonly #inboxPrefix: string | undefined;
  readonly #inbox: string;
  readonly #pending = new Map<string, PendingRequest>();
  #nextToken = 1;

  constructor(connection: NatsConnection, options: BusOptions, onReconnect: () => void) {
    this.source = options.source;
    this.connection = connection;
    this.#log = options.logger.child({ component: "bus" });
    this.#drainTimeoutMs = options.drainTimeoutMs ?? 5_000;
    this.#inboxPrefix = options.inboxPrefix;
    this.#inbox = createInbox(this.#inboxPrefix);
    const prefix = this.#inbox.length + 1;
    connection.subscribe(`${this.#inbox}.*`, {
      callback: (_err, msg) => {
        const token = msg.subject.slice(prefix);
        const pending = this.#pending.get(token);
        if (!pending) return;
        this.#pending.delete(token);
        clearTimeout(pending.timer);
        settle(pending, msg);
      },
    });
    void this.#watchStatus(onReconnect);
  }

  async #watchStatus(onReconnect: () => void): Promise<void> {
    for await (const status of this.connection.status()) {
      if (status.type === "reconnect") {
        this.#connected = true;
        onReconnect();
        this.#log.info({ server: status.data }, "reconnected to NATS");
      } else if (status.type === "disconnect") {
        this.#connected = false;
        this.#log.warn({ server: status.data }, "disconnected from NATS; reconnecting");
      } else if (status.type === "error") {
        this.#log.error({ err: status.data }, "NATS connection error");
      }
    }
  }

  publish<T>(subject: string, data: T, options: PublishOptions = {}): Envelope<T> {
    const envelope = createEnvelope(subject, data, {
      source: options.source ?? this.source,
      correlationId: options.correlationId,
    });
    this.publishEnvelope(envelope, options.replyTo);
    return envelope;
  }

  publishEnvelope(envelope: Envelope, replyTo?: string): void {
    this.#assertOpen();
    this.connection.publish(
      envelope.subject,
      encodeEnvelope(envelope),
      replyTo ? { reply: replyTo } : undefined,
    );
  }

  createInbox(): string {
    return createInbox(this.#inboxPrefix);
  }

  publishEncoded(subject: string, envelopeJson: string): void {
    this.#assertOpen();
    this.connection.publish(subject, encodeText(envelopeJson));
  }

  subscribe<T = unknown>(
    pattern: string,
    handler: BusHandler<T>,
    options: SubscribeOptions = {},
  ): BusSubscription {
    this.#assertOpen();
    const log = this.#log;
    const source = this.source;
    const sub: Subscription = this.connection.subscribe(pattern, {
      ...(options.queue ? { queue: options.queue } : {}),
      callback: (err: NatsError | null, msg: Msg) => {
        if (err) {
          log.error({ err, subject: pattern }, "subscription error");
          return;
        }
        let envelope: Envelope<T>;
        try {
          envelope = decodeEnvelope(msg.data, msg.subject) as Envelope<T>;
        } catch (decodeErr) {
          log.warn({ subject: msg.subject, err: errorMessage(decodeErr) }, "dropped malformed message");
          return;
        }
        const message = new IncomingMessage<T>(msg, envelope, source);
        try {
          const result = handler(message);
          if (result && typeof (result as Promise<void>).catch === "function") {
            (result as Promise<void>).catch((handlerErr: unknown) =>
              this.#handlerFailed(handlerErr, message),
            );
          }
        } catch (handlerErr) {
          this.#handlerFailed(handlerErr, message);
        }
      },
    });
    return {
      subject: pattern,
      unsubscribe: () => {
        if (!sub.isClosed()) sub.unsubscribe();
      },
    };
  }

  #handlerFailed(err: unknown, message: BusMessage): void {
    this.#log.error(
      { err, subject: message.subject, correlationId: message.envelope.correlationId },
      "handler failed",
    );
  }

  request<T = unknown>(subject: string, data: unknown, options: RequestOptions): Promise<Envelope<T>> {
    const envelope = createEnvelope(subject, data, {
      source: options.source ?? this.source,
      correlationId: options.correlationId,
    });
    return this.requestEnvelope<T>(envelope, options.timeoutMs);
  }

  requestEnvelope<T = unknown>(envelope: Envelope, timeoutMs: number): Promise<Envelope<T>> {
    return this.#request<T>(envelope.subject, encodeEnvelope(envelope), timeoutMs);
  }

  requestEncoded<T = unknown>(
    subject: string,
    envelopeJson: string,
    timeoutMs: number,
  ): Promise<Envelope<T>> {
    return this.#request<T>(subject, encodeText(envelopeJson), timeoutMs);
  }

  /**
   * Request/reply over one wildcard inbox subscription per bus. The client's own `request()` builds a
   * cancellation error (with a stack trace) for every request even when it succeeds: ~6% of the core's busy
   * time at 3,000 msg/s. Replies are matched by inbox token; a 503 status with no payload means no responders.
   */
  #request<T>(subject: string, payload: Uint8Array, timeoutMs: number): Promise<Envelope<T>> {
    this.#assertOpen();
    const token = (this.#nextToken++).toString(36);
    return new Promise<Envelope<T>>((resolve, reject) => {
      // The timer gets the token as an argument: no closure per request on the hot path.
      const timer = setTimeout(this.#expire, timeoutMs, token, timeoutMs);
      this.#pending.set(token, { subject, resolve: resolve as (e: Envelope) => void, reject, timer });
      this.connection.publish(subject, payload, { reply: `${this.#inbox}.${token}` });
    });
  }

  readonly #expire = (token: string, timeoutMs: number): void => {
    const pending = this.#pending.get(token);
    if (!pending) return;
    this.#pending.delete(token);
    pending.reject(new RoseyError("TIMEOUT", `No reply on '${pending.subject}' within ${timeoutMs} ms`));
  };

  flush(): Promise<void> {
    return this.connection.flush();
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      for (const pending of this.#pending.values()) {
        clearTimeout(pending.timer);
        pending.reject(new RoseyError("BUS_CLOSED", "The bus closed before the reply arrived"));
      }
      this.#pending.clear();
      if (this.connection.isClosed()) return;
      // A drain waits for the server's acknowledgement, which never comes while reconnecting: without
      // these bounds a stop during a NATS outage hangs until the server is back (or forever).
      if (!this.#connected) {
        this.#log.warn(
          "closing while disconnected from NATS: messages not yet sent to the server are dropped",
        );
        await this.connection.close();
        return;
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const outcome = await Promise.race([
        this.connection.drain().then(
          () => "drained",
          (err: unknown) => errorMessage(err),
        ),
        new Promise<string>((resolve) => {
          timer = setTimeout(
            resolve,
            this.#drainTimeoutMs,
            `no answer from NATS within ${this.#drainTimeoutMs} ms`,
          );
        }),
      ]);
      clearTimeout(timer);
      if (outcome !== "drained") {
        this.#log.warn({ err: outcome }, "drain failed; closing");
        await this.connection.close();
      }
    })();
    return this.#closing;
  }

  #assertOpen(): void {
    if (this.connection.isClosed() || this.connection.isDraining()) {
      throw new RoseyError("BUS_CLOSED", "The bus is closed; no more messages can be sent");
    }
  }
}
