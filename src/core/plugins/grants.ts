import type { RoseyConfig } from "../config/schema.js";
import { pluginNamespace } from "../subjects.js";
import {
  CAPABILITIES,
  type CapabilityName,
  capabilitiesOfGroup,
  isCapability,
  isGroup,
  PRIVATE_SUBJECTS,
} from "./capabilities.js";
import type { PluginManifest } from "./manifest.js";

/**
 * Effective grants = requested (manifest) ∩ granted (config). Default deny: a capability nobody granted
 * is not effective, whatever the manifest asks for; a grant nobody requested is not effective either.
 */
export interface EffectiveGrants {
  readonly plugin: string;
  /** Capabilities the manifest asks for. */
  readonly requested: readonly string[];
  /** Granted capabilities, each with the config entries that grant it (`plugins.entries.dice.grants: basic`). */
  readonly granted: ReadonlyMap<CapabilityName, readonly string[]>;
  readonly effective: readonly CapabilityName[];
  /** Requested but not granted: shown by `rosey audit`, fails `--strict`. */
  readonly missing: readonly string[];
  /** Requested names that are not in the catalogue. */
  readonly unknown: readonly string[];
  /** Subject patterns the effective grants open, the plugin's own namespace included. */
  readonly publish: readonly string[];
  readonly subscribe: readonly string[];
  readonly request: readonly string[];
  /** Private subjects (`PRIVATE_SUBJECTS`) its subscriptions never deliver: their capability is not effective. */
  readonly withheld: readonly string[];
}

/** Config grant names that are neither capabilities nor groups, with the config path that holds each. */
export function unknownGrantNames(config: RoseyConfig): Array<{ where: string; name: string }> {
  const bad: Array<{ where: string; name: string }> = [];
  const check = (where: string, names: readonly string[]) => {
    for (const name of names) if (!isCapability(name) && !isGroup(name)) bad.push({ where, name });
  };
  check("plugins.defaultGrants", config.plugins.defaultGrants);
  for (const [plugin, entry] of Object.entries(config.plugins.entries))
    check(`plugins.entries.${plugin}.grants`, entry.grants);
  return bad;
}

function grantedBy(plugin: string, config: RoseyConfig): Map<CapabilityName, string[]> {
  const granted = new Map<CapabilityName, string[]>();
  const add = (where: string, names: readonly string[]) => {
    for (const name of names) {
      const caps = isCapability(name) ? [name] : isGroup(name) ? capabilitiesOfGroup(name) : [];
      for (const c of caps) {
        const via = granted.get(c) ?? [];
        via.push(`${where}: ${name}`);
        granted.set(c, via);
      }
    }
  };
  add("plugins.defaultGrants", config.plugins.defaultGrants);
  const entry = config.plugins.entries[plugin];
  if (entry) add(`plugins.entries.${plugin}.grants`, entry.grants);
  return granted;
}

export function computeGrants(manifest: PluginManifest, config: RoseyConfig): EffectiveGrants {
  const requested = [...new Set(manifest.capabilities ?? [])];
  const granted = grantedBy(manifest.name, config);
  const effective: CapabilityName[] = [];
  const missing: string[] = [];
  const unknown: string[] = [];
  for (const name of requested) {
    if (!isCapability(name)) unknown.push(name);
    else if (granted.has(name)) effective.push(name);
    else missing.push(name);
  }
  const own = pluginNamespace(manifest.name);
  const collect = (key: "publish" | "subscribe" | "request") => [
    own,
    ...new Set(effective.flatMap((name) => CAPABILITIES[name][key])),
  ];
  return Object.freeze({
    plugin: manifest.name,
    requested,
    granted,
    effective,
    missing,
    unknown,
    publish: collect("publish"),
    subscribe: collect("subscribe"),
    request: collect("request"),
    withheld: Object.entries(PRIVATE_SUBJECTS)
      .filter(([, capability]) => !effective.includes(capability))
      .map(([subject]) => subject),
  });
}
