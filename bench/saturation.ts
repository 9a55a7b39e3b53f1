import type { LatencySummary } from "./histogram.js";

/**
 * Saturation search: run fixed-rate steps at increasing rates until a step breaks a threshold, then
 * bisect between the last rate that held and the first that broke (the ×factor ladder alone leaves a
 * gap of up to a third of the figure); the saturation throughput is the best reply rate of a step that
 * held. A step that breaks is run again up to `retries` times and breaks only if every attempt does: on a
 * shared 2-core machine one stall of ~50 ms (a GC, a descheduled process) breaks a 5 s step's p99 at any
 * rate above ~20k msg/s, and a single such stall used to decide the whole figure (10.4k against 15.6–17.1k
 * in the runs around it). Pure decisions, so the ladder logic is unit-tested without a platform.
 */

export interface SaturationSettings {
  /** Rate of the first step, msg/s. */
  startRate: number;
  /** Each next step offers `rate × factor`. */
  factor: number;
  /** Length of each step. */
  stepDurationMs: number;
  /** A step breaks when its p99 latency exceeds this. */
  maxP99Ms: number;
  /** A step breaks when more than this fraction of its messages is lost or failed. */
  maxLossRatio: number;
  /** A step breaks when the replies per second fall below this fraction of the offered rate. */
  minDeliveredRatio: number;
  /** Safety stop. */
  maxRate: number;
  /** Bisection steps after the first break; bisection also ends when the gap is under 2% of the rate that held. */
  refineSteps: number;
  /** How many times a step that broke is run again at the same rate before the rate counts as broken. */
  retries: number;
}

export interface StepResult {
  offeredRate: number;
  sent: number;
  replied: number;
  lost: number;
  failed: number;
  /** Replies per second over the step (sent messages answered / step time including the drain). */
  achievedRate: number;
  /** Messages the generator sent per second (below the offered rate when the sender itself falls behind). */
  sendRate: number;
  latency: LatencySummary;
}

export type StepVerdict = { ok: true } | { ok: false; reason: string };

export function judgeStep(step: StepResult, settings: SaturationSettings): StepVerdict {
  if (step.sent === 0) return { ok: false, reason: "nothing was sent" };
  const bad = (step.lost + step.failed) / step.sent;
  if (bad > settings.maxLossRatio)
    return {
      ok: false,
      reason: `${step.lost} lost + ${step.failed} failed of ${step.sent} (${pct(bad)} > ${pct(settings.maxLossRatio)})`,
    };
  if (step.latency.p99 > settings.maxP99Ms)
    return { ok: false, reason: `p99 ${step.latency.p99} ms > ${settings.maxP99Ms} ms` };
  if (step.sendRate < step.offeredRate * settings.minDeliveredRatio)
    return {
      ok: false,
      reason: `the generator sent only ${Math.round(step.sendRate)} msg/s of ${step.offeredRate}`,
    };
  if (step.achievedRate < step.offeredRate * settings.minDeliveredRatio)
    return {
      ok: false,
      reason: `only ${Math.round(step.achievedRate)} replies/s for ${step.offeredRate} msg/s offered`,
    };
  return { ok: true };
}

/** The next rate to offer after a step that held, or `undefined` when the ladder is at its top. */
export function nextRate(current: number, settings: SaturationSettings): number | undefined {
  const next = Math.round(current * settings.factor);
  if (current >= settings.maxRate) return undefined;
  return Math.min(settings.maxRate, Math.max(next, current + 1));
}

export interface SaturationOutcome<S extends StepResult = StepResult> {
  /** Every step run, retries included; `attempt` is 1 for the first run of a rate. */
  steps: Array<S & { verdict: StepVerdict; attempt: number }>;
  /** Achieved reply rate of the last step that held (0 when the first step broke). */
  sustainedRate: number;
  /** Offered rate of that step. */
  sustainedOfferedRate: number;
  /** Why the ladder stopped. */
  stoppedBecause: string;
}

/** Runs the ladder with `runStep` doing the real work of one step. */
export async function climb<S extends StepResult>(
  settings: SaturationSettings,
  runStep: (rate: number) => Promise<S>,
  onStep?: (step: S, verdict: StepVerdict, attempt: number) => void,
): Promise<SaturationOutcome<S>> {
  const steps: SaturationOutcome<S>["steps"] = [];
  /** Runs a rate until an attempt holds or the retries are spent; returns the attempt that holds, if any. */
  const attempt = async (rate: number): Promise<{ held?: S; reason: string }> => {
    let reason = "";
    for (let n = 1; n <= 1 + settings.retries; n++) {
      const step = await runStep(rate);
      const verdict = judgeStep(step, settings);
      steps.push({ ...step, verdict, attempt: n });
      onStep?.(step, verdict, n);
      if (verdict.ok) return { held: step, reason };
      reason = verdict.reason;
    }
    return { reason };
  };
  const everyAttempt = settings.retries > 0 ? ` on all ${1 + settings.retries} attempts` : "";
  let rate: number | undefined = settings.startRate;
  let sustainedRate = 0;
  let sustainedOfferedRate = 0;
  let stoppedBecause = `reached the ladder's top (${settings.maxRate} msg/s)`;
  while (rate !== undefined) {
    const { held, reason } = await attempt(rate);
    if (!held) {
      stoppedBecause = `${rate} msg/s broke${everyAttempt}: ${reason}`;
      break;
    }
    sustainedRate = Math.max(sustainedRate, held.achievedRate);
    sustainedOfferedRate = rate;
    rate = nextRate(rate, settings);
  }
  let broke = rate;
  for (let i = 0; i < settings.refineSteps && broke !== undefined && sustainedOfferedRate > 0; i++) {
    const mid = Math.round((sustainedOfferedRate + broke) / 2);
    if (mid - sustainedOfferedRate < sustainedOfferedRate * 0.02) break;
    const { held, reason } = await attempt(mid);
    if (held) {
      sustainedRate = Math.max(sustainedRate, held.achievedRate);
      sustainedOfferedRate = mid;
    } else {
      broke = mid;
      stoppedBecause = `${mid} msg/s broke${everyAttempt}: ${reason}`;
    }
  }
  return { steps, sustainedRate, sustainedOfferedRate, stoppedBecause };
}

const pct = (x: number): string => `${(x * 100).toFixed(2)}%`;
