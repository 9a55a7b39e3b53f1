import { WindowBudget } from "../sandbox/window-budget.js";
import type { Logger } from "./logger.js";

/**
 * A budget of log lines per window, for lines whose rate outsiders decide: a plugin's own log calls, the
 * gate's refusals of a misbehaving plugin, the router's failures under a chat flood. Without it anyone who
 * can type in chat or ship a plugin can fill the operator's disk and bury the lines that matter. What is
 * cut is counted, and said once the next line is allowed, so the log shows that (and how much) is missing.
 */
export class LogBudget extends WindowBudget {
  /**
   * Whether one more `what` line may be written now. When it may and earlier ones were dropped, it first
   * logs how many on `log` (with `fields`), so the gap shows where it happened.
   */
  admit(log: Logger, what: string, fields?: Record<string, unknown>): boolean {
    if (!this.take()) return false;
    const dropped = this.takeDropped();
    if (dropped > 0) log.warn({ ...fields, dropped }, `${what} log lines dropped (rate limit)`);
    return true;
  }
}
