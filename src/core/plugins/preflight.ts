import path from "node:path";
import { didYouMean } from "../../sandbox/closest-name.js";
import type { RoseyConfig } from "../config/schema.js";
import { errorMessage } from "../errors.js";
import { silentLogger } from "../logger.js";
import { NORMALIZED_EVENTS, patternCovers } from "../subjects.js";
import { bundlePlugin } from "./bundle.js";
import { codeFindings } from "./code-findings.js";
import { computeGrants, unknownGrantNames } from "./grants.js";
import { DEFAULT_LIMITS, type ResolvedLimits } from "./limits.js";
import {
  type DiscoveredPlugin,
  discoverPlugins,
  type PluginManifest,
  type RejectedPlugin,
} from "./manifest.js";
import { pluginConfigProblems } from "./plugin-config.js";
import { ProcessSpawner } from "./plugin-host-process.js";

/**
 * What the plugin manager would refuse, ignore or cap in a config and a plugins directory, found without
 * starting anything (each plugin's code is loaded in a sandbox worker, never started: code-findings.ts).
 * `rosey config check` prints all of it; the plugin manager logs the `setupFindings` part
 * at start (the launch part it meets, and reports, as each plugin starts). Errors are what leaves something
 * the operator asked for not working (a plugin that will not start, a grant or command that is ignored);
 * warnings are what runs, but not as written.
 */

export interface PluginFinding {
  level: "error" | "warning";
  /** Where to fix it: a config path (`plugins.entries.dice.grants`), a manifest file or an entry file. */
  where: string;
  message: string;
  plugin?: string;
}

export function isPluginEnabled(config: Readonly<RoseyConfig>, name: string): boolean {
  if (config.plugins.entries[name]?.enabled === false) return false;
  return !config.plugins.enabled || config.plugins.enabled.includes(name);
}

export interface CommandClaims {
  /** Command word (name or alias) → the plugin that answers it. */
  owners: Map<string, string>;
  /** Words several plugins claim that no `router.commands` entry gives to one of them: nobody answers them. */
  clashes: Array<{ word: string; claimants: string[]; chosen?: string }>;
}

/**
 * Who answers each command word. A word one plugin claims is its own; a word several claim goes to the one
 * `router.commands` names, else to none of them. Not to the first in some order: a plugin installed later
 * (or named to sort first) would silently take a command from the plugin the community relies on.
 */
export function claimCommands(
  manifests: Iterable<PluginManifest>,
  chosen: Readonly<Record<string, string>> = {},
): CommandClaims {
  const claimants = new Map<string, string[]>();
  for (const manifest of manifests)
    for (const c of manifest.commands ?? [])
      for (const word of [c.name, ...(c.aliases ?? [])]) {
        const list = claimants.get(word) ?? [];
        if (!list.includes(manifest.name)) list.push(manifest.name);
        claimants.set(word, list);
      }
  const owners = new Map<string, string>();
  const clashes: CommandClaims["clashes"] = [];
  for (const [word, list] of claimants) {
    const pick = chosen[word];
    if (list.length === 1) owners.set(word, list[0]!);
    else if (pick && list.includes(pick)) owners.set(word, pick);
    else clashes.push({ word, claimants: list, ...(pick ? { chosen: pick } : {}) });
  }
  return { owners, clashes };
}

/** Findings about the config against what was discovered, before any plugin is launched. */
export function setupFindings(
  config: Readonly<RoseyConfig>,
  discovered: { plugins: readonly DiscoveredPlugin[]; rejected: readonly RejectedPlugin[] },
): PluginFinding[] {
  const findings: PluginFinding[] = [];
  const directory = config.plugins.directory;
  const found = discovered.plugins.map((p) => p.manifest.name);
  const foundList = found.length ? found.join(", ") : "none";

  for (const r of discovered.rejected)
    findings.push({ level: "error", where: path.join(r.dir, "plugin.json"), message: r.error.message });
  for (const { where, name } of unknownGrantNames(config)) {
    findings.push({
      level: "error",
      where,
      message: `'${name}' is neither a capability nor a group (basic, moderator, admin); it grants nothing`,
    });
  }
  (config.plugins.enabled ?? []).forEach((name, i) => {
    if (!found.includes(name))
      findings.push({
        level: "error",
        where: `plugins.enabled[${i}]`,
        plugin: name,
        message: `no plugin named '${name}' in ${directory} (found: ${foundList})`,
      });
  });
  for (const name of Object.keys(config.plugins.entries)) {
    if (!found.includes(name))
      findings.push({
        level: "warning",
        where: `plugins.entries.${name}`,
        plugin: name,
        message: `no plugin named '${name}' in ${directory} (found: ${foundList}); the entry is unused`,
      });
  }

  const enabled = discovered.plugins.filter((p) => isPluginEnabled(config, p.manifest.name));
  const claims = claimCommands(
    enabled.map((p) => p.manifest),
    config.router.commands,
  );
  for (const clash of claims.clashes) {
    const shown = `${config.router.prefix}${clash.word}`;
    const why = clash.chosen
      ? `router.commands.${clash.word} names '${clash.chosen}', which does not claim it`
      : `no router.commands.${clash.word} entry says which`;
    findings.push({
      level: "error",
      where: `router.commands.${clash.word}`,
      message: `command ${shown} is claimed by ${clash.claimants.join(", ")} and ${why}: none of them answers it (set router.commands.${clash.word} to one of them)`,
    });
  }
  for (const [word, plugin] of Object.entries(config.router.commands)) {
    const owner = claims.owners.get(word);
    if (owner === plugin || claims.clashes.some((c) => c.word === word)) continue;
    findings.push({
      level: "warning",
      where: `router.commands.${word}`,
      message: owner
        ? `only '${owner}' claims command '${word}', not '${plugin}': this entry does nothing`
        : `no enabled plugin claims command '${word}': this entry (for '${plugin}') does nothing`,
    });
  }
  for (const { manifest, dir } of enabled) findings.push(...grantFindings(config, manifest, dir));
  return findings;
}

function grantFindings(
  config: Readonly<RoseyConfig>,
  manifest: PluginManifest,
  dir: string,
): PluginFinding[] {
  const plugin = manifest.name;
  const findings: PluginFinding[] = [];
  const grants = computeGrants(manifest, config);
  if (grants.missing.length)
    findings.push({
      level: "warning",
      where: `plugins.entries.${plugin}.grants`,
      plugin,
      message: `${plugin} requests ${grants.missing.join(", ")}, not granted: it runs without ${grants.missing.length > 1 ? "them" : "it"}`,
    });
  const manifestFile = path.join(dir, "plugin.json");
  if (grants.unknown.length)
    findings.push({
      level: "warning",
      where: `${manifestFile} capabilities`,
      plugin,
      message: `requests capabilities that do not exist: ${grants.unknown.join(", ")}`,
    });
  for (const pattern of manifest.subscribe ?? []) {
    if (isUnknownEvent(pattern))
      findings.push({
        level: "warning",
        where: `${manifestFile} subscribe`,
        plugin,
        message: `'${pattern}' is no event a connector publishes, so onEvent never sees it${didYouMean(pattern, NORMALIZED_EVENTS)}`,
      });
    if (!grants.subscribe.some((allowed) => patternCovers(allowed, pattern)))
      findings.push({
        level: "warning",
        where: `${manifestFile} subscribe`,
        plugin,
        message: `'${pattern}' is not covered by ${plugin}'s grants (${grants.effective.join(", ") || "none"}): the subscription will be refused and counted as a violation`,
      });
  }
  findings.push(
    ...limitFindings(config, manifest, manifestFile),
    ...quotaFindings(config, manifest, manifestFile),
  );
  return findings;
}

/** A `rosey.events.` subject without wildcards that names no normalized event: most often a typo. */
function isUnknownEvent(pattern: string): boolean {
  return (
    pattern.startsWith("rosey.events.") &&
    !/(^|\.)[*>](\.|$)/.test(pattern) &&
    !(NORMALIZED_EVENTS as readonly string[]).includes(pattern)
  );
}

/** A storage quota above `database.maxQuota` is cut by the database service, as limits are by maxLimits. */
function quotaFindings(
  config: Readonly<RoseyConfig>,
  manifest: PluginManifest,
  manifestFile: string,
): PluginFinding[] {
  const max = config.database.maxQuota;
  const findings: PluginFinding[] = [];
  for (const key of ["records", "bytes"] as const) {
    const value = manifest.storage?.quota?.[key];
    if (value !== undefined && value > max[key])
      findings.push({
        level: "warning",
        where: `${manifestFile} storage.quota.${key}`,
        plugin: manifest.name,
        message: `${value} is above database.maxQuota.${key} (${max[key]}): ${manifest.name} gets ${max[key]}`,
      });
  }
  return findings;
}

function limitFindings(
  config: Readonly<RoseyConfig>,
  manifest: PluginManifest,
  manifestFile: string,
): PluginFinding[] {
  const plugin = manifest.name;
  const max = config.sandbox.maxLimits;
  const fromConfig = config.plugins.entries[plugin]?.limits ?? {};
  const findings: PluginFinding[] = [];
  for (const key of Object.keys(DEFAULT_LIMITS) as Array<keyof ResolvedLimits>) {
    const [where, value] =
      fromConfig[key] !== undefined
        ? [`plugins.entries.${plugin}.limits.${key}`, fromConfig[key]]
        : [`${manifestFile} limits.${key}`, manifest.limits?.[key]];
    if (value !== undefined && value > max[key])
      findings.push({
        level: "warning",
        where,
        plugin,
        message: `${value} is above sandbox.maxLimits.${key} (${max[key]}): ${plugin} gets ${max[key]}`,
      });
  }
  return findings;
}

/**
 * What the plugin manager checks as it launches a plugin: its config block, and that its code bundles (the
 * bundle, when `code` is asked and it builds).
 */
async function launchFindings(
  config: Readonly<RoseyConfig>,
  plugin: DiscoveredPlugin,
  code: boolean,
): Promise<{ findings: PluginFinding[]; bundle?: string }> {
  const { name } = plugin.manifest;
  const findings: PluginFinding[] = [];
  try {
    const entry = config.plugins.entries[name];
    for (const problem of pluginConfigProblems(name, plugin.manifest.configSchema, entry?.config ?? {}))
      findings.push({ level: "error", plugin: name, ...problem });
  } catch (err) {
    findings.push({
      level: "error",
      where: `${path.join(plugin.dir, "plugin.json")} configSchema`,
      plugin: name,
      message: errorMessage(err),
    });
  }
  if (!code) return { findings };
  try {
    return { findings, bundle: await bundlePlugin(plugin.entryFile, plugin.dir) };
  } catch (err) {
    findings.push({
      level: "error",
      where: plugin.entryFile,
      plugin: name,
      message: `the code does not build: ${errorMessage(err)}`,
    });
    return { findings };
  }
}

export interface PluginPreflight {
  directory: string;
  enabled: string[];
  disabled: string[];
  findings: PluginFinding[];
}

export interface PreflightOptions {
  /**
   * Also bundle each enabled plugin's code and load it in a sandbox worker, without running it
   * (code-findings.ts). `rosey config check --no-code` leaves it out.
   * @default true
   */
  code?: boolean;
}

/** Everything the plugin manager would find at start, and as it launches each enabled plugin. */
export async function preflightPlugins(
  config: Readonly<RoseyConfig>,
  options: PreflightOptions = {},
): Promise<PluginPreflight> {
  const code = options.code ?? true;
  const directory = config.plugins.directory;
  let discovered: ReturnType<typeof discoverPlugins>;
  try {
    discovered = discoverPlugins(directory);
  } catch (err) {
    return {
      directory,
      enabled: [],
      disabled: [],
      findings: [{ level: "error", where: "plugins.directory", message: errorMessage(err) }],
    };
  }
  const enabled = discovered.plugins.filter((p) => isPluginEnabled(config, p.manifest.name));
  const findings = setupFindings(config, discovered);
  // Bundled together: esbuild's service is started once for all of them (bundle.ts stops it when idle).
  const launched = await Promise.all(enabled.map((plugin) => launchFindings(config, plugin, code)));
  for (const result of launched) findings.push(...result.findings);
  const bundled = enabled.flatMap((plugin, i) => {
    const bundle = launched[i]!.bundle;
    return bundle === undefined ? [] : [{ plugin, bundle }];
  });
  if (bundled.length > 0) {
    // Always in a plugin host of its own, whatever `sandbox.isolation` says: a plugin that aborts its process
    // (a huge allocation at the top level) must take the host down, which the check reports and survives,
    // not the check itself; and a thread stuck in native code dies with that host when the check closes it.
    const spawner = new ProcessSpawner(silentLogger());
    try {
      findings.push(...(await codeFindings(config, spawner, bundled)));
    } finally {
      await spawner.close();
    }
  }
  return {
    directory,
    enabled: enabled.map((p) => p.manifest.name),
    disabled: discovered.plugins.filter((p) => !enabled.includes(p)).map((p) => p.manifest.name),
    findings,
  };
}
