import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { validateConfig } from "../../src/core/config/load.js";
import { preflightPlugins } from "../../src/core/plugins/preflight.js";
import { writePluginFolder } from "../support/plugin-folder.js";

/**
 * `rosey config check` finds, without starting anything, what the plugin manager would refuse, ignore or cap
 * at start: each finding names where to fix it.
 */
describe("preflightPlugins", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), "rosey-preflight-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /**
   * By default, code that loads and has the hooks its manifest relies on (onEvent only with subscriptions):
   * these tests are about the rest.
   */
  const plugin = (name: string, manifest: Record<string, unknown> = {}, code?: string) =>
    writePluginFolder(dir, name, {
      manifest,
      code: code ?? `export default { onCommand() {}${manifest.subscribe ? ", onEvent() {}" : ""} };\n`,
    });
  const check = (
    plugins: Record<string, unknown> = {},
    sandbox: Record<string, unknown> = {},
    router: Record<string, unknown> = {},
  ) => preflightPlugins(validateConfig({ plugins: { directory: dir, ...plugins }, sandbox, router }, "test"));
  const render = (findings: Array<{ level: string; where: string; message: string }>) =>
    findings.map((f) => `${f.level} ${f.where.replace(dir, "DIR")}: ${f.message.replaceAll(dir, "DIR")}`);

  it("finds nothing in a setup that works as written, and lists enabled and disabled plugins", async () => {
    plugin("dice", { capabilities: ["chat.send"], commands: [{ name: "roll" }] });
    plugin("echo", { capabilities: ["chat.send"] });
    const result = await check({
      entries: { dice: { grants: ["basic"] }, echo: { enabled: false } },
    });
    expect(result).toEqual({ directory: dir, enabled: ["dice"], disabled: ["echo"], findings: [] });
  });

  it("reports config that names plugins or grants that do not exist", async () => {
    plugin("dice", { capabilities: ["chat.send"] });
    const result = await check({
      enabled: ["dice", "eigthball"],
      defaultGrants: ["chat.sned"],
      entries: { dice: { grants: ["basic"] }, wether: { grants: ["basic"] } },
    });
    expect(render(result.findings)).toEqual([
      "error plugins.defaultGrants: 'chat.sned' is neither a capability nor a group (basic, moderator, admin); it grants nothing",
      "error plugins.enabled[1]: no plugin named 'eigthball' in DIR (found: dice)",
      "warning plugins.entries.wether: no plugin named 'wether' in DIR (found: dice); the entry is unused",
    ]);
  });

  it("reports what an enabled plugin asks for and will not get", async () => {
    plugin("p", {
      capabilities: ["chat.send", "events.read", "time.travel"],
      subscribe: ["rosey.events.message", "rosey.security.violation"],
      limits: { memoryMb: 300, publishPerSecond: 5 },
      storage: { quota: { records: 1e15, bytes: 1000 } },
    });
    const result = await check(
      { entries: { p: { grants: ["events.read"], limits: { publishPerSecond: 50 } } } },
      { maxLimits: { memoryMb: 128, publishPerSecond: 20 } },
    );
    expect(render(result.findings)).toEqual([
      "warning plugins.entries.p.grants: p requests chat.send, not granted: it runs without it",
      "warning DIR/p/plugin.json capabilities: requests capabilities that do not exist: time.travel",
      "warning DIR/p/plugin.json subscribe: 'rosey.security.violation' is not covered by p's grants (events.read): the subscription will be refused and counted as a violation",
      "warning DIR/p/plugin.json limits.memoryMb: 300 is above sandbox.maxLimits.memoryMb (128): p gets 128",
      "warning plugins.entries.p.limits.publishPerSecond: 50 is above sandbox.maxLimits.publishPerSecond (20): p gets 20",
      "warning DIR/p/plugin.json storage.quota.records: 1000000000000000 is above database.maxQuota.records (100000): p gets 100000",
    ]);
  });

  it("a command several plugins claim is answered by none until router.commands names one", async () => {
    plugin("alpha", { commands: [{ name: "roll" }] });
    plugin("beta", { commands: [{ name: "flip", aliases: ["roll"] }] });
    expect(render((await check()).findings)).toEqual([
      "error router.commands.roll: command !roll is claimed by alpha, beta and no router.commands.roll entry says which: none of them answers it (set router.commands.roll to one of them)",
    ]);
    expect(render((await check({}, {}, { commands: { roll: "beta" } })).findings)).toEqual([]);
    expect(
      render((await check({}, {}, { commands: { roll: "gamma", flip: "alpha", dice: "alpha" } })).findings),
    ).toEqual([
      "error router.commands.roll: command !roll is claimed by alpha, beta and router.commands.roll names 'gamma', which does not claim it: none of them answers it (set router.commands.roll to one of them)",
      "warning router.commands.flip: only 'beta' claims command 'flip', not 'alpha': this entry does nothing",
      "warning router.commands.dice: no enabled plugin claims command 'dice': this entry (for 'alpha') does nothing",
    ]);
  });

  it("reports each value of a plugin's config block that its configSchema refuses, and code that does not build", async () => {
    plugin("weather", {
      configSchema: {
        type: "object",
        required: ["city"],
        properties: { city: { type: "string" }, units: { enum: ["metric", "imperial"] } },
      },
    });
    plugin("broken", {}, "export default {");
    const result = await check({ entries: { weather: { config: { units: "kelvin" } } } });
    const lines = render(result.findings);
    expect(lines).toContain(
      'error plugins.entries.weather.config: must have required property \'city\': current value is {"units":"kelvin"}',
    );
    expect(lines).toContain(
      'error plugins.entries.weather.config.units: must be equal to one of the allowed values: current value is "kelvin"',
    );
    expect(
      lines.find((l) => l.startsWith("error DIR/broken/index.js: the code does not build:")),
    ).toBeDefined();
    expect(lines).toHaveLength(3);
  });

  it("reports a configSchema that is not a JSON Schema against the manifest", async () => {
    plugin("odd", { configSchema: { type: "nonsense" } });
    const result = await check();
    expect(render(result.findings)).toEqual([
      expect.stringMatching(
        /^error DIR\/odd\/plugin\.json configSchema: Plugin 'odd': its manifest's configSchema is not a valid JSON Schema: /,
      ),
    ]);
  });

  it("does not look at the code or config of a disabled plugin", async () => {
    plugin("broken", { configSchema: { type: "object", required: ["x"] } }, "export default {");
    expect((await check({ entries: { broken: { enabled: false } } })).findings).toEqual([]);
  });

  it("reports both plugins whose table prefixes overlap, even a disabled one, and keeps the others", async () => {
    plugin("vault");
    plugin("vault-keys");
    plugin("dice");
    const result = await check({ entries: { "vault-keys": { enabled: false } } });
    expect(result.enabled).toEqual(["dice"]);
    expect(render(result.findings)).toEqual([
      "error DIR/vault/plugin.json: Plugin 'vault' is refused as its table prefix 'vault_' overlaps that of 'vault-keys' (prefix 'vault_keys_'): each could read and write the other's tables, so both are refused. Rename one of them (folder and manifest 'name') so that neither prefix starts with the other",
      "error DIR/vault-keys/plugin.json: Plugin 'vault-keys' is refused as its table prefix 'vault_keys_' overlaps that of 'vault' (prefix 'vault_'): each could read and write the other's tables, so both are refused. Rename one of them (folder and manifest 'name') so that neither prefix starts with the other",
      "warning plugins.entries.vault-keys: no plugin named 'vault-keys' in DIR (found: dice); the entry is unused",
    ]);
  });

  it("reports rejected manifests and an unreadable plugins directory", async () => {
    mkdirSync(path.join(dir, "bad"));
    writeFileSync(path.join(dir, "bad", "plugin.json"), "{ not json");
    const result = await check();
    expect(result.findings).toHaveLength(1);
    expect(result.findings[0]).toMatchObject({ level: "error", where: path.join(dir, "bad", "plugin.json") });

    const missing = await preflightPlugins(
      validateConfig({ plugins: { directory: path.join(dir, "nope") } }, "test"),
    );
    expect(missing.findings).toEqual([
      expect.objectContaining({
        level: "error",
        where: "plugins.directory",
        message: expect.stringMatching(
          /nope: ENOENT.*relative to the config file's folder\); Rosey's bundled plugins are in \S+plugins$/,
        ),
      }),
    ]);
  });
});
