import { RoseyError } from "../errors.js";
import { oneLine, type PluginErrorReport } from "./bundle-source-map.js";

/**
 * How a plugin fails before its worker is ready, worded once: the worker handle rejects its start with these
 * (the plugin manager logs them as `plugin failed to start: …`), and `rosey config check`, which loads the
 * code the same way, reports the same text.
 */

/** Its code threw while it loaded: `Plugin 'x' failed to load: TypeError: … (at index.ts:3:7)`. */
export function loadFailedError(plugin: string, error: string, report: PluginErrorReport): RoseyError {
  return new RoseyError("PLUGIN_LOAD_FAILED", `Plugin '${plugin}' failed to load: ${oneLine(error, report)}`);
}

/** Its worker did not answer within `sandbox.readyTimeoutMs` (top-level code or `start` that never ends). */
export function notReadyError(plugin: string, readyTimeoutMs: number): RoseyError {
  return new RoseyError("TIMEOUT", `Plugin '${plugin}' did not become ready within ${readyTimeoutMs} ms`);
}

/** Its worker ended first; `reason` says how (out of memory, a crash, the plugin host dying). */
export function endedBeforeReadyError(plugin: string, reason: string): RoseyError {
  return new RoseyError("PLUGIN_LOAD_FAILED", `Plugin '${plugin}' ${reason}`);
}
