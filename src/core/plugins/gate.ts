import { sanitizeLogText } from "../../sandbox/ctx.js";
import type { Bus, BusMessage, BusSubscription } from "../bus.js";
import { KV_OPERATIONS, KV_SUBJECT_PREFIX, type KvOperation, kvRequestSchemas } from "../db/kv-protocol.js";
import type { Envelope } from "../envelope.js";
import { RoseyError } from "../errors.js";
import { LogBudget } from "../log-budget.js";
import type { Logger } from "../logger.js";
import { patternCovers, patternsOverlap, SUBJECTS, subjectMatches, subjectProblem } from "../subjects.js";
import { CAPABILITIES, type CapabilityName, NEVER_GRANTED, PRIVATE_SUBJECTS } from "./capabilities.js";
import type { EffectiveGrants } from "./grants.js";
import { TokenBucket } from "./token-bucket.js";

/**
 * The permission gate: every bus operation of a plugin passes here, in the main thread, before anything
 * reaches the NATS client. It applies its own subject grammar, the effective grants, the payload cap and
 * the publish rate; it stamps `source: plugin:<name>` on all it forwards; and every refusal is dropped
 * and published on `rosey.security.violation`.
 */

export type GateOperation = "publish" | "subscribe" | "request" | "respond" | "protocol";

export interface Violation {
  plugin: string;
  operation: GateOperation;
  subject: string;
  /** The capability that would have allowed it, when one exists. */
  capability: string | null;
  reason: string;
  /**
   * Violations of this plugin within the current window, this one included; rate refusals (`rate`) and
   * the others are counted apart.
   */
  count: number;
  /** Severe: an attempt on the core's own channels or a malformed protocol message. */
  severe: boolean;
  /**
   * Refused for the plugin's publish rate, not its grants. The limiter already contains such a plugin, and
   * a burst of users' commands can cause these in a plugin that does nothing wrong, so they suspend it
   * only as a flood (plugin-manager.ts).
   */
  rate: boolean;
}

export interface GateOptions {
  grants: EffectiveGrants;
  bus: Bus;
  logger: Logger;
  publishPerSecond: number;
  maxPayloadChars: number;
  violationWindowMs: number;
  /** Called after each violation is published (the manager counts and suspends). */
  onViolation?: (violation: Violation) => void;
}

type Op = "publish" | "subscribe" | "request";

/** What became of a publish the core made for the plugin (`publishData`). */
export type SendOutcome = "sent" | "suspended" | "denied" | "rate-limited";

/**
 * Refusals for the rate published one by one in a violation window; the rest of that window's are counted and
 * published as one summary when it ends. A plugin kept just under its flood threshold (90 refusals a second)
 * wrote one audit record each, millions a day; the count that decides suspension still includes every one.
 */
export const RATE_REFUSALS_REPORTED_PER_WINDOW = 10;

/** Subjects remembered as allowed, per gate and operation; past this many, nothing new is remembered. */
const MAX_REMEMBERED_SUBJECTS = 256;
const DENIAL_LOGS_PER_SECOND = 20;

/** What `#parsePayload` returns for a refused payload (any JSON value, `null` included, is a valid one). */
const INVALID: unique symbol = Symbol("invalid payload");

export class PermissionGate {
  readonly plugin: string;
  readonly source: string;
  readonly #grants: EffectiveGrants;
  readonly #bus: Bus;
  readonly #log: Logger;
  readonly #bucket: TokenBucket;
  readonly #maxPayload: number;
  readonly #windowMs: number;
  readonly #onViolation: ((v: Violation) => void) | undefined;
  /** Times of this window's violations: refusals for the rate, and all others. */
  readonly #recent = { rate: [] as number[], other: [] as number[] };
  /** Why the refusal just made was made, for the error a refused request rejects with. */
  #lastRefusal = "";
  /** This window's rate refusals past those reported one by one, published as a summary at its end. */
  #unreported: { count: number; last: Violation; timer: ReturnType<typeof setTimeout> } | undefined;
  readonly #ownPrefix: string;
  /**
   * Publish and request subjects already checked and allowed. Grants never change for a gate, so the verdict
   * for a subject never does: a plugin answering every command on `rosey.actions.chat.send` is checked by
   * grammar and grants once, not once per message. Refusals are never remembered: each one is reported.
   */
  readonly #allowed = { publish: new Set<string>(), request: new Set<string>() };
  #suspended = false;
  readonly #logBudget = new LogBudget(DENIAL_LOGS_PER_SECOND);

  constructor(options: GateOptions) {
    this.plugin = options.grants.plugin;
    this.source = `plugin:${this.plugin}`;
    this.#grants = options.grants;
    this.#bus = options.bus;
    this.#log = options.logger.child({ component: "gate", plugin: this.plugin });
    this.#bucket = new TokenBucket(options.publishPerSecond, options.publishPerSecond * 2);
    this.#maxPayload = options.maxPayloadChars;
    this.#windowMs = options.violationWindowMs;
    this.#onViolation = options.onViolation;
    this.#ownPrefix = `rosey.plugins.${this.plugin}.`;
  }

  get grants(): EffectiveGrants {
    return this.#grants;
  }

  /** A suspended plugin's operations are all dropped (and it receives nothing) until it is resumed. */
  get suspended(): boolean {
    return this.#suspended;
  }

  set suspended(value: boolean) {
    this.#suspended = value;
  }

  /** Forwards a publish when allowed; returns whether it was. `json` is the payload as JSON text. */
  publish(subject: string, json: string, correlationId?: string): boolean {
    if (this.#suspended || !this.#check("publish", subject)) return false;
    if (this.#parsePayload("publish", subject, json) === INVALID) return false;
    return this.#send(subject, json, correlationId);
  }

  /**
   * Publishes data the core built on the plugin's behalf (a command's returned text): grant- and
   * rate-checked like any publish, but not parsed back, since the core itself just encoded it. Says why
   * it was not sent, for the caller that must tell the command's sender.
   */
  publishData(subject: string, data: unknown, correlationId: string): SendOutcome {
    if (this.#suspended) return "suspended";
    if (!this.#check("publish", subject)) return "denied";
    return this.#send(subject, JSON.stringify(data), correlationId) ? "sent" : "rate-limited";
  }

  #send(subject: string, json: string, correlationId: string | undefined): boolean {
    if (!this.#bucket.take()) {
      this.#violate("publish", subject, null, `publish rate above ${this.#bucket.rate}/s`, false, true);
      return false;
    }
    this.#bus.publishEncoded(subject, this.#envelopeJson(subject, json, correlationId));
    return true;
  }

  /**
   * Subscribes on the plugin's behalf when the pattern lies inside its grants. Each subscription is a
   * SUB (and later an UNSUB) on the core's own NATS connection, so it spends the publish budget too: a
   * plugin subscribing and unsubscribing in a loop is refused, and suspended, like one publishing in a loop.
   */
  subscribe(pattern: string, deliver: (message: BusMessage) => void): BusSubscription | undefined {
    if (this.#suspended || !this.#check("subscribe", pattern)) return undefined;
    if (!this.#bucket.take()) {
      this.#violate("subscribe", pattern, null, `subscribe rate above ${this.#bucket.rate}/s`, false, true);
      return undefined;
    }
    // A granted pattern may also match private subjects it does not hold the capability for: not delivered.
    const withheld = this.#grants.withheld.filter((subject) => subjectMatches(pattern, subject));
    if (withheld.length === 0) return this.#bus.subscribe(pattern, deliver);
    return this.#bus.subscribe(pattern, (message) => {
      if (!withheld.includes(message.subject)) deliver(message);
    });
  }

  /** Sends a request on the plugin's behalf; refusals reject with `PERMISSION_DENIED` (or the check's code). */
  async request(subject: string, json: string, timeoutMs: number, correlationId?: string): Promise<Envelope> {
    if (this.#suspended) throw new RoseyError("PLUGIN_NOT_RUNNING", `plugin '${this.plugin}' is suspended`);
    const data = this.#check("request", subject) ? this.#parsePayload("request", subject, json) : INVALID;
    if (data === INVALID || !this.#checkStorage(subject, data)) {
      throw new RoseyError(
        "PERMISSION_DENIED",
        `request to '${subject}' refused by the gate: ${this.#lastRefusal}`,
      );
    }
    if (!this.#bucket.take()) {
      this.#violate("request", subject, null, `publish rate above ${this.#bucket.rate}/s`, false, true);
      throw new RoseyError(
        "RATE_LIMITED",
        `request to '${subject}' refused: publish rate above ${this.#bucket.rate}/s`,
      );
    }
    return this.#bus.requestEncoded(subject, this.#envelopeJson(subject, json, correlationId), timeoutMs);
  }

  /** Answers a request the plugin received; `replyTo` comes from the core's token table, never the plugin. */
  respond(replyTo: string, json: string, correlationId: string): boolean {
    if (this.#suspended || this.#parsePayload("respond", replyTo, json) === INVALID) return false;
    this.#bus.publishEncoded(replyTo, this.#envelopeJson(replyTo, json, correlationId));
    return true;
  }

  /** A malformed or impossible message from the worker: proof of compromise, always severe. */
  protocolViolation(reason: string): void {
    this.#violate("protocol", "", null, reason, true);
  }

  /** A refusal decided elsewhere (e.g. an unknown reply token), reported like any other. */
  refuse(operation: GateOperation, subject: string, reason: string): void {
    this.#violate(operation, subject, null, reason, false);
  }

  #check(op: Op, subject: string): boolean {
    if (op !== "subscribe" && this.#allowed[op].has(subject)) return true;
    if (!this.#checkGrammarAndGrants(op, subject)) return false;
    if (op !== "subscribe" && this.#allowed[op].size < MAX_REMEMBERED_SUBJECTS)
      this.#allowed[op].add(subject);
    return true;
  }

  #checkGrammarAndGrants(op: Op, subject: string): boolean {
    const problem = subjectProblem(subject, op === "subscribe" ? "subscribe" : "publish");
    if (problem) {
      this.#violate(op, subject, null, `invalid subject: ${problem}`, true);
      return false;
    }
    for (const reserved of NEVER_GRANTED) {
      if (op === "subscribe" ? patternsOverlap(reserved, subject) : subjectMatches(reserved, subject)) {
        this.#violate(op, subject, null, `'${reserved}' is reserved for the core`, true);
        return false;
      }
    }
    if (subject.startsWith("rosey.plugins.") && !subject.startsWith(this.#ownPrefix)) {
      if (subject === this.#ownPrefix.slice(0, -1)) {
        this.#violate(
          op,
          subject,
          null,
          `its namespace is '${this.#ownPrefix}>': a subject needs a token after its name`,
          false,
        );
      } else {
        this.#violate(op, subject, null, "another plugin's namespace", true);
      }
      return false;
    }
    const withheld = op === "subscribe" && this.#grants.withheld.includes(subject);
    if (!withheld && this.#granted(op, subject)) return true;
    const capability = withheld
      ? (PRIVATE_SUBJECTS[subject] ?? null)
      : capabilityFor(op, subject, this.#grants.requested);
    const reason = capability
      ? this.#grants.requested.includes(capability)
        ? `capability '${capability}' was requested but not granted`
        : `capability '${capability}' was not requested`
      : `no capability allows ${op} on this subject`;
    this.#violate(op, subject, capability, reason, subject === ">" || subject === "rosey.>");
    return false;
  }

  #granted(op: Op, subject: string): boolean {
    const allowed =
      op === "publish"
        ? this.#grants.publish
        : op === "subscribe"
          ? this.#grants.subscribe
          : this.#grants.request;
    return op === "subscribe"
      ? allowed.some((granted) => patternCovers(granted, subject))
      : allowed.some((granted) => subjectMatches(granted, subject));
  }

  /** The payload, parsed once; `INVALID` (after reporting why) when it is too large or not JSON. */
  #parsePayload(op: GateOperation, subject: string, json: string): unknown {
    if (json.length > this.#maxPayload) {
      this.#violate(
        op,
        subject,
        null,
        `payload is ${json.length} characters, max ${this.#maxPayload}`,
        false,
      );
      return INVALID;
    }
    try {
      return JSON.parse(json);
    } catch {
      this.#violate("protocol", subject, null, "payload is not valid JSON", true);
      return INVALID;
    }
  }

  /**
   * Storage requests never name a namespace: the database service takes it from the envelope's `source`,
   * which this gate stamps. A request whose data carries fields the kv protocol does not define (a
   * `namespace`, `plugin` or `source` naming someone else's collections) is refused here, before the
   * database sees it; naming another owner is severe.
   */
  #checkStorage(subject: string, data: unknown): boolean {
    const prefix = `${KV_SUBJECT_PREFIX}.`;
    if (!subject.startsWith(prefix)) return true;
    const op = subject.slice(prefix.length);
    if (data === null || typeof data !== "object" || Array.isArray(data)) {
      this.#violate("request", subject, "storage", "storage request data must be an object", false);
      return false;
    }
    const allowed: readonly string[] = (KV_OPERATIONS as readonly string[]).includes(op)
      ? Object.keys(kvRequestSchemas[op as KvOperation].shape)
      : [];
    const extra = Object.keys(data).filter((key) => !allowed.includes(key));
    if (extra.length === 0) return true;
    const naming = extra.filter((key) => OWNER_FIELDS.test(key));
    this.#violate(
      "request",
      subject,
      "storage",
      naming.length
        ? `storage request names an owner (${naming.join(", ")}): the namespace is always the caller's own`
        : `storage request has fields the kv protocol does not define: ${extra.slice(0, 5).join(", ")}`,
      naming.length > 0,
    );
    return false;
  }

  /** The envelope as JSON text around the already-encoded payload: no second encoding of the data. */
  #envelopeJson(subject: string, json: string, correlationId: string | undefined): string {
    const id = crypto.randomUUID();
    const cid = correlationId && correlationId.length <= 128 ? correlationId : id;
    return `{"id":"${id}","subject":${JSON.stringify(subject)},"source":${JSON.stringify(this.source)},"timestamp":${Date.now()},"correlationId":${JSON.stringify(cid)},"data":${json}}`;
  }

  #violate(
    operation: GateOperation,
    subject: string,
    capability: string | null,
    reason: string,
    severe: boolean,
    rate = false,
  ): void {
    const now = Date.now();
    const recent = rate ? this.#recent.rate : this.#recent.other;
    while (recent.length > 0 && recent[0]! < now - this.#windowMs) recent.shift();
    recent.push(now);
    // Subject and reason carry text the plugin chose (a refused subject, its field names): escaped and cut,
    // since a NUL made PostgreSQL refuse the audit batch holding it, and an over-long reason was not persisted.
    const violation: Violation = {
      plugin: this.plugin,
      operation,
      subject: sanitizeLogText(subject.slice(0, 300)),
      capability,
      reason: sanitizeLogText(reason),
      count: recent.length,
      severe,
      rate,
    };
    this.#lastRefusal = violation.reason;
    if (rate && recent.length > RATE_REFUSALS_REPORTED_PER_WINDOW)
      this.#countUnreported(violation, recent[0]!);
    else this.#report(violation);
    this.#onViolation?.(violation);
  }

  /** Every other refusal is published (and persisted by the audit log); only the log lines are budgeted. */
  #report(violation: Violation): void {
    if (this.#logBudget.admit(this.#log, "denial")) this.#log.warn({ violation }, "operation denied");
    try {
      this.#bus.publish(SUBJECTS.securityViolation, violation);
    } catch (err) {
      this.#log.error({ err }, "could not publish violation");
    }
  }

  #countUnreported(violation: Violation, windowStart: number): void {
    if (this.#unreported) {
      this.#unreported.count++;
      this.#unreported.last = violation;
      return;
    }
    const timer = setTimeout(
      () => this.#reportUnreported(),
      Math.max(1, windowStart + this.#windowMs - Date.now()),
    );
    timer.unref();
    this.#unreported = { count: 1, last: violation, timer };
  }

  #reportUnreported(): void {
    const pending = this.#unreported;
    if (!pending) return;
    clearTimeout(pending.timer);
    this.#unreported = undefined;
    const n = pending.count;
    this.#report({
      ...pending.last,
      reason: `${pending.last.reason}: ${n} more refused in this window, counted here instead of one by one`,
      count: pending.last.count,
    });
  }

  /** Publishes what is still counted and not reported; the plugin's gate is done (its manager stops). */
  close(): void {
    this.#reportUnreported();
  }
}

/** Field names by which a storage request could try to pick whose records it reads. */
const OWNER_FIELDS = /^(namespace|plugin|source|owner|table|schema|prefix|tenant)$/i;

/**
 * The capability to name in a refusal: of those that would allow it, one the plugin requested (so the
 * reason says "requested but not granted"), else the one whose pattern fits the subject most narrowly
 * (`chat.pm` for `rosey.events.pm`, not `events.read`'s `rosey.events.>`).
 */
function capabilityFor(op: Op, subject: string, requested: readonly string[]): CapabilityName | null {
  let best: { name: CapabilityName; score: number } | undefined;
  for (const [name, capability] of Object.entries(CAPABILITIES) as Array<
    [CapabilityName, (typeof CAPABILITIES)[CapabilityName]]
  >) {
    for (const pattern of capability[op]) {
      const hit = op === "subscribe" ? patternCovers(pattern, subject) : subjectMatches(pattern, subject);
      if (!hit) continue;
      const score = (requested.includes(name) ? 1000 : 0) + narrowness(pattern);
      if (!best || score > best.score) best = { name, score };
    }
  }
  return best?.name ?? null;
}

/** Higher for a pattern that matches fewer subjects: exact tokens count most, `*` less, `>` least. */
function narrowness(pattern: string): number {
  return pattern.split(".").reduce((sum, token) => sum + (token === ">" ? 0 : token === "*" ? 1 : 3), 0);
}
