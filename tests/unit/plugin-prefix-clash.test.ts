import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { manifestPolicies } from "../../src/core/db/kv-store.js";
import { discoverPlugins, prefixClashes, prefixClashOf } from "../../src/core/plugins/manifest.js";
import { writePluginFolder } from "../support/plugin-folder.js";

/**
 * Table prefixes must not overlap: `vault_` covers `vault_keys_*`, so `vault` would reach `vault-keys`'
 * tables. Discovery refuses both plugins of such a pair; storage and migrate refuse them again.
 */
describe("table prefix clashes", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), "rosey-prefix-clash-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const plugin = (name: string, manifest: Record<string, unknown> = {}) =>
    writePluginFolder(dir, name, { manifest });
  const rejectedCodes = () =>
    Object.fromEntries(discoverPlugins(dir).rejected.map((r) => [path.basename(r.dir), r.error.code]));

  it("names both plugins, both prefixes and the fix, for each side of every overlapping pair", () => {
    const clashes = prefixClashes(["dice", "vault", "vault-keys", "vault-keys-old"]);
    expect([...clashes.keys()]).toEqual(["vault", "vault-keys", "vault-keys-old"]);
    const vault = clashes.get("vault")!;
    expect(vault.code).toBe("PLUGIN_PREFIX_CLASH");
    expect(vault.message).toBe(
      "Plugin 'vault' is refused as its table prefix 'vault_' overlaps that of 'vault-keys' (prefix 'vault_keys_'), 'vault-keys-old' (prefix 'vault_keys_old_'): each could read and write the other's tables, so both are refused. Rename one of them (folder and manifest 'name') so that neither prefix starts with the other",
    );
    expect(vault.details).toEqual({
      plugin: "vault",
      prefix: "vault_",
      clashesWith: [
        { plugin: "vault-keys", prefix: "vault_keys_" },
        { plugin: "vault-keys-old", prefix: "vault_keys_old_" },
      ],
    });
    expect(clashes.get("vault-keys")!.message).toMatch(
      /^Plugin 'vault-keys' is refused as its table prefix 'vault_keys_' overlaps that of 'vault' \(prefix 'vault_'\), 'vault-keys-old'/,
    );
  });

  it("discovery refuses both plugins of a pair and keeps the others, whatever their capabilities", () => {
    plugin("vault", { capabilities: ["storage"], storage: { collections: { keys_secrets: {} } } });
    plugin("vault-keys");
    plugin("vaults", { capabilities: ["storage"] });
    const { plugins, rejected } = discoverPlugins(dir);
    expect(plugins.map((p) => p.manifest.name)).toEqual(["vaults"]);
    expect(rejected.map((r) => [path.basename(r.dir), r.error.code])).toEqual([
      ["vault", "PLUGIN_PREFIX_CLASH"],
      ["vault-keys", "PLUGIN_PREFIX_CLASH"],
    ]);
  });

  it("counts a plugin whose manifest is broken (its tables remain), not a folder no plugin can have", () => {
    plugin("vault", { capabilities: ["storage"] });
    mkdirSync(path.join(dir, "vault-keys"));
    writeFileSync(path.join(dir, "vault-keys", "plugin.json"), "{ not json");
    expect(rejectedCodes()).toEqual({ vault: "PLUGIN_PREFIX_CLASH", "vault-keys": "PLUGIN_PREFIX_CLASH" });

    rmSync(path.join(dir, "vault-keys"), { recursive: true });
    mkdirSync(path.join(dir, "vault_keys"));
    writeFileSync(path.join(dir, "vault_keys", "plugin.json"), "{}");
    expect(rejectedCodes()).toEqual({ vault_keys: "MANIFEST_INVALID" });
    expect(discoverPlugins(dir).plugins.map((p) => p.manifest.name)).toEqual(["vault"]);
  });

  it("prefixClashOf gives discovery's refusal of one plugin, and nothing for the others", () => {
    plugin("vault");
    plugin("vault-keys");
    plugin("dice");
    expect(prefixClashOf(dir, "vault-keys")).toMatchObject({ code: "PLUGIN_PREFIX_CLASH" });
    expect(prefixClashOf(dir, "dice")).toBeUndefined();
  });

  it("storage policies refuse a clashing plugin outright and serve the others", () => {
    plugin("vault", { storage: { collections: { keys_secrets: {} } } });
    plugin("vault-keys", { storage: { collections: { secrets: {} } } });
    plugin("dice", { storage: { collections: { rolls: {} } } });
    const policies = manifestPolicies(dir);
    expect(() => policies("vault")).toThrow(expect.objectContaining({ code: "PLUGIN_PREFIX_CLASH" }));
    expect(() => policies("vault-keys")).toThrow(expect.objectContaining({ code: "PLUGIN_PREFIX_CLASH" }));
    expect(policies("dice").collections).toEqual(["rolls"]);
  });
});
