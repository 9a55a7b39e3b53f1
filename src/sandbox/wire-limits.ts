/**
 * Size caps shared by the worker (which cuts and refuses) and the main thread (which validates). Kept
 * apart from protocol.ts so the worker imports no zod: loading it cost every worker ≈5 MB RSS and ≈50 ms of cold
 * start (measured: 18.1 → 12.9 MB, 115 → 66 ms spawn to READY).
 */

/** Largest JSON payload a plugin may publish, request or respond with. */
export const MAX_PAYLOAD_CHARS = 64 * 1024;
/** Largest log message; longer ones are cut in the worker. */
export const MAX_LOG_CHARS = 1024;
/**
 * Log lines a worker sends per second; the rest are dropped in the worker and counted. Cutting them in the
 * core was too late: a plugin logging in a loop sent ~200,000 lines a second, and parsing them alone held
 * the core's thread at ~60% and other plugins' commands waited ~1 s.
 */
export const LOG_LINES_PER_SECOND = 20;
