import path from "node:path";
import type { RoseyConfig } from "../config/schema.js";
import { resolveLimits } from "./limits.js";
import { type HookName, type LoadOutcome, loadOnly } from "./load-only-worker.js";
import type { DiscoveredPlugin, PluginManifest } from "./manifest.js";
import type { PluginFinding } from "./preflight.js";
import type { SandboxSpawner } from "./sandbox-thread.js";

/**
 * What only a plugin's code can tell `rosey config check`: whether it loads in the sandbox as start would load
 * it (an error: start fails the plugin), and whether it has the hooks its manifest relies on (a warning: start
 * runs it, but its commands or events go nowhere).
 */

export interface BundledPlugin {
  plugin: DiscoveredPlugin;
  /** Its bundle as `bundlePlugin` made it, with the source map. */
  bundle: string;
}

/**
 * Workers loading at once. Start launches every plugin together; a check takes a few at a time, so a long
 * list neither loads the machine nor waits on one plugin after another (each is bounded by the READY deadline).
 */
const LOADS_AT_ONCE = 4;

/** Findings for each plugin, in the order given. */
export async function codeFindings(
  config: Readonly<RoseyConfig>,
  spawner: SandboxSpawner,
  plugins: readonly BundledPlugin[],
): Promise<PluginFinding[]> {
  const load = ({ plugin, bundle }: BundledPlugin) =>
    loadOnly(spawner, {
      init: {
        plugin: { name: plugin.manifest.name, version: plugin.manifest.version },
        source: bundle,
        config: structuredClone(config.plugins.entries[plugin.manifest.name]?.config ?? {}),
      },
      memoryMb: resolveLimits(config, plugin.manifest).memoryMb,
      readyTimeoutMs: config.sandbox.readyTimeoutMs,
    });
  const outcomes = await inParallel(plugins, LOADS_AT_ONCE, load);
  // A plugin host that dies takes every worker in it down: each load it cut short is tried again alone, so
  // the failure stays with the plugin whose code killed the host, not those loading beside it.
  for (const [i, outcome] of outcomes.entries())
    if (!outcome.ok && outcome.hostCrash) outcomes[i] = await load(plugins[i]!);
  return plugins.flatMap(({ plugin }, i) => findingsOf(config, plugin, outcomes[i]!));
}

function findingsOf(
  config: Readonly<RoseyConfig>,
  plugin: DiscoveredPlugin,
  outcome: LoadOutcome,
): PluginFinding[] {
  const name = plugin.manifest.name;
  if (!outcome.ok) return [{ level: "error", where: plugin.entryFile, plugin: name, message: outcome.error }];
  return hookFindings(config, plugin.manifest, path.join(plugin.dir, "plugin.json"), outcome.hooks);
}

/** What the manifest declares for hooks the code does not define: start accepts it, so warnings. */
function hookFindings(
  config: Readonly<RoseyConfig>,
  manifest: PluginManifest,
  manifestFile: string,
  hooks: readonly HookName[],
): PluginFinding[] {
  const plugin = manifest.name;
  const findings: PluginFinding[] = [];
  const commands = (manifest.commands ?? []).map((c) => `${config.router.prefix}${c.name}`);
  if (commands.length > 0 && !hooks.includes("onCommand")) {
    const [noun, pronoun] = commands.length === 1 ? ["command", "it fails"] : ["commands", "each fails"];
    findings.push({
      level: "warning",
      where: `${manifestFile} commands`,
      plugin,
      message: `declares ${noun} ${commands.join(", ")}, but the code has no onCommand: ${pronoun} when used (the chat sees "Sorry, ${commands[0]} failed; the error has been logged.")`,
    });
  }
  const subscribe = manifest.subscribe ?? [];
  if (subscribe.length === 0 && hooks.includes("onEvent"))
    findings.push({
      level: "warning",
      where: `${manifestFile} subscribe`,
      plugin,
      message:
        "the code has onEvent, but plugin.json subscribes to nothing: onEvent never runs (it gets the manifest's subscriptions; ctx.subscribe handlers are called themselves)",
    });
  if (subscribe.length > 0 && !hooks.includes("onEvent"))
    findings.push({
      level: "warning",
      where: `${manifestFile} subscribe`,
      plugin,
      message: `subscribes to ${subscribe.join(", ")}, but the code has no onEvent: those events reach the worker and are dropped`,
    });
  return findings;
}

/** `fn` over `items`, at most `limit` at a time; the results in the order of `items`. */
async function inParallel<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = [];
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}
