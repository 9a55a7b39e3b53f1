/**
 * The plugin contract as TypeScript types (design.md §4, docs/plugins.md): what a plugin's entry module
 * exports, the `ctx` it is given, the command and event envelopes it receives and the errors it can see.
 * Plugin authors import them as `rosey/plugin` (package.json `exports`, emitted as a declaration file by
 * tsconfig.plugin-api.json):
 *
 * ```ts
 * import type { Plugin } from "rosey/plugin";
 *
 * export default {
 *   onCommand(command, ctx) {
 *     return `Hello, ${command.args[0] ?? command.user}!`;
 *   },
 * } satisfies Plugin;
 * ```
 *
 * Types only, and imported only with `import type`: a plugin may import nothing from outside its folder, so
 * the bundler (core/plugins/bundle.ts) refuses any import of "rosey/plugin" that survives compilation.
 * Self-contained, so that the emitted declaration file needs no other. The sandbox's own code is typed by
 * these declarations (ctx.ts, loader.ts, protocol.ts): the implementation and the contract cannot drift apart
 * without `npm run typecheck` failing.
 */

/**
 * A plugin's entry module default export. Hooks are called with `this` set to the exported object; all
 * of one plugin's hooks share one thread and interleave only at `await`.
 *
 * The list of hooks is closed. The loader refuses a hook key whose value is not a function, a function named
 * like a hook that is not one (`onMessage`), and a plugin with none of `start`, `onCommand` or `onEvent`.
 * Checking the export with `satisfies Plugin` catches a misspelt hook before that.
 */
export interface Plugin {
  /**
   * Runs once per worker (at startup, after each restart, on an operator's resume or reload), before any
   * command or manifest event. Awaited, for at most `sandbox.readyTimeoutMs` (5,000 ms); the value is ignored.
   * A throw, a rejection or the timeout fails the plugin, and load failures are not retried.
   */
  start?: (ctx: Ctx) => unknown;
  /**
   * Runs for each of the plugin's manifest commands. A non-empty string returned (or resolved) is sent to the
   * channel the command came from, cut to 10,000 characters; it needs `chat.send` and a publish token, as
   * `ctx.reply` does. `undefined`, `null` and `""` send nothing. A throw or rejection answers the user
   * `Sorry, !x failed; the error has been logged.` The router waits `router.timeoutMs` (5,000 ms) and sends
   * nothing returned later; a handler stuck past `limits.handlerTimeoutMs` gets its worker terminated.
   */
  onCommand?: (command: Command, ctx: CommandCtx) => CommandReturn | PromiseLike<CommandReturn>;
  /**
   * Runs for each message on a manifest `subscribe` pattern; {@link Events} lists the platform's events.
   * The value is ignored; a throw or rejection is logged as `onEvent(<subject>) failed: …`.
   */
  onEvent?: (subject: string, envelope: Envelope, ctx: Ctx) => unknown;
  /**
   * Runs when the plugin is stopped: Rosey's shutdown, or before an operator's resume or reload restarts it.
   * Awaited for at most 2 s. Not called when the worker is killed (watchdog, out of memory, crash) or the
   * plugin suspended. After it, timers are cleared, subscriptions released and pending requests rejected.
   */
  stop?: (ctx: Ctx) => unknown;
}

/** What `onCommand` may return: only a non-empty string is sent. */
// biome-ignore lint/suspicious/noConfusingVoidType: a handler without a return statement returns `void`.
export type CommandReturn = string | null | undefined | void;

/**
 * A parsed chat command, frozen. The router built it from a line such as `!roll 2d6`.
 */
export interface Command {
  /** The command's manifest name, lowercase, even when the user typed an alias. */
  readonly name: string;
  /**
   * The words after the command word. A word opening with a quote runs to the matching quote:
   * `!echo "a b" c` → `["a b", "c"]`; an unmatched quote stays as typed.
   */
  readonly args: readonly string[];
  /** Everything after the command word, trimmed, otherwise untouched. */
  readonly text: string;
  /** Who typed it. */
  readonly user: string;
  /** The user's platform rank (`user_data.rank`), 0 when the connector gave none; the console user is 3. */
  readonly rank: number;
  /** e.g. `"console"`, `"cytube"`. */
  readonly platform: string;
  /** The channel the line came from. */
  readonly channel: string;
  /** The chat message's id. Publishes and replies made while handling the command carry it. */
  readonly correlationId: string;
}

/**
 * The whole API a plugin has, frozen, as `start`, `onEvent`, `stop`, timers and subscription handlers get it
 * (the last two through the ctx their closure captured). Arguments are type-checked and copied to JSON before
 * anything reads them. Every bus operation is checked by the core's gate against what the operator granted;
 * what it refuses is a violation, and enough of them suspend the plugin.
 */
export interface Ctx {
  /** `{name, version}` from the manifest. */
  readonly plugin: PluginInfo;
  /**
   * The plugin's block of the operator's config (`plugins.entries.<name>.config`), frozen; `{}` when there is
   * none. It has passed the manifest's `configSchema`, when there is one, before the plugin's code runs.
   */
  readonly config: Readonly<Record<string, unknown>>;
  /**
   * Publishes `data` on `subject` as the plugin (the gate writes the envelope, `source: plugin:<name>`).
   * Subscribers get `JSON.parse(JSON.stringify(data))`: functions and `undefined` members are left out, a
   * `Date` becomes its ISO string, `undefined` itself is sent as `null`. Costs one publish token.
   *
   * Nothing tells the plugin about a publish the gate refuses (no grant, a subject that breaks the grammar,
   * over the rate): it is dropped and recorded as a violation. Subjects are tokens of `[A-Za-z0-9_-]`, at most
   * 16 tokens and 256 characters, no wildcards. Chat actions take `{platform, channel, text}` on
   * `rosey.actions.chat.send` (capability `chat.send`), plus `to` on `rosey.actions.chat.pm` (`chat.pm`).
   *
   * @throws {TypeError} `subject` is not a string, or `data` cannot be sent as JSON (a function, a `BigInt`,
   *   a circular structure).
   * @throws {RangeError} the JSON is over 65,536 characters.
   */
  publish(subject: string, data: unknown): void;
  /**
   * Sends a request and resolves with the reply's `data` (not its envelope), frozen. Uses the `request`
   * patterns of the grants; costs one publish token. `data` is encoded as for {@link Ctx.publish}, with the
   * same synchronous errors.
   *
   * Rejects with a {@link CtxError}: `PERMISSION_DENIED` (the gate refused it), `RATE_LIMITED` (the publish
   * bucket is empty, or more than 272 requests are pending), `PLUGIN_NOT_RUNNING` (suspended), `TIMEOUT`,
   * `NO_RESPONDERS` (nothing listens on the subject), `BUS_CLOSED` (the core is shutting down); with an Error
   * without a code, `plugin stopped`, when the plugin stops while it is pending.
   */
  request(subject: string, data: unknown, options?: RequestOptions): Promise<unknown>;
  /**
   * Subscribes at run time; the returned function unsubscribes (calling it twice is harmless). A pattern may
   * use `*` and a final `>`, and must be covered by a granted subscribe pattern or the plugin's own namespace
   * `rosey.plugins.<name>.>`. Costs one publish token.
   *
   * A refused subscription throws nothing: the handler is dropped, the plugin's log gets
   * `subscription refused: …` and the gate records a violation (severe for `>` or `rosey.>`). At most 64
   * subscriptions per worker, the manifest's `subscribe` included.
   *
   * @throws {TypeError} `pattern` is not a string or `handler` not a function.
   */
  subscribe(pattern: string, handler: SubscriptionHandler): () => void;
  /** The plugin's own records, kept by the database service. Capability `storage`. */
  readonly storage: CtxStorage;
  /** Writes a line to the core's log, tagged `plugin: <name>` and `source: "plugin"`. */
  readonly log: CtxLog;
  /**
   * Calls `fn` once, with no arguments, after `ms` (not a finite number: 0). A throw or rejection is logged as
   * `timeout failed: …`, naming the callback (give it a name). Cleared when the plugin stops.
   *
   * @returns the timer's id, for {@link Ctx.clearTimeout}.
   * @throws {TypeError} `fn` is not a function.
   * @throws {RangeError} 64 timers are already active.
   * @throws {Error} `plugin is stopping: no new timers`, once `stop` has returned.
   */
  setTimeout(fn: () => unknown, ms?: number): number;
  /**
   * Calls `fn` every `ms`, at least 10 ms apart, with no arguments. A throw or rejection is logged as
   * `interval failed: …`. Cleared when the plugin stops. Throws as {@link Ctx.setTimeout} does.
   *
   * @returns the timer's id, for {@link Ctx.clearInterval}.
   */
  setInterval(fn: () => unknown, ms?: number): number;
  /** Clears a timer of either kind; an unknown id (or none) is ignored. */
  clearTimeout(id: number | undefined): void;
  /** Clears a timer of either kind; an unknown id (or none) is ignored. */
  clearInterval(id: number | undefined): void;
  /**
   * The host's `Date.now()`, epoch ms. Inside the sandbox `Date.now()` and `new Date()` with no argument
   * throw; `new Date(ctx.now())` works.
   */
  now(): number;
  /**
   * The host's `Math.random()`: a number in [0, 1), not cryptographically secure. Inside the sandbox
   * `Math.random()` throws.
   */
  random(): number;
}

/**
 * The ctx `onCommand` gets: publishes and requests carry the command's correlationId, and `reply` answers it.
 * A timer or promise that captured it may still reply later.
 */
export interface CommandCtx extends Ctx {
  /**
   * Sends `text` to the platform and channel of the command, as `rosey.actions.chat.send`: needs
   * `chat.send`, costs a publish token, and is cut to 10,000 characters (UTF-16 code units). It may be called
   * several times, for 10 minutes after the command reached the plugin (the core keeps at most 256 such
   * routes, oldest dropped first); past that it is refused as a violation. The router's deadline does not
   * apply: answer at once, then reply with the result of longer work.
   *
   * @throws {TypeError} `text` is not a string, or is empty or blank (`reply text must not be empty`; return
   *   `undefined` from `onCommand` to answer nothing).
   */
  reply(text: string): void;
}

/** `ctx.plugin`: the manifest's identity. */
export interface PluginInfo {
  readonly name: string;
  readonly version: string;
}

/** Options of {@link Ctx.request}. */
export interface RequestOptions {
  /**
   * How long to wait for the reply, in ms; clamped to 1..60,000 and rounded. Not a finite number: the default.
   * @default 5000
   */
  timeoutMs?: number;
}

/**
 * A {@link Ctx.subscribe} handler, called with no `this` and no ctx (use the one the closure captured). A throw
 * or rejection is logged as `subscription(<subject>) failed: …`.
 */
export type SubscriptionHandler = (
  subject: string,
  envelope: Envelope,
  respond: Respond | undefined,
) => unknown;

/**
 * Answers the request a subscription handler received, through a single-use token the core holds (the plugin
 * never sees the reply subject). The token expires after 30 s; a second use is refused as a violation.
 * Responses use no publish token. `data` is encoded as for {@link Ctx.publish}, with the same errors.
 */
export type Respond = (data: unknown) => void;

/**
 * Every message on the bus, as `onEvent` and subscription handlers get it: frozen, with the `data` the
 * publisher sent. {@link Events} gives the `data` of the platform's events.
 */
export interface Envelope<T = unknown> {
  /** Unique per message. */
  readonly id: string;
  readonly subject: string;
  /**
   * The verified sender: `core`, `connector:console`, `connector:cytube`, `plugin:<name>`. Take identity from
   * here, never from `data`.
   */
  readonly source: string;
  /** Epoch ms, when the message was sent. */
  readonly timestamp: number;
  /** Ties a command to its replies; a normalized event's is its own `id`. */
  readonly correlationId: string;
  readonly data: T;
}

/**
 * `ctx.storage`: the plugin's own collections. Every call is a request on `rosey.db.kv.<op>`: it costs a
 * publish token and times out after 5 s. Collection names match `^[a-z][a-z0-9_]{0,63}$`; keys are strings of
 * 1–256 characters. Arguments travel as one request of at most 65,536 characters of JSON.
 *
 * Calls reject with a {@link CtxError}. When the database answers with a failure the message is
 * `storage <op> failed (<CODE>): <message>` and the code one of `VALIDATION_FAILED`, `QUOTA_EXCEEDED`,
 * `NOT_FOUND`, `PERMISSION_DENIED`, `PAYLOAD_TOO_LARGE`, `BUSY` (retry later), `QUERY_TIMEOUT`; when the
 * request never got that far, those of {@link Ctx.request} (`NO_RESPONDERS`: the database service is not
 * running).
 *
 * @throws {TypeError} `collection` or `key` is not a string, or a value or option cannot be sent as JSON.
 * @throws {RangeError} the request is over 65,536 characters of JSON.
 */
export interface CtxStorage {
  /** Resolves with the stored value, frozen, or `null` when there is none. */
  get(collection: string, key: string): Promise<unknown>;
  /**
   * Stores `value`: any JSON but `null`, validated against the collection's manifest `schema` if it has one,
   * and counted against the quota.
   */
  set(collection: string, key: string, value: unknown): Promise<StorageSetResult>;
  /** Deletes a record; rejects with `NOT_FOUND` when there is none. */
  delete(collection: string, key: string): Promise<StorageDeleteResult>;
  /**
   * Records of a collection, sorted by key unless `order` says otherwise. The answer is one bus message: what
   * would not fit is left out and the array has `truncated: true`; ask again with `offset` increased by the
   * records received. A `filter` or `order` reads the whole collection: keep such collections small.
   */
  query(collection: string, options?: QueryOptions): Promise<StorageRecords>;
  /** How many records match. */
  count(collection: string, options?: CountOptions): Promise<number>;
}

/** What `ctx.storage.set` resolves with. */
export interface StorageSetResult {
  readonly key: string;
}

/** What `ctx.storage.delete` resolves with. */
export interface StorageDeleteResult {
  readonly key: string;
  readonly deleted: true;
}

/** One record of a `ctx.storage.query` answer. */
export interface StorageRecord {
  readonly key: string;
  readonly value: unknown;
}

/** A `ctx.storage.query` answer; `truncated` when records were left out to fit one bus message. */
export type StorageRecords = readonly StorageRecord[] & { readonly truncated?: true };

/**
 * Options of `ctx.storage.count`. Any key not listed here makes the gate refuse the request as a violation;
 * one naming an owner (`plugin`, `namespace`, `source`, `owner`, …) suspends the plugin at once.
 */
export interface CountOptions {
  /** Equality on up to 16 top-level fields of the value, typed (`"1"` ≠ `1`). */
  filter?: Readonly<Record<string, unknown>>;
}

/** Options of `ctx.storage.query`; as for {@link CountOptions}, no other key is allowed. */
export interface QueryOptions extends CountOptions {
  /**
   * At most this many records, 1..1,000.
   * @default 100
   */
  limit?: number;
  /**
   * Records of the ordering to skip: the next page of a long or `truncated` answer.
   * @default 0
   */
  offset?: number;
  /** Sort by a top-level field of the value instead of by key. */
  order?: { field: string; direction?: "asc" | "desc" };
}

/**
 * `ctx.log`. `message` is converted with `String()`, its control characters escaped, cut to 1,024 characters;
 * `fields` is JSON-encoded (left out if it cannot be) and cut to 2,048 characters, shown as the field `fields`.
 * A plugin may log 20 lines a second, its own errors included; the rest are dropped and counted on the next
 * line allowed. `debug` lines show only at log level `debug`.
 */
export interface CtxLog {
  debug(message: unknown, fields?: unknown): void;
  info(message: unknown, fields?: unknown): void;
  warn(message: unknown, fields?: unknown): void;
  error(message: unknown, fields?: unknown): void;
}

/**
 * How a `ctx.request` or `ctx.storage` call rejects when the core or the database refused or failed it: an
 * `Error`, frozen, with a stable `code` to branch on (never the message).
 */
export interface CtxError extends Error {
  readonly code: CtxErrorCode;
}

/** The codes a {@link CtxError} can carry (a subset of the core's, src/core/errors.ts). */
export type CtxErrorCode =
  | "PERMISSION_DENIED"
  | "RATE_LIMITED"
  | "PLUGIN_NOT_RUNNING"
  | "TIMEOUT"
  | "NO_RESPONDERS"
  | "BUS_CLOSED"
  | "VALIDATION_FAILED"
  | "QUOTA_EXCEEDED"
  | "NOT_FOUND"
  | "PAYLOAD_TOO_LARGE"
  | "BUSY"
  | "QUERY_TIMEOUT"
  | "PLUGIN_PREFIX_CLASH"
  | "INTERNAL";

/**
 * The `data` of each normalized platform event, by subject. A subscription to `rosey.events.>` gets every
 * kind, and a future connector may add kinds and fields: check a field's type before using it.
 *
 * @example
 * if (subject === "rosey.events.message") {
 *   const message = envelope.data as Events["rosey.events.message"];
 * }
 */
export interface Events {
  /** A chat line, commands included (capability `events.read`). */
  "rosey.events.message": MessageEvent;
  /** A private message (capability `chat.pm`; `events.read` does not deliver it). */
  "rosey.events.pm": PmEvent;
  /** `events.read` or `users.list`, as are the other `user.*` events. */
  "rosey.events.user.join": UserEvent;
  /** `user_data` as the connector knew the user. */
  "rosey.events.user.leave": UserEvent;
  "rosey.events.user.list": UserListEvent;
  "rosey.events.user.rank": UserRankEvent;
  "rosey.events.user.afk": UserAfkEvent;
  /** `events.read` or `playlist.read`, as are the other `media.*` and `playlist.*` events. */
  "rosey.events.media.change": MediaChangeEvent;
  "rosey.events.media.update": MediaUpdateEvent;
  "rosey.events.playlist.set": PlaylistSetEvent;
  "rosey.events.playlist.queue": PlaylistQueueEvent;
  "rosey.events.playlist.delete": PlaylistUidEvent;
  "rosey.events.playlist.current": PlaylistUidEvent;
  "rosey.events.playlist.move": PlaylistMoveEvent;
  "rosey.events.playlist.temp": PlaylistTempEvent;
  "rosey.events.playlist.lock": PlaylistLockEvent;
  /** `events.read` or `poll.manage`, as are the other `poll.*` events. */
  "rosey.events.poll.open": PollEvent;
  "rosey.events.poll.update": PollEvent;
  "rosey.events.poll.close": PlatformEvent;
  /** `events.read`. */
  "rosey.events.usercount": UsercountEvent;
  /** The bot was kicked (`events.read`). */
  "rosey.events.kick": KickEvent;
  /** A failure the platform or connector reported (`events.read`). */
  "rosey.events.error": ErrorEvent;
}

/** Fields every normalized event's `data` has. */
export interface PlatformEvent {
  /** `"console"` or `"cytube"`. */
  readonly platform: string;
  readonly channel: string;
  /**
   * Epoch ms: the platform's own time where it gives one (chat, PMs, a poll's `timestamp`), else when the
   * connector received the event.
   */
  readonly timestamp: number;
  /**
   * The platform's original frame, as it sent it (HTML escaped, its own field names). Absent for the console,
   * for errors the connector raises itself, and when the event would not fit in one bus message with it.
   */
  readonly platform_data?: unknown;
}

/** `user_data`: a user as the connector knows them. */
export interface UserData {
  readonly username: string;
  readonly rank: number;
  readonly is_afk: boolean;
  /** Rank ≥ 2 on CyTube. */
  readonly is_moderator: boolean;
}

/** `rosey.events.message`. */
export interface MessageEvent extends PlatformEvent {
  readonly user: string;
  /** Plain text: tags stripped, entities decoded. */
  readonly content: string;
  readonly user_data?: UserData;
  /** `true` only on the bot's own lines (never commands). */
  readonly is_self?: boolean;
}

/** `rosey.events.pm`. */
export interface PmEvent extends MessageEvent {
  readonly recipient?: string;
}

/** `rosey.events.user.join` and `.leave`. */
export interface UserEvent extends PlatformEvent {
  readonly user: string;
  readonly user_data: UserData;
}

/** `rosey.events.user.list`. */
export interface UserListEvent extends PlatformEvent {
  /** At most 10,000. */
  readonly users: readonly UserData[];
  readonly count: number;
}

/** `rosey.events.user.rank`. */
export interface UserRankEvent extends UserEvent {
  readonly rank: number;
  /** `null` when the connector did not know the user's rank before. */
  readonly previous_rank: number | null;
}

/** `rosey.events.user.afk`. */
export interface UserAfkEvent extends UserEvent {
  readonly is_afk: boolean;
}

/** A playlist entry's media. */
export interface Media {
  readonly id: string;
  readonly title: string;
  /** The platform's media type (`"yt"`, …). */
  readonly type: string;
  readonly seconds: number;
  /** As the platform shows it, `"03:32"`. */
  readonly duration: string;
}

/** One playlist entry. */
export interface PlaylistItem {
  readonly uid: number;
  readonly temp: boolean;
  readonly queued_by: string;
  readonly media: Media;
}

/** `rosey.events.media.update`. */
export interface MediaUpdateEvent extends PlatformEvent {
  /** Seconds into the media. */
  readonly current_time: number;
  readonly paused: boolean;
}

/** `rosey.events.media.change`. */
export interface MediaChangeEvent extends MediaUpdateEvent {
  readonly media: Media;
}

/** `rosey.events.playlist.set`: the whole playlist. */
export interface PlaylistSetEvent extends PlatformEvent {
  /** At most 20,000. */
  readonly items: readonly PlaylistItem[];
  readonly count: number;
}

/** `rosey.events.playlist.queue`. */
export interface PlaylistQueueEvent extends PlatformEvent {
  readonly item: PlaylistItem;
  /** As the platform sent it: on CyTube the uid it was queued after, or `"prepend"`; `null` when absent. */
  readonly after: unknown;
}

/** `rosey.events.playlist.delete` and `.current`. */
export interface PlaylistUidEvent extends PlatformEvent {
  readonly uid: number | null;
}

/** `rosey.events.playlist.move`. */
export interface PlaylistMoveEvent extends PlatformEvent {
  /** As the platform sent them (uids on CyTube; `after` may be `"prepend"` or `"append"`), `null` when absent. */
  readonly from: unknown;
  readonly after: unknown;
}

/** `rosey.events.playlist.temp`. */
export interface PlaylistTempEvent extends PlaylistUidEvent {
  readonly temp: boolean;
}

/** `rosey.events.playlist.lock`. */
export interface PlaylistLockEvent extends PlatformEvent {
  readonly locked: boolean;
}

/** `rosey.events.poll.open` and `.update`. */
export interface PollEvent extends PlatformEvent {
  readonly title: string;
  /** Plain text. */
  readonly options: readonly string[];
  /** As the platform sent them: numbers, or strings such as `"?"` for a hidden poll. */
  readonly counts: readonly unknown[];
  readonly initiator: string;
}

/** `rosey.events.usercount`. */
export interface UsercountEvent extends PlatformEvent {
  readonly count: number;
}

/** `rosey.events.kick`. */
export interface KickEvent extends PlatformEvent {
  /** The bot, or `null` when it was not logged in. */
  readonly user: string | null;
  readonly reason: string;
}

/** `rosey.events.error`. It carries the action's `correlationId` when it answers one. */
export interface ErrorEvent extends PlatformEvent {
  /** `CYTUBE_ERROR`, `QUEUE_FAILED`, `MESSAGE_DROPPED`, … */
  readonly code: string;
  readonly message: string;
  /** The platform frame that reported it. */
  readonly event?: string;
  /** A refused action: its capability (`playlist.queue`) and who sent it. */
  readonly action?: string;
  readonly source?: string;
}
