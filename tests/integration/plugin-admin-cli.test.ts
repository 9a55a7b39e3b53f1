import { execFile } from "node:child_process";
import { cpSync, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/core/config/load.js";
import { silentLogger } from "../../src/core/logger.js";
import { type Rosey, startRosey } from "../../src/core/orchestrator.js";
import { PACKAGE_ROOT } from "../../src/core/paths.js";
import { type PluginAdminResult, pluginAdminCommand } from "../../src/core/plugins/admin-cli.js";
import { redactUrl } from "../../src/core/redact-url.js";
import { usePrivateNats } from "../support/private-nats.js";
import { tempDirForTest, useTempDir } from "../support/temp-dir.js";

/**
 * `rosey plugin suspend|resume|reload NAME` against a real running platform (embedded nats-server, found
 * through its runtime file as `rosey health` finds it), in process and through the compiled CLI.
 */

const BIN = path.join(PACKAGE_ROOT, "bin", "rosey.js");
const run = promisify(execFile);

describe("rosey plugin suspend|resume|reload", () => {
  const dir = useTempDir("rosey-plugin-admin-", "all");
  let rosey: Rosey | undefined;
  let file: string;

  beforeAll(async () => {
    file = path.join(dir(), "rosey.yaml");
    writeFileSync(
      file,
      [
        "version: 2",
        "dataDir: data",
        "database: { enabled: false }",
        "platforms: [{ type: external, name: t }]",
        "plugins: { directory: plugins, entries: { dice: { grants: [basic] } } }",
      ].join("\n"),
    );
    mkdirSync(path.join(dir(), "plugins"));
    cpSync(path.join(PACKAGE_ROOT, "plugins", "dice"), path.join(dir(), "plugins", "dice"), {
      recursive: true,
    });
    rosey = await startRosey({ config: loadConfig({ file, env: {} }).config, logger: silentLogger() });
  }, 60_000);

  afterAll(async () => {
    await rosey?.stop();
  });

  const admin = async (action: "suspend" | "resume" | "reload", plugin: string, json = false) => {
    let out = "";
    const code = await pluginAdminCommand(action, plugin, {
      config: file,
      env: {},
      json,
      timeoutMs: 10_000,
      write: (t) => (out += t),
    });
    return { code, out };
  };

  it("suspends, resumes and reloads a plugin, printing the platform's answer", async () => {
    const url = redactUrl(rosey!.natsUrl);
    expect(await admin("suspend", "dice")).toEqual({
      code: 0,
      out: `rosey plugin suspend dice on ${url}: ok: plugin 'dice' is suspended\n`,
    });
    expect(await admin("resume", "dice")).toEqual({
      code: 0,
      out: `rosey plugin resume dice on ${url}: ok: plugin 'dice' is running\n`,
    });
    const reloaded = await admin("reload", "dice", true);
    expect(reloaded.code).toBe(0);
    expect(JSON.parse(reloaded.out)).toEqual({
      url,
      action: "reload",
      plugin: "dice",
      ok: true,
      state: "running",
      detail: "plugin 'dice' is running",
    } satisfies PluginAdminResult);
    expect(reloaded.out).not.toContain(new URL(rosey!.natsUrl).password);
  }, 30_000);

  it("exits 1 with the platform's refusal: an unknown plugin, a resume of a running one", async () => {
    const unknown = await admin("suspend", "nosuch");
    expect(unknown.code).toBe(1);
    expect(unknown.out).toContain(': FAILED (VALIDATION_FAILED): no plugin named "nosuch"');
    const running = await admin("resume", "dice", true);
    expect(running.code).toBe(1);
    expect(JSON.parse(running.out)).toMatchObject({
      ok: false,
      error: { code: "VALIDATION_FAILED", message: "plugin 'dice' is running, not suspended" },
    });
  });

  it("works from the compiled CLI, with exit codes", async () => {
    const env = { ...process.env, NATS_URL: "", ROSEY_CONFIG: "" };
    const suspended = await run(process.execPath, [BIN, "plugin", "suspend", "dice", "--config", file], {
      env,
    });
    expect(suspended.stdout).toMatch(/: ok: plugin 'dice' is suspended\n$/);
    const resumed = await run(process.execPath, [BIN, "plugin", "resume", "dice", "-c", file, "--json"], {
      env,
    });
    expect(JSON.parse(resumed.stdout)).toMatchObject({ ok: true, state: "running" });
    const refused = await run(process.execPath, [BIN, "plugin", "reload", "nosuch", "--config", file], {
      env,
    }).catch((err: { code: number; stdout: string }) => err);
    expect(refused).toMatchObject({ code: 1 });
    expect((refused as { stdout: string }).stdout).toContain(
      'FAILED (VALIDATION_FAILED): no plugin named "nosuch"',
    );
  }, 30_000);
});

describe("rosey plugin with no platform to answer", () => {
  const nats = usePrivateNats();

  it("exits 1 when nothing listens for plugin controls on that NATS", async () => {
    let out = "";
    const code = await pluginAdminCommand("suspend", "dice", {
      nats: nats.url,
      env: {},
      timeoutMs: 2_000,
      write: (t) => (out += t),
    });
    expect(code).toBe(1);
    expect(out).toContain("FAILED (NO_RESPONDERS): no platform listens for plugin controls on this NATS");
  });

  it("exits 1 when NATS itself cannot be reached", async () => {
    let out = "";
    const code = await pluginAdminCommand("reload", "dice", {
      nats: "nats://127.0.0.1:1",
      env: {},
      timeoutMs: 1_000,
      write: (t) => (out += t),
    });
    expect(code).toBe(1);
    expect(out).toMatch(/FAILED \(NATS_START_FAILED\)/);
  });

  it("says it found no running platform when nothing names or runs one", async () => {
    const config = path.join(tempDirForTest("rosey-plugin-admin-none-"), "rosey.yaml");
    writeFileSync(config, "version: 2\n");
    await expect(pluginAdminCommand("suspend", "dice", { env: {}, config })).rejects.toThrow(
      /^rosey plugin suspend found no running platform/,
    );
  });
});
