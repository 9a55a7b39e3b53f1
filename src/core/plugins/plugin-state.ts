/**
 * A managed plugin's states, in their own module so that readers of `rosey.monitoring.plugins` (metrics,
 * `rosey audit`) can list them without loading the plugin manager.
 */
export const PLUGIN_STATES = [
  "loaded",
  "starting",
  "running",
  "suspended",
  "crashed",
  "failed",
  "stopped",
] as const;
export type PluginState = (typeof PLUGIN_STATES)[number];
