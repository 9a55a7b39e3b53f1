import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { type Bus, createBus } from "../../src/core/bus.js";
import type { ChatSend } from "../../src/core/envelope.js";
import { silentLogger } from "../../src/core/logger.js";
import { natsInstallHint } from "../../src/core/nats/install-hint.js";
import { runningEmbeddedNats } from "../../src/core/nats/runtime-file.js";
import { PACKAGE_ROOT } from "../../src/core/paths.js";
import { SUBJECTS } from "../../src/core/subjects.js";
import { writePluginFolder } from "../support/plugin-folder.js";
import { tempDirForTest, useTempDir } from "../support/temp-dir.js";

/**
 * End to end: `node bin/rosey.js start` as a child process on the built code (`npm test` builds first),
 * with its own embedded nats-server, the bundled plugins and two misbehaving fixtures, fed on stdin.
 */

const BIN = path.join(PACKAGE_ROOT, "bin", "rosey.js");
const BUNDLED_PLUGINS = path.join(PACKAGE_ROOT, "plugins");
const ROUTER_TIMEOUT_MS = 2_000;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  marker: string;
}

interface Session {
  child: ChildProcessWithoutNullStreams;
  stdout(): string;
  stderr(): string;
  /** Resolves when stdout contains `text` (rejects after `timeoutMs`). */
  waitForOutput(text: string | RegExp, timeoutMs?: number): Promise<void>;
  exited: Promise<Run>;
}

function startRosey(args: string[], env: NodeJS.ProcessEnv = process.env): Session {
  const marker = randomUUID();
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: os.tmpdir(),
    env: { ...env, ROSEY_E2E_MARKER: marker },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  const waiters: Array<() => void> = [];
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
    for (const w of [...waiters]) w();
  });
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<Run>((resolve) => {
    child.once("close", (code) => resolve({ code, stdout, stderr, marker }));
  });
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    waitForOutput(text, timeoutMs = 10_000) {
      const seen = () => (typeof text === "string" ? stdout.includes(text) : text.test(stdout));
      if (seen()) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(check), 1);
          reject(
            new Error(`no ${String(text)} on stdout within ${timeoutMs} ms; got:\n${stdout}\n${stderr}`),
          );
        }, timeoutMs);
        const check = () => {
          if (!seen()) return;
          clearTimeout(timer);
          waiters.splice(waiters.indexOf(check), 1);
          resolve();
        };
        waiters.push(check);
      });
    },
  };
}

/** Pids of live (non-zombie) processes whose environment carries `marker`. */
function processesWithMarker(marker: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const environ = readFileSync(`/proc/${entry}/environ`, "utf8");
      if (!environ.includes(`ROSEY_E2E_MARKER=${marker}`)) continue;
      if (isAlive(Number(entry))) found.push(Number(entry));
    } catch {
      // gone, or not ours to read
    }
  }
  return found;
}

function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Field 3 (after the parenthesised command name) is the state; a zombie has already exited.
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

function logLines(stderr: string): Array<Record<string, unknown>> {
  return stderr
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** The first JSON log line on stderr whose msg is `msg` (rejects after `timeoutMs`). */
async function waitForLog(
  session: Session,
  msg: string,
  timeoutMs = 20_000,
): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const line = logLines(session.stderr()).find((l) => l.msg === msg);
    if (line) return line;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no '${msg}' log line within ${timeoutMs} ms; stderr:\n${session.stderr()}`);
}

function replies(stdout: string): string[] {
  return stdout
    .split("\n")
    .filter(Boolean)
    .map((l) => l.replace(/^<rosey> /, ""));
}

describe("rosey start (console connector, end to end)", () => {
  const dir = useTempDir("rosey-e2e-", "all");
  let run: Run;
  let elapsedMs: number;

  beforeAll(async () => {
    expect(existsSync(path.join(PACKAGE_ROOT, "dist", "cli", "main.js")), "run `npm run build` first").toBe(
      true,
    );
    const plugins = path.join(dir(), "plugins");
    // The spine's bundled plugins plus the misbehaving fixtures, side by side in one plugins folder.
    for (const name of ["dice", "echo", "eightball", "help"]) {
      cpSync(path.join(PACKAGE_ROOT, "plugins", name), path.join(plugins, name), { recursive: true });
    }
    cpSync(path.join(PACKAGE_ROOT, "tests", "fixtures", "plugins"), plugins, { recursive: true });
    const grants = { grants: ["basic"] };
    const config = {
      version: 2,
      dataDir: path.join(dir(), "data"),
      plugins: {
        directory: plugins,
        entries: {
          help: grants,
          echo: grants,
          dice: grants,
          eightball: grants,
          thrower: grants,
          sleeper: grants,
        },
      },
      router: { timeoutMs: ROUTER_TIMEOUT_MS },
      logging: { level: "info" },
    };
    const file = path.join(dir(), "rosey.json");
    writeFileSync(file, JSON.stringify(config, null, 2));
    const env = { ...process.env };
    delete env.NATS_URL;
    delete env.ROSEY_CONFIG;
    delete env.LOG_LEVEL;

    const started = Date.now();
    const session = startRosey(["start", "--config", file], env);
    session.child.stdin.write(
      [
        "!roll 2d6",
        "!help",
        "!help roll",
        "hello everyone",
        "!frobnicate",
        "!roll 1d4",
        "!8ball will this pass?",
        "!boom",
        "!sleep",
        "",
      ].join("\n"),
    );
    // While !sleep hangs, another command must still be answered.
    await session.waitForOutput("<rosey> console rolled 2d6:", 20_000);
    session.child.stdin.write("!echo still working\n");
    await session.waitForOutput("<rosey> still working");
    session.child.stdin.end();
    run = await session.exited;
    elapsedMs = Date.now() - started;
  });

  it("exits 0 at end of input, after the in-flight replies", () => {
    expect(run.code, run.stderr).toBe(0);
    expect(elapsedMs).toBeLessThan(15_000);
  });

  it("rolls dice: a valid 2d6 roll", () => {
    const line = replies(run.stdout).find((l) => l.startsWith("console rolled 2d6:"));
    const match = /^console rolled 2d6: \[(\d+), (\d+)\] = (\d+)$/.exec(line ?? "");
    expect(match, run.stdout).not.toBeNull();
    const [a, b, sum] = [Number(match![1]), Number(match![2]), Number(match![3])];
    for (const die of [a, b]) expect(die >= 1 && die <= 6).toBe(true);
    expect(sum).toBe(a + b);
    expect(run.stdout).toMatch(/^<rosey> console rolled 2d6: \[\d, \d\] = \d+$/m);
  });

  it("lists the commands with !help and explains one with !help roll", () => {
    const lines = replies(run.stdout);
    expect(lines).toContain("roll, echo, 8ball, sleep, boom, help — !help <command> for usage");
    expect(lines).toContain(
      "!roll NdM[+K] — Rolls N dice with M sides and adds K (default 1d6); N up to 100, M 2..1000 (also: !dice)",
    );
  });

  it("answers an unknown command and ignores plain chat", () => {
    const lines = replies(run.stdout);
    expect(lines).toContain("Unknown command !frobnicate — try !help");
    expect(run.stdout).not.toContain("hello everyone");
  });

  it("refuses a roll during the cooldown, friendly", () => {
    expect(replies(run.stdout)).toContain("console, please wait 2 s before using !roll again.");
    expect(run.stdout).not.toMatch(/rolled 1d4/);
  });

  it("answers the 8-ball", () => {
    expect(run.stdout).toMatch(/^<rosey> 🎱 console: .+\.$/m);
  });

  it("turns a throwing plugin into a short error reply and a log line", () => {
    expect(replies(run.stdout)).toContain("Sorry, !boom failed; the error has been logged.");
    const logged = logLines(run.stderr).find((l) => l.plugin === "thrower" && l.command === "boom");
    expect(logged?.correlationId).toEqual(expect.any(String));
  });

  it("answers a handler that never returns with a timeout reply, while others keep working", () => {
    const lines = replies(run.stdout);
    const timeout = lines.indexOf("Sorry, !sleep took too long to answer.");
    const echo = lines.indexOf("still working");
    expect(timeout, run.stdout).toBeGreaterThanOrEqual(0);
    expect(echo).toBeGreaterThanOrEqual(0);
    // The echo was sent after !sleep and answered before !sleep timed out.
    expect(echo).toBeLessThan(timeout);
  });

  it("leaves no nats-server, plugin host or worker behind", () => {
    const started = logLines(run.stderr).find((l) => l.msg === "embedded nats-server started");
    const natsPid = started?.natsPid;
    expect(natsPid, run.stderr).toEqual(expect.any(Number));
    expect(isAlive(natsPid as number)).toBe(false);
    expect(processesWithMarker(run.marker)).toEqual([]);
    // The plugin host runs with an empty environment, so it is found by the pid the core logged.
    const hostPid = logLines(run.stderr).find((l) => l.msg === "plugin host started")?.hostPid;
    expect(hostPid, run.stderr).toEqual(expect.any(Number));
    expect(isAlive(hostPid as number)).toBe(false);
  });

  it("writes logs to stderr as JSON (not a TTY) and keeps stdout for chat", () => {
    for (const line of run.stdout.split("\n").filter(Boolean)) expect(line.startsWith("<rosey> ")).toBe(true);
    expect(logLines(run.stderr).some((l) => l.msg === "rosey started")).toBe(true);
  });
});

/** `rosey start` on its own embedded nats-server with the echo plugin granted chat.send, logging at info. */
function startWithEcho(dir: string, configLines: string[]): Session {
  const file = path.join(dir, "rosey.yaml");
  writeFileSync(
    file,
    [
      `dataDir: ${JSON.stringify(path.join(dir, "data"))}`,
      ...configLines,
      "plugins:",
      "  entries:",
      "    echo: { grants: [chat.send] }",
      "logging:",
      "  level: info",
    ].join("\n"),
  );
  const env = { ...process.env };
  delete env.NATS_URL;
  delete env.ROSEY_CONFIG;
  delete env.LOG_LEVEL;
  return startRosey(["start", "--config", file, "--plugins", path.join(PACKAGE_ROOT, "plugins")], env);
}

describe("rosey start stopped by a signal", () => {
  it("stops everything on SIGTERM while input is still open, exits 0, leaves nothing behind", async () => {
    const dir = tempDirForTest("rosey-e2e-signal-");
    const session = startWithEcho(dir, []);
    session.child.stdin.write("!echo before the signal\n");
    await session.waitForOutput("<rosey> before the signal");
    session.child.kill("SIGTERM");
    const run = await session.exited;
    expect(run.code, run.stderr).toBe(0);
    const natsPid = logLines(run.stderr).find((l) => l.msg === "embedded nats-server started")?.natsPid;
    expect(natsPid).toEqual(expect.any(Number));
    expect(isAlive(natsPid as number)).toBe(false);
    expect(processesWithMarker(run.marker)).toEqual([]);
    expect(logLines(run.stderr).some((l) => l.msg === "stopped")).toBe(true);
  });
});

describe("rosey start with only an external platform", () => {
  it("reads no stdin, answers an outside connector's commands over NATS, and stops on SIGTERM with 0", async () => {
    const dir = tempDirForTest("rosey-e2e-external-");
    let bus: Bus | undefined;
    try {
      const session = startWithEcho(dir, ["platforms:", "  - { type: external, name: discord }"]);
      // Under a service manager stdin is often closed: that must not stop a core with no console.
      session.child.stdin.end();
      const started = await waitForLog(session, "rosey started");
      expect(started).toMatchObject({ connectors: [], external: ["discord"] });

      // The log shows the embedded server's URL without its password; an outside tool of the same user
      // finds the full URL in the runtime file, as `rosey health` does.
      const url = runningEmbeddedNats(path.join(dir, "data"));
      const password = new URL(url ?? "nats://").password;
      expect(password).not.toBe("");
      expect(started.nats).toBe(url?.replace(password, "***"));
      bus = await createBus({ url: url as string, source: "connector:discord", logger: silentLogger() });
      const reply = new Promise<ChatSend>((resolve) => {
        bus?.subscribe<ChatSend>(SUBJECTS.actionsChatSend, (m) => resolve(m.envelope.data));
      });
      await bus.flush();
      bus.publish(SUBJECTS.eventsMessage, {
        platform: "discord",
        channel: "general",
        user: "alice",
        content: "!echo from outside",
        timestamp: Date.now(),
      });
      expect(await reply).toEqual({ platform: "discord", channel: "general", text: "from outside" });
      await bus.close();
      bus = undefined;

      expect(session.stdout()).toBe("");
      session.child.kill("SIGTERM");
      const run = await session.exited;
      expect(run.code, run.stderr).toBe(0);
      expect(run.stderr).not.toContain(password);
      expect(processesWithMarker(run.marker)).toEqual([]);
    } finally {
      await bus?.close();
    }
  });
});

describe("rosey start without nats-server", () => {
  it("prints the install hint and exits 1, without a stack trace", async () => {
    const dir = tempDirForTest("rosey-e2e-nonats-");
    const file = path.join(dir, "rosey.yaml");
    writeFileSync(file, `dataDir: ${JSON.stringify(path.join(dir, "data"))}\n`);
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: path.join(dir, "empty-bin") };
    delete env.NATS_URL;
    delete env.ROSEY_CONFIG;
    const session = startRosey(["start", "--config", file], env);
    session.child.stdin.end();
    const run = await session.exited;
    expect(run.code).toBe(1);
    // Besides the log's JSON lines (the data dir lock it took is released: "stopped"), only the hint.
    const text = run.stderr.split("\n").filter((line) => !line.startsWith("{"));
    expect(text.join("\n").trim()).toBe(natsInstallHint());
    expect(logLines(run.stderr).filter((l) => (l.level as number) >= 50)).toEqual([]);
    expect(run.stderr).not.toMatch(/^\s+at /m);
    expect(run.stdout).toBe("");
    expect(processesWithMarker(run.marker)).toEqual([]);
  });
});

describe("rosey config check", () => {
  const dir = useTempDir("rosey-e2e-check-", "all");

  it("prints OK for a valid config, and the plugins it would run", async () => {
    const file = path.join(dir(), "ok.yaml");
    writeFileSync(
      file,
      `router:\n  prefix: '?'\nplatforms:\n  - type: console\nplugins:\n  directory: ${BUNDLED_PLUGINS}\n  enabled: [dice, echo]\n  entries:\n    dice: { grants: [basic] }\n    echo: { grants: [basic] }\n`,
    );
    const run = await startRosey(["config", "check", file]).exited;
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe(
      `OK: ${file} is a valid config\nPlugins in ${BUNDLED_PLUGINS}: 2 enabled (dice, echo), 3 disabled (eightball, help, quotes)\n`,
    );
    expect(run.stderr).toBe("");
  });

  it("checks the plugins as rosey start would meet them: exit 1 on what would not work, warnings alone pass", async () => {
    const file = path.join(dir(), "plugins.yaml");
    writeFileSync(
      file,
      `plugins:\n  directory: ${BUNDLED_PLUGINS}\n  enabled: [dice, eigthball]\n  entries:\n    dice: { grants: [basic] }\n`,
    );
    const run = await startRosey(["config", "check", file]).exited;
    expect(run.code).toBe(1);
    expect(run.stdout).toBe("");
    expect(run.stderr).toBe(
      `${file} is a valid config, but 1 problem would stop it from working as written:\n` +
        `  ERROR plugins.enabled[1]: no plugin named 'eigthball' in ${BUNDLED_PLUGINS} (found: dice, echo, eightball, help, quotes)\n`,
    );

    writeFileSync(file, `plugins:\n  directory: ${BUNDLED_PLUGINS}\n  enabled: [dice]\n`);
    const warned = await startRosey(["config", "check", file]).exited;
    expect(warned.code).toBe(0);
    expect(warned.stdout).toContain(`OK: ${file} is a valid config\n`);
    expect(warned.stderr).toBe(
      "1 warning:\n  WARNING plugins.entries.dice.grants: dice requests chat.send, not granted: it runs without it\n",
    );
  });

  it("prints each problem with its path, rule and value, and exits 1", async () => {
    const file = path.join(dir(), "bad.json");
    writeFileSync(file, JSON.stringify({ router: { timeoutMs: 1 }, plugins: { entries: { Bad: {} } } }));
    const run = await startRosey(["config", "check", file]).exited;
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`Invalid config in ${file}:`);
    expect(run.stderr).toMatch(/'router\.timeoutMs' .*50.*: current value is 1/);
    expect(run.stderr).toMatch(/'plugins\.entries\.Bad' .*: current value is \{\}/);
    expect(run.stderr).not.toMatch(/^\s+at /m);
  });

  it("loads the plugins' code without starting it, unless --no-code", async () => {
    const plugins = path.join(dir(), "code-plugins");
    writePluginFolder(plugins, "typo", { code: "export default { onComand() {} };\n" });
    const file = path.join(dir(), "code.yaml");
    writeFileSync(file, `plugins:\n  directory: ${plugins}\n`);
    const run = await startRosey(["config", "check", file]).exited;
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      `${file} is a valid config, but 1 problem would stop it from working as written:\n` +
        `  ERROR ${path.join(plugins, "typo", "index.js")}: Plugin 'typo' failed to load: TypeError: unknown hook 'onComand': hooks are start, onCommand, onEvent, stop; did you mean "onCommand"?\n`,
    );
    const schemaOnly = await startRosey(["config", "check", "--no-code", file]).exited;
    expect(schemaOnly.code, schemaOnly.stderr).toBe(0);
    expect(schemaOnly.stdout).toBe(
      `OK: ${file} is a valid config\nPlugins in ${plugins}: 1 enabled (typo), 0 disabled\n`,
    );
  });
});

describe("rosey plugin new", () => {
  const dir = useTempDir("rosey-e2e-new-", "all");

  it.each([
    { entry: "index.js", flags: [], folder: "plugins" },
    { entry: "index.ts", flags: ["--typescript"], folder: "plugins-ts" },
  ])(
    "creates a plugin ($entry) that, granted as its README says, answers in the sandbox",
    async ({ entry, flags, folder }) => {
      const plugins = path.join(dir(), folder);
      const created = await startRosey(["plugin", "new", "hello", "--dir", plugins, ...flags]).exited;
      expect(created.code).toBe(0);
      expect(created.stdout).toContain("Created plugin 'hello' in ");
      expect(created.stdout).toContain(`${path.join(folder, "hello", entry)}\n`);

      // The README's config, as written, from the folder the command ran in (the child's cwd).
      const readme = readFileSync(path.join(plugins, "hello", "README.md"), "utf8");
      const yamlBlock = /```yaml\n([\s\S]*?)```/.exec(readme)?.[1];
      expect(yamlBlock).toContain("hello: { grants: [chat.send] }");
      const file = path.join(os.tmpdir(), `${path.basename(dir())}-${folder}.yaml`);
      writeFileSync(file, `${yamlBlock}dataDir: ${path.join(dir(), `data-${folder}`)}\n`);
      const env = { ...process.env };
      delete env.NATS_URL;
      delete env.ROSEY_CONFIG;
      try {
        const session = startRosey(["start", "--config", file], env);
        session.child.stdin.end("!hello world\n!hello\n");
        const run = await session.exited;
        expect(run.code).toBe(0);
        // The second comes within the manifest's 1 s cooldown; the router answers it without the plugin.
        expect(replies(run.stdout).sort()).toEqual([
          "Hello, world!",
          "console, please wait 1 s before using !hello again.",
        ]);
      } finally {
        rmSync(file, { force: true });
      }
    },
  );

  it("refuses to overwrite an existing plugin and names it, exit 1", async () => {
    const again = await startRosey(["plugin", "new", "hello", "--dir", path.join(dir(), "plugins")]).exited;
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(
      `Cannot create plugin 'hello' as ${path.join(dir(), "plugins", "hello")} already exists`,
    );
    expect(again.stderr).not.toMatch(/^\s+at /m);
  });
});
