import { createInterface, type Interface } from "node:readline";
import type { Readable, Writable } from "node:stream";
import type { Bus, BusMessage, BusSubscription } from "../../core/bus.js";
import { commandCompletedSchema } from "../../core/commands.js";
import { type ChatEvent, CORE_SOURCE, chatPmSchema, chatSendSchema } from "../../core/envelope.js";
import { errorMessage } from "../../core/errors.js";
import type { Logger } from "../../core/logger.js";
import type { HealthCheck } from "../../core/monitoring/health.js";
import { parseCommandLine } from "../../core/router/parse.js";
import { SUBJECTS } from "../../core/subjects.js";
import { compileCheck, describeProblem } from "../../core/validation.js";
import { terminalSafe } from "../../sandbox/escape-text.js";
import type { Connector } from "../connector.js";

/**
 * The console connector (design.md §7): each input line is a chat message from user `console` in channel
 * `console`; every chat action for the console platform is printed. Command lines go out with a reply
 * subject, which the router answers once the command is fully handled. At end of input the connector waits
 * until every command line has that answer (bounded by the router timeout plus a margin), flushes the
 * output and resolves `finished`.
 *
 *   stdin line ──► rosey.events.message ──► router ──► plugin ──► rosey.actions.chat.send ──► stdout
 *                   (reply: own inbox)         └──────► CommandCompleted ──► inbox ──► (EOF bookkeeping)
 */
export const CONSOLE = "console";
/** The console operator is the local admin. */
export const CONSOLE_RANK = 3;
/** Extra time after the router's timeout before giving up on a command's completion at end of input. */
export const COMPLETION_MARGIN_MS = 2_000;
const checkChatSend = compileCheck(chatSendSchema);
const checkChatPm = compileCheck(chatPmSchema);

export interface ConsoleConnectorOptions {
  /** A bus stamped `connector:console`, owned (and closed) by the caller. */
  bus: Bus;
  logger: Logger;
  prefix: string;
  routerTimeoutMs: number;
  input: Readable;
  output: Writable;
}

export class ConsoleConnector implements Connector {
  readonly platform = CONSOLE;
  readonly finished: Promise<void>;
  readonly #bus: Bus;
  readonly #log: Logger;
  readonly #options: ConsoleConnectorOptions;
  readonly #subscriptions: BusSubscription[] = [];
  /** correlationIds of command lines sent and not yet completed. */
  readonly #pending = new Set<string>();
  #resolveFinished!: () => void;
  #lines: Interface | undefined;
  #inputEnded = false;
  #closed = false;
  #deadline: NodeJS.Timeout | undefined;
  #finishing: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;
  #inbox = "";

  constructor(options: ConsoleConnectorOptions) {
    this.#options = options;
    this.#bus = options.bus;
    this.#log = options.logger.child({ component: "connector", platform: CONSOLE });
    this.finished = new Promise((resolve) => {
      this.#resolveFinished = resolve;
    });
  }

  async listen(): Promise<void> {
    if (this.#inbox) return;
    this.#inbox = this.#bus.createInbox();
    this.#subscriptions.push(
      this.#bus.subscribe(SUBJECTS.actionsChatSend, (m) => {
        const action = checkChatSend(m.envelope.data);
        if (!action.success) return this.#dropped(m, action.problem);
        if (action.data.platform === CONSOLE) this.#print(`<rosey> ${action.data.text}`);
      }),
      this.#bus.subscribe(SUBJECTS.actionsChatPm, (m) => {
        const action = checkChatPm(m.envelope.data);
        if (!action.success) return this.#dropped(m, action.problem);
        if (action.data.platform === CONSOLE) this.#print(`<rosey → ${action.data.to}> ${action.data.text}`);
      }),
      this.#bus.subscribe(this.#inbox, (m) => {
        // Plugins that read chat events see the reply subject too; only the router's (the core's) answer counts.
        if (m.envelope.source !== CORE_SOURCE) return;
        const done = commandCompletedSchema.safeParse(m.envelope.data);
        if (!done.success) return this.#dropped(m, describeProblem(done.error));
        if (this.#pending.delete(done.data.correlationId)) this.#checkDone();
      }),
    );
    // Subscribed on the server before the first line goes out, so no reply can be missed.
    await this.#bus.flush();
  }

  async start(): Promise<void> {
    if (this.#lines || this.#stopping) throw new Error("Cannot start the console connector twice");
    await this.listen();
    this.#options.output.on("error", this.#onOutputError);
    const lines = createInterface({ input: this.#options.input, crlfDelay: Number.POSITIVE_INFINITY });
    this.#lines = lines;
    lines.on("line", (line) => this.#send(line));
    lines.once("close", () => this.#endOfInput());
    this.#log.info("console connector reading input");
  }

  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#closed = true;
      this.#lines?.close();
      this.#options.output.off("error", this.#onOutputError);
      for (const sub of this.#subscriptions.splice(0)) sub.unsubscribe();
      await this.#finish();
    })();
    return this.#stopping;
  }

  health(): HealthCheck {
    const detail = this.#inputEnded
      ? `input ended; ${this.#pending.size} command(s) finishing`
      : this.#lines
        ? "reading input"
        : "not started";
    return { name: "connector console", status: this.#lines ? "ok" : "down", detail };
  }

  #send(line: string): void {
    const content = line.replace(/\r$/, "");
    if (content.trim() === "" || this.#closed) return;
    const event: ChatEvent = {
      platform: CONSOLE,
      channel: CONSOLE,
      user: CONSOLE,
      content,
      timestamp: Date.now(),
      user_data: { username: CONSOLE, rank: CONSOLE_RANK, is_afk: false, is_moderator: true },
    };
    try {
      const isCommand = parseCommandLine(content, this.#options.prefix) !== undefined;
      const envelope = this.#bus.publish(
        SUBJECTS.eventsMessage,
        event,
        isCommand ? { replyTo: this.#inbox } : undefined,
      );
      // The router uses the message's id as the command's correlationId.
      if (isCommand) this.#pending.add(envelope.id);
    } catch (err) {
      this.#log.error({ err: errorMessage(err) }, "could not publish a console line");
    }
  }

  #endOfInput(): void {
    if (this.#inputEnded || this.#closed) return;
    this.#inputEnded = true;
    const waitMs = this.#options.routerTimeoutMs + COMPLETION_MARGIN_MS;
    this.#deadline = setTimeout(() => {
      if (this.#pending.size > 0) {
        this.#log.warn({ pending: this.#pending.size, waitMs }, "commands still unfinished at end of input");
      }
      void this.#finish();
    }, waitMs);
    this.#checkDone();
  }

  #checkDone(): void {
    if (this.#inputEnded && this.#pending.size === 0) void this.#finish();
  }

  #finish(): Promise<void> {
    this.#finishing ??= (async () => {
      clearTimeout(this.#deadline);
      await new Promise<void>((resolve) => {
        const output = this.#options.output;
        if (output.writableEnded || output.destroyed) return resolve();
        // An empty write's callback runs once everything queued before it is flushed.
        output.write("", () => resolve());
      });
      this.#resolveFinished();
    })();
    return this.#finishing;
  }

  /**
   * Replies are the operator's terminal's input: text chat users wrote elsewhere (a quote added on CyTube,
   * where the server keeps C1 controls and bidi marks) would otherwise drive it. Newlines and tabs stay.
   */
  #print(line: string): void {
    const output = this.#options.output;
    if (output.writableEnded || output.destroyed) return;
    output.write(`${terminalSafe(line)}\n`);
  }

  /** A closed stdout (EPIPE) must not crash the platform; the output is simply gone. */
  readonly #onOutputError = (err: Error): void => {
    this.#log.warn({ err: err.message }, "console output failed");
  };

  /** Names the sender (a plugin's actions carry `plugin:<name>`) and what is wrong, for its author to find. */
  #dropped(message: BusMessage, problem: string): void {
    const { source, correlationId } = message.envelope;
    this.#log.warn(
      { subject: message.subject, source, correlationId, problem },
      "dropped a malformed message",
    );
  }
}
