/**
 * Size caps shared by the worker (which cuts and refuses) and the main thread (which validates). Kept
 * apart from protocol.ts so the worker imports no zod: loading it cost every worker ≈5 MB RSS and ≈50 ms of cold
 * start (measured: 18.1 → 12.9 MB, 115 → 66 ms spawn to READY).
 */

/** Largest JSON payload a plugin may publish, request or respond with. */
export const MAX_PAYLOAD_CHARS = 64 * 1024;
/** Largest log message; longer ones are cut in the worker. */
export const MAX_LOG_CHARS = 1024;
