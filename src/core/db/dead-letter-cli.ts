import type { JetStreamManager, NatsConnection, StoredMsg } from "nats";
import { escapeControls, terminalSafe } from "../../sandbox/escape-text.js";
import { createBus } from "../bus.js";
import { errorMessage, RoseyError } from "../errors.js";
import { silentLogger } from "../logger.js";
import { runningPlatformUrl } from "../nats/platform-url.js";
import { redactUrl } from "../redact-url.js";
import {
  type DeadLetter,
  type DeadLetterList,
  type DeadLetterSelection,
  describeDeadLetter,
  dropDeadLetter,
  listDeadLetters,
  replayRefusal,
  republish,
  selectDeadLetters,
} from "./dead-letter-admin.js";
import { DEAD_LETTER_STREAM, STREAM_NAME } from "./streams.js";

/**
 * `rosey db dead-letters [--limit N] [--json]`, `… replay <seq…|--all> [--yes]` and
 * `… drop <seq…|--all> [--yes]`: the dead-letter stream of the running platform's NATS, found as
 * `rosey health` finds it. Without `--yes`, replay and drop only say what they would do. Subjects, errors
 * and envelope ids come from events: they are escaped before they reach the terminal.
 */

export interface DeadLetterCommandOptions {
  config?: string | undefined;
  /** NATS server of the running platform; default NATS_URL, then nats.url, then its embedded server. */
  nats?: string | undefined;
  json?: boolean | undefined;
  env?: NodeJS.ProcessEnv;
  write?: (text: string) => void;
}

export interface DeadLetterListOptions extends DeadLetterCommandOptions {
  /** Show the newest N. @default 50 */
  limit?: number | undefined;
}

export interface DeadLetterActionOptions extends DeadLetterCommandOptions {
  /** Sequences in the dead-letter stream, as given on the command line. */
  seqs: readonly string[];
  all?: boolean | undefined;
  /** Act; without it, only say what would be done. */
  yes?: boolean | undefined;
}

export type DeadLetterAction = "replay" | "drop";

/** What became of one selected sequence. */
export type DeadLetterOutcome =
  | { seq: number; status: "missing" }
  | { seq: number; status: "would replay"; deadLetter: DeadLetter }
  | { seq: number; status: "would drop"; deadLetter: DeadLetter }
  | { seq: number; status: "dropped"; deadLetter: DeadLetter }
  | { seq: number; status: "replayed"; deadLetter: DeadLetter; replayedAs: number }
  | { seq: number; status: "refused"; deadLetter: DeadLetter; reason: string }
  | { seq: number; status: "failed"; deadLetter: DeadLetter; error: string };

export interface DeadLetterActionResult {
  /** Redacted: no credentials. */
  url: string;
  action: DeadLetterAction;
  dryRun: boolean;
  results: DeadLetterOutcome[];
  /** Why the run stopped early, or null: the selected dead letters after that were not attempted. */
  stoppedBy: string | null;
}

const DONE = new Set<DeadLetterOutcome["status"]>(["would replay", "would drop", "replayed", "dropped"]);

export async function deadLetterListCommand(options: DeadLetterListOptions): Promise<number> {
  const env = options.env ?? process.env;
  const url = runningPlatformUrl("db dead-letters", options, env);
  const limit = options.limit ?? 50;
  const list = await withJetStream(url, (_, jsm) => listDeadLetters(jsm, limit));
  const shown = { url: redactUrl(url), stream: DEAD_LETTER_STREAM, ...list };
  output(options, shown, formatList);
  return 0;
}

/** Exit code 0 when every selected dead letter was (or would be) replayed or dropped, 1 otherwise. */
export async function deadLetterActionCommand(
  action: DeadLetterAction,
  options: DeadLetterActionOptions,
): Promise<number> {
  const selection = parseSelection(action, options);
  const env = options.env ?? process.env;
  const url = runningPlatformUrl(`db dead-letters ${action}`, options, env);
  const dryRun = !options.yes;
  const result = await withJetStream(url, async (connection, jsm) => {
    const results: DeadLetterOutcome[] = [];
    try {
      for await (const { seq, msg } of selectDeadLetters(jsm, selection)) {
        const outcome = msg
          ? await decide(action, dryRun, connection, jsm, msg)
          : ({ seq, status: "missing" } as const);
        results.push(outcome);
        if (outcome.status === "failed") return { results, stoppedBy: `#${seq} failed` };
      }
    } catch (err) {
      // What was done so far is reported, not lost with the error.
      return { results, stoppedBy: `cannot read ${DEAD_LETTER_STREAM}: ${errorMessage(err)}` };
    }
    return { results, stoppedBy: null };
  });
  const shown: DeadLetterActionResult = { url: redactUrl(url), action, dryRun, ...result };
  output(options, shown, formatAction);
  return shown.stoppedBy === null && shown.results.every((r) => DONE.has(r.status)) ? 0 : 1;
}

async function decide(
  action: DeadLetterAction,
  dryRun: boolean,
  connection: NatsConnection,
  jsm: JetStreamManager,
  msg: StoredMsg,
): Promise<DeadLetterOutcome> {
  const deadLetter = describeDeadLetter(msg);
  const { seq } = deadLetter;
  const reason = action === "replay" ? replayRefusal(deadLetter) : undefined;
  if (reason) return { seq, status: "refused", deadLetter, reason };
  if (dryRun) return { seq, status: action === "replay" ? "would replay" : "would drop", deadLetter };
  return act(action, connection, jsm, msg, deadLetter);
}

async function act(
  action: DeadLetterAction,
  connection: NatsConnection,
  jsm: JetStreamManager,
  msg: StoredMsg,
  deadLetter: DeadLetter,
): Promise<DeadLetterOutcome> {
  const { seq } = deadLetter;
  if (action === "drop") {
    try {
      // Already gone is as good as dropped: another operator got there first.
      await dropDeadLetter(jsm, seq);
      return { seq, status: "dropped", deadLetter };
    } catch (err) {
      return { seq, status: "failed", deadLetter, error: `not dropped: ${errorMessage(err)}` };
    }
  }
  let ingestSequence: number;
  try {
    ingestSequence = await republish(connection, msg);
  } catch (err) {
    return { seq, status: "failed", deadLetter, error: `not replayed: ${errorMessage(err)}` };
  }
  try {
    await dropDeadLetter(jsm, seq);
  } catch (err) {
    const error =
      `replayed as ${STREAM_NAME} #${ingestSequence} but not removed from ${DEAD_LETTER_STREAM} ` +
      `(replaying it again is harmless): ${errorMessage(err)}`;
    return { seq, status: "failed", deadLetter, error };
  }
  return { seq, status: "replayed", deadLetter, replayedAs: ingestSequence };
}

function parseSelection(action: DeadLetterAction, options: DeadLetterActionOptions): DeadLetterSelection {
  if (options.all && options.seqs.length > 0) {
    throw new RoseyError(
      "VALIDATION_FAILED",
      `Cannot ${action} dead letters as --all and sequences exclude each other: current value is --all ${options.seqs.join(" ")}`,
    );
  }
  if (options.all) return { all: true };
  if (options.seqs.length === 0) {
    throw new RoseyError(
      "VALIDATION_FAILED",
      `Cannot ${action} dead letters without saying which: give their sequences (rosey db dead-letters lists them) or --all`,
    );
  }
  return {
    seqs: options.seqs.map((text) => {
      const seq = Number(text);
      if (!Number.isSafeInteger(seq) || seq < 1 || !/^\d+$/.test(text))
        throw new RoseyError(
          "VALIDATION_FAILED",
          `Cannot ${action} dead letters as a sequence must be a whole number >= 1: current value is ${JSON.stringify(text)}`,
        );
      return seq;
    }),
  };
}

/** The tool's own connection, for one command: no reconnects, closed whatever happens. */
async function withJetStream<T>(
  url: string,
  run: (connection: NatsConnection, jsm: JetStreamManager) => Promise<T>,
): Promise<T> {
  const bus = await createBus({
    url,
    source: "cli:dead-letters",
    logger: silentLogger(),
    connectTimeoutMs: 5_000,
    maxReconnectAttempts: 0,
  });
  try {
    const jsm = await bus.connection.jetstreamManager();
    return await run(bus.connection, jsm);
  } catch (err) {
    throw new RoseyError(
      "INTERNAL",
      `Cannot read ${DEAD_LETTER_STREAM} on ${redactUrl(url)}: ${errorMessage(err)}`,
      { cause: err },
    );
  } finally {
    await bus.close();
  }
}

function output<T>(options: DeadLetterCommandOptions, value: T, format: (value: T) => string): void {
  const write = options.write ?? ((text: string) => process.stdout.write(text));
  write(terminalSafe(options.json ? `${JSON.stringify(value, null, 2)}\n` : format(value)));
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** Two lines: what it is, then why it was set aside. Every field but the numbers comes from the event. */
function describe(d: DeadLetter): string[] {
  const envelope = d.envelopeId === null ? "no envelope id" : `envelope ${escapeControls(d.envelopeId)}`;
  const deliveries =
    d.deliveries === null ? "deliveries unknown" : plural(d.deliveries, "delivery", "deliveries");
  return [
    `  #${d.seq}  ${d.stored}  ${escapeControls(d.subject)}  ${envelope}  ${deliveries}  ${plural(d.size, "byte")}`,
    `      error: ${d.error === null ? "(none recorded)" : escapeControls(d.error)}`,
  ];
}

function formatList(list: DeadLetterList & { url: string }): string {
  const where = `${DEAD_LETTER_STREAM} on ${list.url}`;
  if (!list.exists)
    return `No dead letters: ${where} does not exist (the database service has not run against this NATS).\n`;
  if (list.total === 0) return `No dead letters in ${where}.\n`;
  const shown =
    list.deadLetters.length < list.total
      ? `the newest ${list.deadLetters.length}, oldest first (--limit N for more)`
      : "oldest first";
  return `${[
    `${plural(list.total, "dead letter")} in ${where}; ${shown}:`,
    ...list.deadLetters.flatMap(describe),
    "Replay once the cause is fixed, or drop: rosey db dead-letters replay|drop <seq…|--all> (a dry run without --yes).",
  ].join("\n")}\n`;
}

function formatAction(r: DeadLetterActionResult): string {
  const done = r.results.filter((o) => DONE.has(o.status)).length;
  const past = r.action === "replay" ? "Replayed" : "Dropped";
  const where = `${DEAD_LETTER_STREAM} on ${r.url}`;
  if (r.results.length === 0) return `No dead letters to ${r.action} in ${where}.\n`;
  const head = r.dryRun
    ? `[dry-run] Would ${r.action} ${plural(done, "dead letter")} of ${where}; nothing changed (run again with --yes):`
    : `${past} ${plural(done, "dead letter")} of ${where}:`;
  const lines = [head];
  for (const o of r.results) {
    if (o.status === "missing")
      lines.push(`  #${o.seq}  not found (never stored, or replayed or dropped since)`);
    else if (o.status === "would replay" || o.status === "would drop") lines.push(...describe(o.deadLetter));
    else if (o.status === "replayed")
      lines.push(
        `  #${o.seq}  ${escapeControls(o.deadLetter.subject)}  → ${STREAM_NAME} #${o.replayedAs}; removed`,
      );
    else if (o.status === "dropped")
      lines.push(`  #${o.seq}  ${escapeControls(o.deadLetter.subject)}  dropped`);
    else if (o.status === "refused") lines.push(`  #${o.seq}  not replayed: ${escapeControls(o.reason)}`);
    else lines.push(`  #${o.seq}  FAILED, ${escapeControls(o.error)}`);
  }
  if (r.stoppedBy)
    lines.push(`Stopped (${escapeControls(r.stoppedBy)}): the dead letters after it were not attempted.`);
  return `${lines.join("\n")}\n`;
}
