import { WindowBudget } from "../../sandbox/window-budget.js";
import type { Bus, BusMessage, BusSubscription } from "../bus.js";
import {
  COMMANDS_LIST_SUBJECT,
  type Command,
  type CommandCompleted,
  type CommandInfo,
  commandResultSchema,
} from "../commands.js";
import { type ChatEvent, chatEventSchema, type Envelope } from "../envelope.js";
import { errorMessage, isRoseyError } from "../errors.js";
import { LogBudget } from "../log-budget.js";
import type { Logger } from "../logger.js";
import { commandSubject, SUBJECTS } from "../subjects.js";
import { compileCheck } from "../validation.js";
import { Cooldowns, cooldownMessage } from "./cooldowns.js";
import { type ParsedCommand, parseChatCommand } from "./parse.js";

/**
 * The command router:
 *
 *   rosey.events.message ──► parse ─► directory ─► cooldown ─► request rosey.commands.<plugin>.execute
 *        (queue "router")                │              │                │ ok / error / timeout
 *                                        ▼              ▼                ▼
 *                         rosey.actions.chat.send (unknown, wait, failure replies)
 *                         + CommandCompleted to the message's reply subject, when its sender gave one
 *
 * A command's correlationId is the id of the chat message it came from, so every reply ties back to it.
 * Completion goes only to a sender that asked (the console connector, to know when its input is done):
 * publishing it for every command on a shared subject cost a publish and a delivery per command.
 * Nothing a plugin does (error, silence, garbage reply) escapes a handler: it becomes a short chat reply
 * and a log line.
 *
 * Typing costs a chat user nothing, so the notices the router sends for lines it does not dispatch (unknown,
 * cooling down, not running, refused) are rationed: once per window per user and kind (and command, but for
 * "unknown"), within a budget for the whole router. Without that, each line anyone typed became a line the
 * bot sent, and a flood spent the bot's chat rate and delayed everyone else's notices behind it.
 */

/** What `rosey.api.commands.list` answers with. */
export interface CommandListing {
  name: string;
  usage: string;
  description: string;
  plugin: string;
  aliases: string[];
}
export interface CommandsListReply {
  commands: CommandListing[];
}

export interface RouterSettings {
  /** @default "!" */
  prefix: string;
  /** How long a plugin has to answer a command. @default 5000 */
  timeoutMs: number;
  /**
   * Commands being handled at once beyond which new ones are answered "unavailable" without being sent: it
   * bounds the core's memory when chat arrives faster than the plugins answer. @default 5000
   */
  maxInFlight?: number;
}

export interface RouterOptions {
  bus: Bus;
  logger: Logger;
  settings: Readonly<RouterSettings>;
  /**
   * The commands of running plugins, asked on every message (the plugin manager's `commands()`). Each
   * entry's `cooldownMs` is final: the directory has already applied `router.defaultCooldownMs` to
   * commands whose manifest sets none, so an explicit `cooldownMs: 0` in a manifest means no cooldown.
   */
  directory: () => readonly CommandInfo[];
  /** Clock for cooldowns. @default Date.now */
  now?: () => number;
  /**
   * Told of every command once it completes (metrics): the plugin that has it, or undefined when none
   * does, and the ms from the chat message's arrival.
   */
  onCompleted?: (done: CommandCompleted, plugin: string | undefined, ms: number) => void;
  /**
   * The plugin that provides a command (name or alias) even while it is not running (suspended, failed,
   * restarting), so its users hear it is unavailable rather than that it does not exist.
   */
  owner?: (command: string) => string | undefined;
}

export const ROUTER_QUEUE = "router";
const checkChatEvent = compileCheck(chatEventSchema);
const checkCommandResult = compileCheck(commandResultSchema);
const MAX_TRACKED_COOLDOWNS = 10_000;
const FAILURE_LOGS_PER_SECOND = 20;
export const DEFAULT_MAX_IN_FLIGHT = 5_000;
/** A user hears "unknown command" (or "unavailable", for the same command) at most once per window. */
export const NOTICE_WINDOW_MS = 10_000;
/** Notices for undispatched lines, all users together: a busy channel's slips, not a crowd of accounts. */
export const NOTICES_PER_SECOND = 5;
/**
 * Longer user names (or platform + channel) are refused as invalid events: they key the cooldown tables,
 * so a connector passing on a platform's megabyte "name" would let it grow them without bound.
 */
export const MAX_USER_LENGTH = 256;

export class Router {
  readonly #bus: Bus;
  readonly #log: Logger;
  readonly #settings: Readonly<RouterSettings>;
  readonly #directory: () => readonly CommandInfo[];
  readonly #cooldowns: Cooldowns;
  /** When each (user, notice kind and command) may be told again. */
  readonly #notices: Cooldowns;
  readonly #noticeBudget: WindowBudget;
  readonly #onCompleted: RouterOptions["onCompleted"];
  readonly #owner: RouterOptions["owner"];
  readonly #subscriptions: BusSubscription[] = [];
  /** Chat messages being handled; `stop` waits for them (counted, so a message costs no closure). */
  #inFlight = 0;
  #idle: (() => void) | undefined;
  #state: "new" | "running" | "stopped" = "new";
  #stopping: Promise<void> | undefined;
  #indexed: readonly CommandInfo[] | undefined;
  #byName = new Map<string, CommandInfo>();
  readonly #failureBudgets = new Map<string, LogBudget>();

  constructor(options: RouterOptions) {
    this.#bus = options.bus;
    this.#log = options.logger.child({ component: "router" });
    this.#settings = options.settings;
    this.#directory = options.directory;
    this.#onCompleted = options.onCompleted;
    this.#owner = options.owner;
    this.#cooldowns = new Cooldowns({
      ...(options.now ? { now: options.now } : {}),
      maxEntries: MAX_TRACKED_COOLDOWNS,
    });
    this.#notices = new Cooldowns({
      ...(options.now ? { now: options.now } : {}),
      maxEntries: MAX_TRACKED_COOLDOWNS,
    });
    this.#noticeBudget = new WindowBudget(NOTICES_PER_SECOND, 1_000, options.now ?? Date.now);
  }

  async start(): Promise<void> {
    if (this.#state !== "new") throw new Error(`Cannot start the router: it is ${this.#state}`);
    this.#state = "running";
    this.#subscriptions.push(
      this.#bus.subscribe(SUBJECTS.eventsMessage, (m) => this.#onMessage(m), {
        queue: ROUTER_QUEUE,
      }),
      this.#bus.subscribe(COMMANDS_LIST_SUBJECT, (m) => this.#onList(m), { queue: ROUTER_QUEUE }),
    );
    // The subscriptions must be on the server before anyone is told the router is up.
    await this.#bus.flush();
    this.#log.info({ prefix: this.#settings.prefix }, "router started");
  }

  /** Unsubscribes, then waits for commands already dispatched (bounded by the command timeout). Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#state = "stopped";
      for (const sub of this.#subscriptions.splice(0)) sub.unsubscribe();
      if (this.#inFlight > 0)
        await new Promise<void>((resolve) => {
          this.#idle = resolve;
        });
      this.#cooldowns.clear();
      this.#notices.clear();
    })();
    return this.#stopping;
  }

  /** The directory as `rosey.api.commands.list` serves it, in the directory's order. */
  listing(): CommandListing[] {
    return this.#directory().map((info) => ({
      name: info.name,
      usage: info.usage,
      description: info.description,
      plugin: info.plugin,
      aliases: [...info.aliases],
    }));
  }

  #onList(message: BusMessage): void {
    const reply: CommandsListReply = { commands: this.listing() };
    message.respond(reply);
  }

  async #onMessage(message: BusMessage): Promise<void> {
    const parsed = checkChatEvent(message.envelope.data);
    if (!parsed.success) {
      this.#log.warn(
        {
          correlationId: message.envelope.correlationId,
          source: message.envelope.source,
          problem: parsed.problem,
        },
        "dropped invalid chat event",
      );
      return;
    }
    const event = parsed.data;
    if (event.user.length + event.platform.length + event.channel.length > MAX_USER_LENGTH) {
      this.#log.warn(
        {
          correlationId: message.envelope.correlationId,
          source: message.envelope.source,
          length: event.user.length + event.platform.length + event.channel.length,
        },
        `dropped a chat event whose user, platform and channel exceed ${MAX_USER_LENGTH} characters`,
      );
      return;
    }
    const command = parseChatCommand(event, this.#settings.prefix);
    if (!command) return;
    this.#inFlight++;
    const arrived = performance.now();
    try {
      // Resolved once: the plugin that has the command, or owns it while not running, for handling and metrics.
      const info = this.#resolve(command.name);
      const plugin = info?.plugin ?? this.#owner?.(command.name);
      const done = await this.#handle(event, command, info, plugin, message.envelope);
      this.#onCompleted?.(done, plugin, performance.now() - arrived);
      if (message.replyTo) this.#send("completion", done.correlationId, () => message.respond(done));
    } finally {
      if (--this.#inFlight === 0) this.#idle?.();
    }
  }

  async #handle(
    event: ChatEvent,
    parsed: ParsedCommand,
    info: CommandInfo | undefined,
    plugin: string | undefined,
    envelope: Envelope,
  ): Promise<CommandCompleted> {
    const correlationId = envelope.id;
    const prefix = this.#settings.prefix;
    if (!info) {
      if (plugin) {
        // Known, but its plugin is not running (suspended, failed, restarting): say so, not "unknown".
        const stopped = { plugin, name: parsed.name };
        this.#failureLog(stopped, correlationId)?.warn("the plugin of this command is not running");
        return {
          correlationId,
          command: parsed.name,
          status: this.#sorry(event, stopped, correlationId, "unavailable", true),
        };
      }
      // Point at help only when something answers it.
      const hint = this.#resolve("help") ? ` — try ${prefix}help` : "";
      this.#notice(
        event,
        "unknown",
        NOTICE_WINDOW_MS,
        `Unknown command ${prefix}${parsed.name}${hint}`,
        correlationId,
      );
      return { correlationId, command: parsed.name, status: "unknown" };
    }
    // Admission: past this many commands in flight (a flood the plugins cannot keep up with), each one more
    // would wait in memory for its timeout; it is refused now, before it takes the user's cooldown.
    const maxInFlight = this.#settings.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
    if (this.#inFlight > maxInFlight) {
      this.#failureLog(info, correlationId)?.warn({ maxInFlight }, "too many commands in flight; refused");
      return {
        correlationId,
        command: info.name,
        status: this.#sorry(event, info, correlationId, "unavailable", true),
      };
    }
    const scope = `${event.platform}:${event.channel}`;
    const check = this.#cooldowns.take(scope, event.user, info.name, info.cooldownMs);
    if (!check.ok) {
      // Once per cooldown: repeating the wait to every retry would answer a flood line for line.
      this.#notice(
        event,
        `cooldown:${info.name}`,
        check.remainingMs,
        cooldownMessage(event.user, info.name, check.remainingMs, prefix),
        correlationId,
      );
      return { correlationId, command: info.name, status: "cooldown" };
    }
    const command: Command = {
      name: info.name,
      args: [...parsed.args],
      text: parsed.text,
      user: event.user,
      rank: event.user_data?.rank ?? 0,
      platform: event.platform,
      channel: event.channel,
      correlationId,
      deadline: Date.now() + this.#settings.timeoutMs,
    };
    return { correlationId, command: info.name, status: await this.#dispatch(info, command, event) };
  }

  async #dispatch(
    info: CommandInfo,
    command: Command,
    event: ChatEvent,
  ): Promise<CommandCompleted["status"]> {
    let data: unknown;
    try {
      const reply = await this.#bus.request(commandSubject(info.plugin), command, {
        timeoutMs: this.#settings.timeoutMs,
        correlationId: command.correlationId,
      });
      data = reply.data;
    } catch (err) {
      if (isRoseyError(err, "TIMEOUT")) {
        this.#failureLog(info, command.correlationId)?.warn(
          { timeoutMs: this.#settings.timeoutMs },
          "plugin did not answer the command in time",
        );
        return this.#sorry(event, info, command.correlationId, "timeout");
      }
      if (isRoseyError(err, "NO_RESPONDERS")) {
        this.#failureLog(info, command.correlationId)?.warn(
          "no plugin instance is listening for the command",
        );
        return this.#sorry(event, info, command.correlationId, "unavailable");
      }
      this.#failureLog(info, command.correlationId)?.error(
        { err: errorMessage(err) },
        "command request failed",
      );
      return this.#sorry(event, info, command.correlationId, "error");
    }
    const result = checkCommandResult(data);
    if (!result.success) {
      this.#failureLog(info, command.correlationId)?.error(
        { reply: data },
        "plugin side sent a malformed command result",
      );
      return this.#sorry(event, info, command.correlationId, "error");
    }
    if (result.data.ok) return "ok";
    const { code, message } = result.data.error;
    this.#failureLog(info, command.correlationId)?.warn(
      { code, error: message },
      "command failed in the plugin",
    );
    if (code === "TIMEOUT") return this.#sorry(event, info, command.correlationId, "timeout");
    if (code === "PLUGIN_NOT_RUNNING" || code === "BUSY")
      return this.#sorry(event, info, command.correlationId, "unavailable");
    // Its reply was refused for the plugin's rate, which a burst of commands reaches: rationed like a notice.
    if (code === "RATE_LIMITED") return this.#sorry(event, info, command.correlationId, "unavailable", true);
    return this.#sorry(event, info, command.correlationId, "error");
  }

  /**
   * Only failures log; their child logger is made for them, not for every command. Each plugin has a
   * budget of failure lines a second (a chat flood against a slow plugin fails every command), and
   * `undefined` means this one is over it: it is counted and the count logged with the next allowed line.
   */
  #failureLog(info: Pick<CommandInfo, "plugin" | "name">, correlationId: string): Logger | undefined {
    let budget = this.#failureBudgets.get(info.plugin);
    if (!budget) {
      budget = new LogBudget(FAILURE_LOGS_PER_SECOND);
      this.#failureBudgets.set(info.plugin, budget);
    }
    if (!budget.admit(this.#log, "command failure", { plugin: info.plugin })) return undefined;
    return this.#log.child({ plugin: info.plugin, command: info.name, correlationId });
  }

  /**
   * The chat reply for a command that did not complete, and the status it completes with. `undispatched`:
   * the command never reached a plugin (not running, refused), so the reply is a rationed notice; a dispatched
   * command's failure is bounded by its cooldown like its success would be.
   */
  #sorry(
    event: ChatEvent,
    info: Pick<CommandInfo, "name">,
    correlationId: string,
    status: "timeout" | "unavailable" | "error",
    undispatched = false,
  ): CommandCompleted["status"] {
    const shown = `${this.#settings.prefix}${info.name}`;
    const text =
      status === "timeout"
        ? `Sorry, ${shown} took too long to answer.`
        : status === "unavailable"
          ? `Sorry, ${shown} is unavailable right now.`
          : `Sorry, ${shown} failed; the error has been logged.`;
    if (undispatched) this.#notice(event, `${status}:${info.name}`, NOTICE_WINDOW_MS, text, correlationId);
    else this.#reply(event, text, correlationId);
    return status;
  }

  /** A rationed reply (see the class comment): dropped when this user was told the same within `windowMs`. */
  #notice(event: ChatEvent, kind: string, windowMs: number, text: string, correlationId: string): void {
    const scope = `${event.platform}:${event.channel}`;
    if (!this.#notices.take(scope, event.user, kind, windowMs).ok) return;
    if (!this.#noticeBudget.take()) return;
    this.#reply(event, text, correlationId);
  }

  /** Names and aliases are lowercase by the manifest schema; the lookup is rebuilt only when the directory changes. */
  #resolve(name: string): CommandInfo | undefined {
    const commands = this.#directory();
    if (commands !== this.#indexed) {
      this.#indexed = commands;
      this.#byName = new Map();
      for (const c of commands) for (const alias of c.aliases) this.#byName.set(alias, c);
      for (const c of commands) this.#byName.set(c.name, c);
    }
    return this.#byName.get(name);
  }

  #reply(event: ChatEvent, text: string, correlationId: string): void {
    const data = { platform: event.platform, channel: event.channel, text };
    this.#send(SUBJECTS.actionsChatSend, correlationId, () =>
      this.#bus.publish(SUBJECTS.actionsChatSend, data, { correlationId }),
    );
  }

  /** Sending throws only when the bus is closing under us (shutdown); nothing else can be done then. */
  #send(what: string, correlationId: string, send: () => unknown): void {
    try {
      send();
    } catch (err) {
      this.#log.warn({ what, correlationId, err: errorMessage(err) }, "could not publish");
    }
  }
}
