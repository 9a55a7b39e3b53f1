import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import YAML from "yaml";
import { DEFAULT_CONFIG } from "../../src/core/config/defaults.js";
import { loadConfig, validateConfig } from "../../src/core/config/load.js";
import { migrateConfigFile } from "../../src/core/config/migrate-file.js";
import {
  type MigrateV1Options,
  type MigrationNote,
  migrateV1Config,
} from "../../src/core/config/migrate-v1.js";
import { PACKAGE_ROOT } from "../../src/core/paths.js";
import { thrownRoseyError } from "../support/rosey-error.js";
import { useTempDir } from "../support/temp-dir.js";

const OPTIONS: MigrateV1Options = {
  source: "config.json",
  inputDir: "/srv/old",
  outputDir: "/srv/new",
  bundledPluginsDir: "/opt/rosey/plugins",
};

/** Rosey-Robot v1: every key its common/config.py and scripts/migrate_config.py read. */
const V1 = {
  _comment: "Rosey-Robot, flat layout",
  domain: "cytu.be",
  channel: ["movienight", "chanpw"],
  user: ["RoseyBot", "s3cret"],
  response_timeout: 1,
  restart_delay: 5,
  retry: 3,
  retry_delay: 2,
  proxy: "127.0.0.1:1080",
  log_level: "WARNING",
  chat_log_file: "chat.log",
  media_log_file: "media.log",
  shell: "localhost:5555",
  db: "bot_data.db",
  llm: { provider: "openai", api_key: "sk-not-for-the-report" },
};

/** The Python "2.0" layout, as its scripts/migrate_config.py wrote it, with a second and a disabled platform. */
const PY2 = {
  version: "2.0",
  _comment: "Rosey-Robot 2.0",
  nats: {
    url: "nats://localhost:4222",
    connection_timeout: 5,
    max_reconnect_attempts: -1,
    reconnect_delay: 2,
  },
  database: { path: "/var/lib/rosey/bot_data.db", run_as_service: true },
  platforms: [
    {
      _comment: "primary",
      type: "cytube",
      name: "primary",
      enabled: true,
      domain: "https://cytu.be",
      channel: "movienight",
      user: ["RoseyBot", "s3cret"],
      response_timeout: 1,
      restart_delay: 5,
    },
    { type: "cytube", name: "old", enabled: false, domain: "https://cytu.be", channel: "retired" },
    { type: "cytube", domain: "http://127.0.0.1:8080", channel: "lab", user: "LabGuest" },
  ],
  shell: { enabled: false, host: "localhost", port: 5555 },
  logging: { level: "debug", chat_log_file: "chat.log", media_log_file: "media.log" },
  llm: {},
  plugins: { enabled: true, directory: "plugins/", auto_reload: false },
};

const BUNDLED = DEFAULT_CONFIG.plugins?.entries;

/** [action, input path, output path, warning] per note: the whole report, compactly. */
const table = (notes: MigrationNote[]) => notes.map((n) => [n.action, n.path, n.to, n.warning]);

describe("migrateV1Config (rosey config migrate)", () => {
  it("maps a full v1 file to a valid Rosey 2 config and notes every setting", () => {
    const result = migrateV1Config(V1, OPTIONS);
    expect(result.layout).toBe("v1");
    expect(result.config).toEqual({
      version: 2,
      platforms: [
        {
          type: "cytube",
          server: "https://cytu.be",
          channel: "movienight",
          username: "RoseyBot",
          password: "s3cret",
          channel_password: "chanpw",
        },
      ],
      database: { path: "../old/bot_data.db" },
      plugins: { directory: "../../opt/rosey/plugins", entries: BUNDLED },
      logging: { level: "warn" },
    });
    expect(result.config.plugins?.entries).not.toBe(BUNDLED);
    expect(result.hasSecrets).toBe(true);
    expect(validateConfig(result.config, "migrated").platforms).toHaveLength(1);

    expect(table(result.notes)).toEqual([
      ["changed", "domain", "platforms.0.server", false],
      ["carried", "channel.0", "platforms.0.channel", false],
      ["carried", "channel.1", "platforms.0.channel_password", false],
      ["carried", "user.0", "platforms.0.username", false],
      ["carried", "user.1", "platforms.0.password", true],
      ["dropped", "response_timeout", undefined, false],
      ["dropped", "restart_delay", undefined, false],
      ["dropped", "retry", undefined, false],
      ["dropped", "retry_delay", undefined, false],
      ["dropped", "proxy", undefined, true],
      ["changed", "log_level", "logging.level", false],
      ["dropped", "chat_log_file", undefined, false],
      ["dropped", "media_log_file", undefined, false],
      ["dropped", "shell", undefined, true],
      ["carried", "db", "database.path", true],
      ["dropped", "llm", undefined, true],
      ["added", "plugins.entries", undefined, false],
      ["added", "plugins.directory", undefined, false],
    ]);
    const detail = (p: string) => result.notes.find((n) => n.path === p)?.detail;
    expect(detail("domain")).toBe('"cytu.be" becomes "https://cytu.be"');
    expect(detail("user.1")).toContain("password_env");
    expect(detail("proxy")).toContain("connects to CyTube directly");
    expect(detail("shell")).toContain("localhost:5555");
    expect(detail("log_level")).toBe('"WARNING" becomes "warn"');
    expect(detail("db")).toContain('"../old/bot_data.db" (was "bot_data.db"');
    // Secrets stay out of the report: passwords and the LLM settings (API keys).
    const report = JSON.stringify(result.notes);
    for (const secret of ["s3cret", "chanpw", "sk-not-for-the-report"]) expect(report).not.toContain(secret);
  });

  it("maps a full Python 2.0 file: each enabled CyTube platform, NATS, database, logging", () => {
    const result = migrateV1Config(PY2, OPTIONS);
    expect(result.layout).toBe("2.0");
    expect(result.config).toEqual({
      version: 2,
      platforms: [
        {
          type: "cytube",
          server: "https://cytu.be",
          channel: "movienight",
          username: "RoseyBot",
          password: "s3cret",
        },
        { type: "cytube", server: "http://127.0.0.1:8080", channel: "lab", username: "LabGuest" },
      ],
      nats: { url: "nats://localhost:4222", connectTimeoutMs: 5000 },
      database: { path: "/var/lib/rosey/bot_data.db" },
      plugins: { directory: "../../opt/rosey/plugins", entries: BUNDLED },
      logging: { level: "debug" },
    });
    expect(() => validateConfig(result.config, "migrated")).not.toThrow();

    expect(table(result.notes)).toEqual([
      ["changed", "version", "version", false],
      ["carried", "nats.url", "nats.url", false],
      ["changed", "nats.connection_timeout", "nats.connectTimeoutMs", false],
      ["dropped", "nats.max_reconnect_attempts", undefined, false],
      ["dropped", "nats.reconnect_delay", undefined, false],
      ["carried", "database.path", "database.path", true],
      ["dropped", "database.run_as_service", undefined, false],
      ["carried", "platforms.0.type", "platforms.0.type", false],
      ["dropped", "platforms.0.name", undefined, false],
      ["carried", "platforms.0.enabled", "platforms.0", false],
      ["carried", "platforms.0.domain", "platforms.0.server", false],
      ["carried", "platforms.0.channel", "platforms.0.channel", false],
      ["carried", "platforms.0.user.0", "platforms.0.username", false],
      ["carried", "platforms.0.user.1", "platforms.0.password", true],
      ["dropped", "platforms.0.response_timeout", undefined, false],
      ["dropped", "platforms.0.restart_delay", undefined, false],
      ["dropped", "platforms.1", undefined, true],
      ["carried", "platforms.2.type", "platforms.1.type", false],
      ["carried", "platforms.2.domain", "platforms.1.server", false],
      ["carried", "platforms.2.channel", "platforms.1.channel", false],
      ["carried", "platforms.2.user", "platforms.1.username", false],
      ["carried", "platforms", "platforms", true],
      ["dropped", "shell", undefined, false],
      ["carried", "logging.level", "logging.level", false],
      ["dropped", "logging.chat_log_file", undefined, false],
      ["dropped", "logging.media_log_file", undefined, false],
      ["dropped", "llm", undefined, false],
      ["dropped", "plugins.enabled", undefined, false],
      ["dropped", "plugins.directory", undefined, false],
      ["dropped", "plugins.auto_reload", undefined, false],
      ["added", "plugins.entries", undefined, false],
      ["added", "plugins.directory", undefined, false],
    ]);
    const detail = (p: string) => result.notes.find((n) => n.path === p)?.detail;
    expect(detail("platforms.1")).toContain("enabled: false");
    expect(detail("platforms")).toContain("Rosey-Robot connected only the first entry");
    expect(detail("nats.connection_timeout")).toBe("5 s becomes 5000 ms");
    expect(detail("plugins.directory")).toContain("Python plugins do not run in Rosey 2");
    // An absolute database path is written as it is.
    expect(detail("database.path")).not.toContain("was ");
  });

  it.each([
    ["a registered account", { user: ["RoseyBot", "pw"] }, { username: "RoseyBot", password: "pw" }, true],
    ["a guest name", { user: "RoseyGuest" }, { username: "RoseyGuest" }, false],
    ["a guest name with an empty password", { user: ["RoseyGuest", ""] }, { username: "RoseyGuest" }, false],
    ["a guest name with a null password", { user: ["RoseyGuest", null] }, { username: "RoseyGuest" }, false],
    ["anonymous (null)", { user: null }, {}, false],
    ["anonymous (absent)", {}, {}, false],
    ["a channel password", { channel: ["movienight", "chanpw"] }, { channel_password: "chanpw" }, true],
    ["a channel without a password", { channel: ["movienight", null] }, {}, false],
  ])("maps %s", (_, fields, expected, secret) => {
    const result = migrateV1Config({ domain: "https://cytu.be", channel: "movienight", ...fields }, OPTIONS);
    expect(result.config.platforms).toEqual([
      { type: "cytube", server: "https://cytu.be", channel: "movienight", ...expected },
    ]);
    expect(result.hasSecrets).toBe(secret);
    expect(() => validateConfig(result.config, "migrated")).not.toThrow();
    if ("user" in fields && fields.user === null) {
      expect(result.notes.find((n) => n.path === "user")?.detail).toContain("anonymously");
    }
  });

  it("lists every problem of a v1 file: input path, rule and value, passwords hidden", () => {
    const err = thrownRoseyError(() =>
      migrateV1Config(
        {
          channel: "movie night!",
          user: ["a-name-much-longer-than-twenty", "hunter2"],
          log_level: "LOUD",
          db: "",
          platforms: [],
        },
        OPTIONS,
      ),
    );
    expect(err.code).toBe("CONFIG_INVALID");
    const problems = err.details?.problems as string[];
    expect(problems).toEqual([
      `'log_level' must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL (any case): current value is "LOUD"`,
      `'db' must be a file path: current value is ""`,
      `'domain' is required: the CyTube site URL, e.g. "https://cytu.be"; a Python 2.0 layout file needs "version": "2.0": current value is missing`,
      `'channel' (Rosey 2's platforms.0.channel) must be 1-30 letters, digits, '_' or '-': current value is "movie night!"`,
      `'user.0' (Rosey 2's platforms.0.username) Too big: expected string to have <=20 characters: current value is "a-name-much-longer-than-twenty"`,
    ]);
    expect(err.message).toBe(`Cannot migrate config.json:\n  - ${problems.join("\n  - ")}`);
    expect(err.message).not.toContain("hunter2");
  });

  it("lists every problem of a Python 2.0 file", () => {
    const err = thrownRoseyError(() =>
      migrateV1Config(
        {
          version: "2.0",
          nats: { url: 4222, connection_timeout: 0 },
          logging: "verbose",
          platforms: [
            { type: "discord", domain: "https://discord.com", channel: "general" },
            { enabled: "yes", channel: ["lab", 42], user: 7 },
          ],
        },
        OPTIONS,
      ),
    );
    expect(err.details?.problems).toEqual([
      "'nats.url' Invalid input: expected string, received number: current value is 4222",
      "'nats.connection_timeout' must be a number of seconds from 0.1 to 120: current value is 0",
      "'logging' must be an object: current value is \"verbose\"",
      `'platforms.0.type' must be "cytube" (the only platform Rosey-Robot connected): current value is "discord"`,
      "'platforms.1.enabled' must be true or false: current value is \"yes\"",
      "'platforms.1.channel' must be a channel name or [name, password]: current value is (hidden)",
      "'platforms.1.user' must be [username, password], a guest name, or null (anonymous): current value is 7",
      `'platforms.1.domain' is required: the CyTube site URL, e.g. "https://cytu.be": current value is missing`,
    ]);
  });

  it("requires the platforms of a Python 2.0 file, as Rosey-Robot did", () => {
    const err = thrownRoseyError(() => migrateV1Config({ version: "2.0" }, OPTIONS));
    expect(err.details?.problems).toEqual([
      "'platforms' must list the CyTube platform (Rosey-Robot would not start without one): current value is missing",
    ]);
  });

  it("refuses a Rosey 2 config, an unknown version and a top level that is not an object", () => {
    const v2 = thrownRoseyError(() => migrateV1Config({ version: 2, platforms: [] }, OPTIONS));
    expect(v2.code).toBe("CONFIG_INVALID");
    expect(v2.message).toBe(
      "Cannot migrate config.json as it is already a Rosey 2 config (version: 2): check it with 'rosey config check config.json'",
    );
    expect(thrownRoseyError(() => migrateV1Config({ version: "3.1" }, OPTIONS)).message).toContain(
      `'version' must be absent or "1.x" (v1 flat layout) or "2.0" (Python 2.0 layout): current value is "3.1"`,
    );
    for (const top of [[], "domain", null]) {
      expect(thrownRoseyError(() => migrateV1Config(top, OPTIONS)).message).toContain(
        "its top level must be an object",
      );
    }
  });

  it("skips _comment keys anywhere, reports unknown keys and carries neither", () => {
    const result = migrateV1Config(
      {
        version: "1.0",
        _comment: "x",
        domain: "https://cytu.be",
        channel: "c",
        colour: "blue",
        _comment2: 1,
      },
      OPTIONS,
    );
    expect(table(result.notes).slice(0, 4)).toEqual([
      ["changed", "version", "version", false],
      ["carried", "domain", "platforms.0.server", false],
      ["carried", "channel", "platforms.0.channel", false],
      ["unknown", "colour", undefined, false],
    ]);
    expect(JSON.stringify(result.config)).not.toContain("blue");
  });

  it("maps every Python log level name, in any case", () => {
    const level = (log_level: string) =>
      migrateV1Config({ domain: "https://x.example", channel: "c", log_level }, OPTIONS).config.logging
        ?.level;
    expect(["DEBUG", "info", "Warning", "WARN", "ERROR", "critical", "FATAL"].map(level)).toEqual([
      "debug",
      "info",
      "warn",
      "warn",
      "error",
      "fatal",
      "fatal",
    ]);
  });
});

describe("migrateConfigFile (rosey config migrate FILE -o OUT)", () => {
  const dir = useTempDir("rosey-migrate-");

  const writeInput = (relative: string, body: unknown): string => {
    const file = path.join(dir(), relative);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, typeof body === "string" ? body : JSON.stringify(body, null, 2));
    return file;
  };

  it("rebases a relative db path and points plugins.directory at the bundled plugins, from the output's folder", () => {
    const input = writeInput("bot/rosey/config.json", { ...V1, db: "state/bot_data.db" });
    const result = migrateConfigFile(input, { output: path.join(dir(), "rosey2", "rosey.yaml"), cwd: dir() });
    expect(result.written).toBe(path.join(dir(), "rosey2", "rosey.yaml"));
    const written = YAML.parse(readFileSync(result.written!, "utf8"));
    expect(written.database.path).toBe(path.join("..", "bot", "rosey", "state", "bot_data.db"));
    expect(written.plugins.directory).toBe(
      path.relative(path.join(dir(), "rosey2"), path.join(PACKAGE_ROOT, "plugins")),
    );
    // What the loader makes of them: the same files the Python bot and Rosey's defaults used.
    const { config } = loadConfig({ file: result.written, env: {} });
    expect(config.database.path).toBe(path.join(dir(), "bot", "rosey", "state", "bot_data.db"));
    expect(config.plugins.directory).toBe(path.join(PACKAGE_ROOT, "plugins"));
  });

  it("writes YAML with a header naming the input and what was not carried", () => {
    const input = writeInput("config.json", V1);
    const result = migrateConfigFile("config.json", { output: "out/rosey.yml", cwd: dir() });
    const text = readFileSync(path.join(dir(), "out", "rosey.yml"), "utf8");
    expect(text).toBe(result.text);
    const header = text.split("\n").filter((l) => l.startsWith("#"));
    expect(header[0]).toBe(
      "# Rosey 2 config migrated by 'rosey config migrate' from ../config.json (Rosey-Robot v1 flat layout).",
    );
    const dropped = header.filter((l) => l.startsWith("#   ")).map((l) => l.slice(4).split(":")[0]);
    expect(dropped).toEqual([
      "response_timeout",
      "restart_delay",
      "retry",
      "retry_delay",
      "proxy",
      "chat_log_file",
      "media_log_file",
      "shell",
      "llm",
    ]);
    expect(text).toContain("grants: [basic]");
    expect(loadConfig({ file: path.join(dir(), "out", "rosey.yml"), env: {} }).config.platforms).toHaveLength(
      1,
    );
    expect(result.report[0]).toBe(
      `Migrated config.json (Rosey-Robot v1 flat layout); what became of each setting:`,
    );
    expect(result.report).toContain(
      '  WARNING proxy: dropped: Rosey 2 has no SOCKS proxy: the bot connects to CyTube directly (was "127.0.0.1:1080")',
    );
    expect(result.report.at(-1)).toBe(
      "Wrote out/rosey.yml (mode 0600: it holds a password); check it with: rosey config check out/rosey.yml",
    );
    expect(input).toBe(path.join(dir(), "config.json"));
  });

  it("writes JSON for a .json output, and only returns YAML without one", () => {
    writeInput("config.json", PY2);
    const json = migrateConfigFile("config.json", { output: "rosey.json", cwd: dir() });
    expect(JSON.parse(readFileSync(path.join(dir(), "rosey.json"), "utf8"))).toEqual(json.config);
    const stdout = migrateConfigFile("config.json", { cwd: dir() });
    expect(stdout.written).toBeUndefined();
    expect(YAML.parse(stdout.text)).toEqual(json.config);
    expect(stdout.report.at(-1)).toBe(
      `Wrote the config to stdout; its relative paths assume it is saved in ${dir()}`,
    );
    expect(() => migrateConfigFile("config.json", { output: "rosey.toml", cwd: dir() })).toThrowError(
      expect.objectContaining({
        code: "VALIDATION_FAILED",
        message: expect.stringContaining(".yaml, .yml or .json"),
      }),
    );
  });

  it("never overwrites: an existing output is ALREADY_EXISTS unless forced, and the input never", () => {
    writeInput("config.json", V1);
    const out = path.join(dir(), "rosey.yaml");
    writeFileSync(out, "# mine\n");
    expect(() => migrateConfigFile("config.json", { output: "rosey.yaml", cwd: dir() })).toThrowError(
      expect.objectContaining({ code: "ALREADY_EXISTS", message: expect.stringContaining("--force") }),
    );
    expect(readFileSync(out, "utf8")).toBe("# mine\n");
    migrateConfigFile("config.json", { output: "rosey.yaml", cwd: dir(), force: true });
    expect(readFileSync(out, "utf8")).toContain("version: 2");
    expect(() =>
      migrateConfigFile("config.json", { output: "config.json", cwd: dir(), force: true }),
    ).toThrowError(
      expect.objectContaining({
        code: "ALREADY_EXISTS",
        message: expect.stringContaining("is the input file"),
      }),
    );
    expect(JSON.parse(readFileSync(path.join(dir(), "config.json"), "utf8"))).toEqual(V1);
  });

  it("writes a config holding a password with mode 0600, also over a wider existing file", () => {
    writeInput("secret.json", V1);
    writeInput("guest.json", { domain: "https://cytu.be", channel: "movienight", user: "RoseyGuest" });
    const mode = (file: string) => statSync(path.join(dir(), file)).mode & 0o777;
    migrateConfigFile("secret.json", { output: "secret.yaml", cwd: dir() });
    expect(mode("secret.yaml")).toBe(0o600);
    writeFileSync(path.join(dir(), "forced.yaml"), "");
    chmodSync(path.join(dir(), "forced.yaml"), 0o644);
    migrateConfigFile("secret.json", { output: "forced.yaml", cwd: dir(), force: true });
    expect(mode("forced.yaml")).toBe(0o600);
    migrateConfigFile("guest.json", { output: "guest.yaml", cwd: dir() });
    writeFileSync(path.join(dir(), "plain.yaml"), "");
    expect(mode("guest.yaml")).toBe(mode("plain.yaml"));
  });

  it("says clearly when the input is missing or not JSON, and writes nothing", () => {
    const missing = thrownRoseyError(() =>
      migrateConfigFile("nope.json", { output: "out.yaml", cwd: dir() }),
    );
    expect(missing.code).toBe("CONFIG_INVALID");
    expect(missing.message).toBe(
      `Cannot migrate nope.json as the file does not exist: ${path.join(dir(), "nope.json")}`,
    );
    writeInput("broken.json", "{ domain: ");
    expect(
      thrownRoseyError(() => migrateConfigFile("broken.json", { output: "out.yaml", cwd: dir() })).message,
    ).toContain(`Cannot parse config file ${path.join(dir(), "broken.json")}`);
    writeInput("list.json", "[]");
    expect(
      thrownRoseyError(() => migrateConfigFile("list.json", { output: "out.yaml", cwd: dir() })).message,
    ).toBe("Cannot migrate list.json as its top level must be an object: current value is []");
    expect(() => statSync(path.join(dir(), "out.yaml"))).toThrow();
  });
});
