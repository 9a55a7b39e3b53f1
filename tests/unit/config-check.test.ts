import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { configCheck } from "../../src/cli/config-check.js";
import { useTempDir } from "../support/temp-dir.js";

/** `rosey config check` sees the config as `rosey start` would: with NATS_URL, DATABASE_URL and LOG_LEVEL applied. */
describe("rosey config check with environment overrides", () => {
  const dir = useTempDir("rosey-config-check-");

  const check = async (text: string, env: NodeJS.ProcessEnv) => {
    mkdirSync(path.join(dir(), "plugins"), { recursive: true });
    const file = path.join(dir(), "rosey.yaml");
    writeFileSync(file, `plugins: { directory: plugins }\n${text}`);
    const out = { stdout: "", stderr: "" };
    const code = await configCheck(
      file,
      { stdout: (t) => (out.stdout += t), stderr: (t) => (out.stderr += t) },
      { env },
    );
    return { code, file, ...out };
  };

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
