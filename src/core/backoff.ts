/**
 * Exponential backoff: the delay before retry number `attempt` (0 for the first) is `baseMs` doubled per
 * attempt, capped at `maxMs`. Every part that restarts or reconnects (plugin workers, the database process,
 * the NATS and CyTube clients) uses it, so their schedules cannot drift apart.
 */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt));
}
