import { spawn } from "node:child_process";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import YAML from "yaml";
import { PACKAGE_ROOT } from "../../src/core/paths.js";
import { useTempDir } from "../support/temp-dir.js";

/** `node bin/rosey.js config migrate …` on the built code (`npm test` builds first), as an operator runs it. */

const BIN = path.join(PACKAGE_ROOT, "bin", "rosey.js");

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function rosey(args: string[], cwd: string): Promise<Run> {
  const child = spawn(process.execPath, [BIN, ...args], { cwd, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
  });
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  return new Promise((resolve) => child.once("close", (code) => resolve({ code, stdout, stderr })));
}

const V1 = {
  domain: "cytu.be",
  channel: "movienight",
  user: ["RoseyBot", "s3cret"],
  response_timeout: 1,
  restart_delay: 5,
  proxy: "127.0.0.1:1080",
  log_level: "INFO",
  chat_log_file: "chat.log",
  shell: "localhost:5555",
  db: "bot_data.db",
};

describe("rosey config migrate", () => {
  const dir = useTempDir("rosey-e2e-migrate-", "all");
  beforeAll(() => {
    expect(existsSync(path.join(PACKAGE_ROOT, "dist", "cli", "main.js")), "run `npm run build` first").toBe(
      true,
    );
    writeFileSync(path.join(dir(), "v1.json"), JSON.stringify(V1, null, 2));
  });

  it("writes rosey.yaml, reports what became of each setting on stderr, and `config check` accepts it", async () => {
    const run = await rosey(["config", "migrate", "v1.json", "-o", "rosey.yaml"], dir());
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe("");
    const lines = run.stderr.trimEnd().split("\n");
    expect(lines[0]).toBe("Migrated v1.json (Rosey-Robot v1 flat layout); what became of each setting:");
    for (const key of Object.keys(V1)) {
      expect(
        lines.some((l) => new RegExp(`^  \\S+\\s+${key}(\\.\\d)?[ :]`).test(l)),
        key,
      ).toBe(true);
    }
    expect(lines).toContain(
      '  WARNING proxy: dropped: Rosey 2 has no SOCKS proxy: the bot connects to CyTube directly (was "127.0.0.1:1080")',
    );
    expect(lines.at(-1)).toBe(
      "Wrote rosey.yaml (mode 0600: it holds a password); check it with: rosey config check rosey.yaml",
    );
    expect(statSync(path.join(dir(), "rosey.yaml")).mode & 0o777).toBe(0o600);

    const check = await rosey(["config", "check", "rosey.yaml"], dir());
    expect(check.code, check.stderr).toBe(0);
    expect(check.stdout).toMatch(
      /^OK: rosey\.yaml is a valid config\nPlugins in .+: 5 enabled \(dice, echo, eightball, help, quotes\), 0 disabled\n$/,
    );
    expect(check.stderr).toBe("");
  });

  it("prints the YAML on stdout without -o, the report still on stderr", async () => {
    const run = await rosey(["config", "migrate", "v1.json"], dir());
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.startsWith("# Rosey 2 config migrated by 'rosey config migrate' from v1.json")).toBe(
      true,
    );
    expect(YAML.parse(run.stdout)).toMatchObject({
      version: 2,
      platforms: [{ type: "cytube", server: "https://cytu.be", channel: "movienight", username: "RoseyBot" }],
      database: { path: "bot_data.db" },
      logging: { level: "info" },
    });
    expect(run.stderr).toContain("Wrote the config to stdout");
  });

  it("refuses to overwrite the output, exit 1, the file as it was", async () => {
    const before = readFileSync(path.join(dir(), "rosey.yaml"), "utf8");
    const run = await rosey(["config", "migrate", "v1.json", "-o", "rosey.yaml"], dir());
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      `Cannot write ${path.join(dir(), "rosey.yaml")} as it already exists: pick another name or pass --force to overwrite it\n`,
    );
    expect(readFileSync(path.join(dir(), "rosey.yaml"), "utf8")).toBe(before);
  });

  it("lists every problem of a bad file and exits 1, without a stack trace or output file", async () => {
    writeFileSync(
      path.join(dir(), "bad.json"),
      JSON.stringify({ channel: "movie night!", user: ["RoseyBot", "s3cret"], log_level: "LOUD" }),
    );
    const run = await rosey(["config", "migrate", "bad.json", "-o", "bad.yaml"], dir());
    expect(run.code).toBe(1);
    expect(run.stderr.split("\n")).toEqual([
      "Cannot migrate bad.json:",
      `  - 'log_level' must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL (any case): current value is "LOUD"`,
      `  - 'domain' is required: the CyTube site URL, e.g. "https://cytu.be": current value is missing`,
      `  - 'channel' (Rosey 2's platforms.0.channel) must be 1-30 letters, digits, '_' or '-': current value is "movie night!"`,
      "",
    ]);
    expect(existsSync(path.join(dir(), "bad.yaml"))).toBe(false);
  });
});
