import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { configCheck } from "../../src/cli/config-check.js";
import { PACKAGE_ROOT } from "../../src/core/paths.js";
import { CAN_SEE_LEFTOVERS, childProcesses, osThreads } from "../support/leftovers.js";
import { writePluginFolder } from "../support/plugin-folder.js";
import { useTempDir } from "../support/temp-dir.js";

/**
 * Runs `rosey config check` on `<dir>/rosey.yaml` holding `text` after the `plugins` section: `directory:
 * plugins` (made empty if absent) and `plugins` keys.
 */
async function runCheck(
  dir: string,
  text: string,
  options: { env?: NodeJS.ProcessEnv; code?: boolean; plugins?: Record<string, unknown> } = {},
) {
  mkdirSync(path.join(dir, "plugins"), { recursive: true });
  const file = path.join(dir, "rosey.yaml");
  writeFileSync(file, `plugins: ${JSON.stringify({ directory: "plugins", ...options.plugins })}\n${text}`);
  const out = { stdout: "", stderr: "" };
  const code = await configCheck(
    file,
    { stdout: (t) => (out.stdout += t), stderr: (t) => (out.stderr += t) },
    { env: options.env ?? {}, ...(options.code === false ? { code: false } : {}) },
  );
  return { code, file, ...out };
}

/** `rosey config check` sees the config as `rosey start` would: with NATS_URL, DATABASE_URL and LOG_LEVEL applied. */
describe("rosey config check with environment overrides", () => {
  const dir = useTempDir("rosey-config-check-");

  const check = (text: string, env: NodeJS.ProcessEnv) => runCheck(dir(), text, { env });

  it("fails on an override start would refuse, naming the variable, not the file", async () => {
    const run = await check("logging: { level: info }\n", { LOG_LEVEL: "bogus" });
    expect(run.code).toBe(1);
    expect(run.stdout).toBe("");
    expect(run.stderr).toContain(`Invalid environment override of the config (${run.file}):\n`);
    expect(run.stderr).toContain(
      `  - LOG_LEVEL="bogus" (environment, overrides 'logging.level' in ${run.file}): Invalid option`,
    );
  });

  it("says OK, and lists the overrides it checked with", async () => {
    const run = await check("logging: { level: info }\n", {
      LOG_LEVEL: "debug",
      NATS_URL: "nats://u:pw@nats:4222",
    });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe(
      `OK: ${run.file} is a valid config\n` +
        "Checked as rosey start would see it, with 2 environment overrides:\n" +
        `  NATS_URL="nats://u:***@nats:4222" (environment, sets 'nats.url')\n` +
        `  LOG_LEVEL="debug" (environment, overrides 'logging.level' in ${run.file})\n` +
        `Plugins in ${path.join(dir(), "plugins")}: 0 enabled, 0 disabled\n`,
    );
  });

  it("checks the database DATABASE_URL names, and says the problem is the variable's", async () => {
    writeFileSync(
      path.join(dir(), "not-sqlite.db"),
      "this is not a SQLite database, but a text file\n".repeat(200),
    );
    const run = await check("", { DATABASE_URL: `file:${path.join(dir(), "not-sqlite.db")}` });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /^ {2}ERROR DATABASE_URL="file:.*not-sqlite\.db" \(environment, sets 'database\.url'\): Cannot read the SQLite database/m,
    );
  });

  it("without overrides, checks and prints as before", async () => {
    const run = await check("logging: { level: warn }\n", {});
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(
      `OK: ${run.file} is a valid config\nPlugins in ${path.join(dir(), "plugins")}: 0 enabled, 0 disabled\n`,
    );
  });
});

/**
 * `rosey config check` bundles each enabled plugin's code as start does, and loads it in a sandbox worker
 * (SES Compartment, the plugin's resource limits, `sandbox.readyTimeoutMs`) without running `start` or a
 * handler: what would fail the plugin at start is an error, with start's own text.
 */
describe("rosey config check on the plugins' code", () => {
  const dir = useTempDir("rosey-config-check-code-");
  const plugins = () => path.join(dir(), "plugins");
  const READY_TIMEOUT_MS = 2_000;

  /** One plugin per way code can fail to load, and one whose start() would fail if it ran. */
  const writeBrokenPlugins = () => {
    const p = plugins();
    writePluginFolder(p, "syntax", { code: "export default { onCommand( {\n" });
    writePluginFolder(p, "package", {
      code: 'import lodash from "lodash";\nexport default { onCommand: () => lodash.VERSION };\n',
    });
    writePluginFolder(p, "misspelt", { code: "export default { onComand() {} };\n" });
    writePluginFolder(p, "messager", { code: "export default { onMessage() {} };\n" });
    writePluginFolder(p, "hookless", { code: "export default { reply() {} };\n" });
    writePluginFolder(p, "thrower", {
      code: 'import { table } from "./table.js";\nexport default { onCommand: () => table };\n',
    });
    writeFileSync(
      path.join(p, "thrower", "table.js"),
      'export const table = {};\n\nthrow new RangeError("no table");\n',
    );
    writePluginFolder(p, "looper", { code: "for (;;) {}\nexport default { onCommand() {} };\n" });
    writePluginFolder(p, "starter", {
      code: 'export default { start() { throw new Error("start ran"); }, onCommand() {} };\n',
    });
  };

  /** The line each broken plugin gets, as `  ERROR where: message`; `starter` gets none, as its start() never runs. */
  const expectedErrors = () => {
    const p = plugins();
    const entry = (name: string) => path.join(p, name, "index.js");
    return [
      `  ERROR ${entry("package")}: the code does not build: Cannot bundle ${entry("package")}: index.js:1: cannot import 'lodash': plugins have no access to modules outside their folder\n`,
      `  ERROR ${entry("syntax")}: the code does not build: Cannot bundle ${entry("syntax")}: index.js:2: Expected identifier but found end of file\n`,
      `  ERROR ${entry("hookless")}: Plugin 'hookless' failed to load: TypeError: the plugin defines none of start, onCommand, onEvent\n`,
      `  ERROR ${entry("looper")}: Plugin 'looper' did not become ready within ${READY_TIMEOUT_MS} ms\n`,
      `  ERROR ${entry("messager")}: Plugin 'messager' failed to load: TypeError: unknown hook 'onMessage': hooks are start, onCommand, onEvent, stop\n`,
      `  ERROR ${entry("misspelt")}: Plugin 'misspelt' failed to load: TypeError: unknown hook 'onComand': hooks are start, onCommand, onEvent, stop; did you mean "onCommand"?\n`,
      `  ERROR ${entry("thrower")}: Plugin 'thrower' failed to load: RangeError: no table (at table.js:3:7)\n`,
    ];
  };

  it.each(["process", "thread"] as const)(
    "reports each plugin whose code would fail at start, by name and with start's text, and exits 1 (%s isolation); nothing is left running",
    async (isolation) => {
      writeBrokenPlugins();
      const sandbox = `sandbox: { isolation: ${isolation}, readyTimeoutMs: ${READY_TIMEOUT_MS} }\n`;
      const threadsBefore = CAN_SEE_LEFTOVERS ? osThreads() : 0;
      const run = await runCheck(dir(), sandbox);
      expect(run.code).toBe(1);
      expect(run.stdout).toBe("");
      const errors = expectedErrors();
      expect(run.stderr).toBe(
        `${run.file} is a valid config, but ${errors.length} problems would stop it from working as written:\n${errors.join("")}`,
      );
      // Every worker was ended (and joined), the plugin host and esbuild too: the check leaves nothing behind.
      if (CAN_SEE_LEFTOVERS) {
        expect(osThreads()).toBe(threadsBefore);
        expect(childProcesses()).toEqual([]);
      }
    },
  );

  it("a plugin stuck in one native call at its top level: reported, and its plugin host ended, though terminate cannot end the thread", async () => {
    // One C++ loop over 2^53 indices that checks for no interrupt: it would run on for about a minute.
    writePluginFolder(plugins(), "stuck", {
      code: "Array.prototype.indexOf.call({ length: 2 ** 53 - 1 }, 1);\nexport default { onCommand() {} };\n",
    });
    writePluginFolder(plugins(), "fine", { code: "export default { onCommand() {} };\n" });
    const run = await runCheck(dir(), `sandbox: { readyTimeoutMs: ${READY_TIMEOUT_MS} }\n`);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      `${run.file} is a valid config, but 1 problem would stop it from working as written:\n` +
        `  ERROR ${path.join(plugins(), "stuck", "index.js")}: Plugin 'stuck' did not become ready within ${READY_TIMEOUT_MS} ms\n`,
    );
    if (CAN_SEE_LEFTOVERS) expect(childProcesses()).toEqual([]);
  });

  it("--no-code checks manifests and config alone: no bundle, no worker", async () => {
    writeBrokenPlugins();
    const started = performance.now();
    const run = await runCheck(dir(), `sandbox: { readyTimeoutMs: ${READY_TIMEOUT_MS} }\n`, { code: false });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(`OK: ${run.file} is a valid config\n`);
    // The looper alone would take the whole READY deadline.
    expect(performance.now() - started).toBeLessThan(READY_TIMEOUT_MS);
  });

  it("warns of commands with no onCommand and subscriptions with no onEvent, which start accepts (exit 0)", async () => {
    writePluginFolder(plugins(), "mute", {
      manifest: { commands: [{ name: "ping" }, { name: "pong" }] },
      code: "export default { start() {} };\n",
    });
    writePluginFolder(plugins(), "deaf", {
      manifest: {
        commands: [{ name: "hear" }],
        subscribe: ["rosey.events.message"],
        capabilities: ["events.read"],
      },
      code: "export default { onCommand() {} };\n",
    });
    const run = await runCheck(dir(), "", { plugins: { entries: { deaf: { grants: ["events.read"] } } } });
    expect(run.code, run.stderr).toBe(0);
    const manifest = (name: string) => path.join(plugins(), name, "plugin.json");
    expect(run.stderr).toBe(
      "2 warnings:\n" +
        `  WARNING ${manifest("deaf")} subscribe: subscribes to rosey.events.message, but the code has no onEvent: those events reach the worker and are dropped\n` +
        `  WARNING ${manifest("mute")} commands: declares commands !ping, !pong, but the code has no onCommand: each fails when used (the chat sees "Sorry, !ping failed; the error has been logged.")\n`,
    );
  });

  it("warns of an onEvent with nothing to receive, and of a subscription to an event no connector publishes", async () => {
    writePluginFolder(plugins(), "listener", { code: "export default { onEvent() {} };\n" });
    writePluginFolder(plugins(), "greeter", {
      manifest: {
        subscribe: ["rosey.events.user.joined", "rosey.events.user.*"],
        capabilities: ["events.read"],
      },
      code: "export default { onEvent() {} };\n",
    });
    const run = await runCheck(dir(), "", { plugins: { entries: { greeter: { grants: ["events.read"] } } } });
    expect(run.code, run.stderr).toBe(0);
    const manifest = (name: string) => path.join(plugins(), name, "plugin.json");
    expect(run.stderr).toBe(
      "2 warnings:\n" +
        `  WARNING ${manifest("greeter")} subscribe: 'rosey.events.user.joined' is no event a connector publishes, so onEvent never sees it; did you mean "rosey.events.user.join"?\n` +
        `  WARNING ${manifest("listener")} subscribe: the code has onEvent, but plugin.json subscribes to nothing: onEvent never runs (it gets the manifest's subscriptions; ctx.subscribe handlers are called themselves)\n`,
    );
  });

  it("a plugin whose code kills the plugin host is reported; a plugin loading beside it still passes", async () => {
    // One huge allocation aborts the process that holds the worker (docs/security.md): under process
    // isolation that is the plugin host, with every worker in it. `slow` is still loading then (its top level
    // counts for about a second), so it passes only because each load the crash cut short is tried again alone.
    writePluginFolder(plugins(), "huge", {
      code: "const a = new Array(2 ** 26).fill(1.5);\nexport default { onCommand: () => String(a.length) };\n",
    });
    writePluginFolder(plugins(), "slow", {
      code: "let n = 0;\nfor (let i = 0; i < 3e8; i++) n += i;\nexport default { onCommand: () => String(n) };\n",
    });
    const run = await runCheck(dir(), "sandbox: { isolation: process, readyTimeoutMs: 20000 }\n");
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /, but 1 problem would stop it from working as written:\n {2}ERROR \S+huge\/index\.js: Plugin 'huge' plugin host process died \((SIGABRT|exit code 134)\)\n$/,
    );
    if (CAN_SEE_LEFTOVERS) expect(childProcesses()).toEqual([]);
  });
});

describe("rosey config check on the bundled plugins", () => {
  const dir = useTempDir("rosey-config-check-bundled-");

  it("loads every one of them and finds nothing: exit 0", async () => {
    const bundled = path.join(PACKAGE_ROOT, "plugins");
    const run = await runCheck(dir(), "", {
      plugins: { directory: bundled, defaultGrants: ["chat.send", "commands.list", "storage"] },
    });
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(
      `OK: ${run.file} is a valid config\nPlugins in ${bundled}: 5 enabled (dice, echo, eightball, help, quotes), 0 disabled\n`,
    );
  });
});
