import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/core/config/load.js";
import { PACKAGE_ROOT } from "../../src/core/paths.js";
import { computeGrants } from "../../src/core/plugins/grants.js";
import { readManifest } from "../../src/core/plugins/manifest.js";
import { thrownRoseyError } from "../support/rosey-error.js";
import { useTempDir } from "../support/temp-dir.js";

describe("loadConfig", () => {
  const dir = useTempDir("rosey-config-");

  it("accepts every YAML example of the README as written", () => {
    const readme = readFileSync(path.join(PACKAGE_ROOT, "README.md"), "utf8");
    const examples = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
    expect(examples.length).toBeGreaterThan(0);
    for (const [i, example] of examples.entries()) {
      const text = example.includes("version:") ? example : `version: 2\n${example}`;
      const file = write(`readme-${i}.yaml`, text);
      expect(() => loadConfig({ file, env: {} }), example).not.toThrow();
    }
  });

  it("the README's example rosey.yaml, copied as is, grants every bundled plugin all it requests", () => {
    const readme = readFileSync(path.join(PACKAGE_ROOT, "README.md"), "utf8");
    const example = [...readme.matchAll(/```yaml\n(# rosey\.yaml\n[\s\S]*?)```/g)].map((m) => m[1]!);
    expect(example).toHaveLength(1);
    // Copied into the checkout, where its `plugins` directory is the bundled plugins' folder.
    const file = path.join(dir(), "rosey.yaml");
    writeFileSync(
      file,
      example[0]!.replace("directory: plugins", `directory: ${path.join(PACKAGE_ROOT, "plugins")}`),
    );
    const { config } = loadConfig({ file, env: {} });
    const bundled = readdirSync(config.plugins.directory).filter((name) =>
      existsSync(path.join(config.plugins.directory, name, "plugin.json")),
    );
    expect(bundled.length).toBeGreaterThan(0);
    for (const name of bundled) {
      const grants = computeGrants(readManifest(path.join(config.plugins.directory, name)).manifest, config);
      expect(grants.missing, name).toEqual([]);
    }
  });

  const write = (name: string, text: string): string => {
    const file = path.join(dir(), name);
    writeFileSync(file, text);
    return file;
  };

  it("reads YAML, fills defaults and resolves paths against the file's folder", () => {
    const file = write(
      "rosey.yaml",
      [
        "version: 2",
        "dataDir: state",
        "router:",
        "  prefix: '?'",
        "plugins:",
        "  directory: ./my-plugins",
      ].join("\n"),
    );
    const { config, file: from } = loadConfig({ file, env: {} });
    expect(from).toBe(file);
    expect(config.router).toEqual({
      prefix: "?",
      timeoutMs: 5000,
      maxInFlight: 5000,
      defaultCooldownMs: 0,
      commands: {},
    });
    expect(config.dataDir).toBe(path.join(dir(), "state"));
    expect(config.plugins.directory).toBe(path.join(dir(), "my-plugins"));
    expect(config.platforms).toEqual([]);
    expect(Object.isFrozen(config) && Object.isFrozen(config.router)).toBe(true);
  });

  it("reads JSON with the same schema", () => {
    const file = write(
      "rosey.json",
      JSON.stringify({ version: 2, platforms: [{ type: "console" }], router: { timeoutMs: 1500 } }),
    );
    const { config } = loadConfig({ file, env: {} });
    expect(config.platforms).toEqual([{ type: "console" }]);
    expect(config.router.timeoutMs).toBe(1500);
  });

  it("accepts an external platform by name and refuses a malformed name at its path", () => {
    const good = write("ext.yaml", "platforms:\n  - { type: external, name: discord }\n");
    expect(loadConfig({ file: good, env: {} }).config.platforms).toEqual([
      { type: "external", name: "discord" },
    ]);
    const bad = write("ext-bad.yaml", "platforms:\n  - { type: external, name: 'Not OK' }\n");
    expect(() => loadConfig({ file: bad, env: {} })).toThrow(/platforms\.0\.name/);
  });

  it("names a key the config does not define, the key probably meant and the keys known there", () => {
    const file = write(
      "typo.yaml",
      [
        "sandbx: {}",
        "platforms:",
        "  - { type: cytube, server: https://cytu.be, channel: x, usrname: bob }",
        "plugins:",
        "  entries:",
        "    dice: { grants: [basic], confg: {} }",
      ].join("\n"),
    );
    const message = thrownRoseyError(() => loadConfig({ file, env: {} })).message;
    expect(message).toContain(
      `'(root)' has a key the config does not define: "sandbx"; did you mean "sandbox"? (known here: version, dataDir, platforms, nats, database, plugins, router, sandbox, monitoring, logging)`,
    );
    expect(message).toContain(
      `'platforms.0' has a key the config does not define: "usrname"; did you mean "username"?`,
    );
    expect(message).toContain(
      `'plugins.entries.dice' has a key the config does not define: "confg"; did you mean "config"? (known here: enabled, grants, config, limits)`,
    );
    // Not the whole file as the root's "current value".
    expect(message).not.toContain("current value is {");
  });

  it("takes a metrics interval of 0 (off) or 1 s to 1 h, and says so otherwise", () => {
    expect(
      loadConfig({ file: write("m0.yaml", "monitoring: { metricsIntervalMs: 0 }\n"), env: {} }).config
        .monitoring,
    ).toEqual({
      metricsIntervalMs: 0,
    });
    expect(
      loadConfig({ file: write("md.yaml", "version: 2\n"), env: {} }).config.monitoring.metricsIntervalMs,
    ).toBe(15_000);
    expect(() =>
      loadConfig({ file: write("m5.yaml", "monitoring: { metricsIntervalMs: 500 }\n"), env: {} }),
    ).toThrow("'monitoring.metricsIntervalMs' must be 0 (off) or 1000 to 3600000 ms: current value is 500");
  });

  it("names the path, the rule and the current value of every problem", () => {
    const file = write(
      "bad.yaml",
      ["router:", "  timeoutMs: 10", "  prefix: ''", "logging:", "  level: loud", "surprise: true"].join(
        "\n",
      ),
    );
    const err = thrownRoseyError(() => loadConfig({ file, env: {} }));
    expect(err.code).toBe("CONFIG_INVALID");
    expect(err.message).toContain(file);
    const problems = (err.details?.problems ?? []) as string[];
    expect(problems.find((p) => p.startsWith("'router.timeoutMs'"))).toMatch(/>=\s*50.*current value is 10$/);
    expect(problems.find((p) => p.startsWith("'router.prefix'"))).toMatch(/current value is ""$/);
    expect(problems.find((p) => p.startsWith("'logging.level'"))).toMatch(/current value is "loud"$/);
    expect(problems.find((p) => p.includes("surprise"))).toBeDefined();
  });

  it("reports a YAML syntax error with the file name", () => {
    const file = write("broken.yaml", "router: [unclosed\n");
    const err = thrownRoseyError(() => loadConfig({ file, env: {} }));
    expect(err.code).toBe("CONFIG_INVALID");
    expect(err.message).toContain(`Cannot parse config file ${file}`);
  });

  it("applies NATS_URL, DATABASE_URL and LOG_LEVEL over the file", () => {
    const file = write("rosey.yaml", "nats:\n  url: nats://from-file:4222\nlogging:\n  level: info\n");
    const { config } = loadConfig({
      file,
      env: { NATS_URL: "nats://from-env:4222", DATABASE_URL: "postgres://db/rosey", LOG_LEVEL: "debug" },
    });
    expect(config.nats.url).toBe("nats://from-env:4222");
    expect(config.database.url).toBe("postgres://db/rosey");
    expect(config.logging.level).toBe("debug");
  });

  it("validates env overrides like the file, naming the variable as the source of a bad value", () => {
    const err = thrownRoseyError(() => loadConfig({ cwd: dir(), env: { LOG_LEVEL: "chatty" } }));
    expect(err.code).toBe("CONFIG_INVALID");
    expect(err.message).toBe(
      "Invalid environment override of the config (embedded defaults):\n" +
        `  - LOG_LEVEL="chatty" (environment, sets 'logging.level'): Invalid option: expected one of "fatal"|"error"|"warn"|"info"|"debug"|"trace"|"silent"`,
    );
  });

  it("does not blame the file for an override's value: LOG_LEVEL over the file's logging.level", () => {
    const file = write("rosey.yaml", "logging:\n  level: info\n");
    const err = thrownRoseyError(() => loadConfig({ file, env: { LOG_LEVEL: "bogus" } }));
    expect(err.message).toContain(`Invalid environment override of the config (${file}):`);
    expect(err.message).toContain(
      `LOG_LEVEL="bogus" (environment, overrides 'logging.level' in ${file}): Invalid option: expected one of`,
    );
    expect(err.message).not.toContain(`Invalid config in ${file}`);
    expect(err.message).not.toContain("current value");
  });

  it("refuses a DATABASE_URL or NATS_URL start would refuse later, naming the variable, its password hidden", () => {
    const file = write("rosey.yaml", "database:\n  url: postgres://db/rosey\n");
    const err = thrownRoseyError(() =>
      loadConfig({ file, env: { DATABASE_URL: "mysql://me:s3cret@y/z", NATS_URL: "nats://:s3cret@" } }),
    );
    expect(err.details?.problems).toEqual([
      `NATS_URL="nats://:***@" (environment, sets 'nats.url'): must be nats://[user:password@]host[:port], or a comma-separated list of them sharing one set of credentials`,
      `DATABASE_URL="mysql://me:***@y/z" (environment, overrides 'database.url' in ${file}): must be a postgres://, postgresql:// or file: URL`,
    ]);
    expect(err.message).not.toContain("s3cret");
    for (const ok of ["postgresql://u:p@db:5432/rosey", "file:other.sqlite"])
      expect(loadConfig({ file, env: { DATABASE_URL: ok } }).config.database.url).toBe(ok);
  });

  it("tells the file's problems from the environment's when both have some", () => {
    const file = write("rosey.yaml", "router:\n  timeoutMs: 10\n");
    const err = thrownRoseyError(() => loadConfig({ file, env: { LOG_LEVEL: "loud" } }));
    expect(err.message).toMatch(new RegExp(`^Invalid config in ${file} with its environment overrides:\n`));
    expect(err.details?.problems).toEqual([
      expect.stringMatching(/^'router\.timeoutMs' .*current value is 10$/),
      expect.stringMatching(/^LOG_LEVEL="loud" \(environment, sets 'logging\.level'\): /),
    ]);
  });

  it("lists the overrides it applied, with the file's values they replace", () => {
    const file = write("rosey.yaml", "logging:\n  level: info\nnats:\n  url: nats://u:filepw@a:4222\n");
    const { overrides } = loadConfig({
      file,
      env: { LOG_LEVEL: "debug", NATS_URL: "nats://u:envpw@b:4222", DATABASE_URL: "" },
    });
    expect(overrides).toEqual([
      {
        variable: "NATS_URL",
        key: "nats.url",
        shown: "nats://u:***@b:4222",
        replaced: "nats://u:***@a:4222",
      },
      { variable: "LOG_LEVEL", key: "logging.level", shown: "debug", replaced: "info" },
    ]);
    expect(loadConfig({ file, env: { LOG_LEVEL: "debug" }, ignoreEnv: true }).overrides).toEqual([]);
  });

  it("finds the file through ROSEY_CONFIG, and --config wins over it", () => {
    const viaEnv = write("env.yaml", "router:\n  prefix: '$'\n");
    const viaFlag = write("flag.yaml", "router:\n  prefix: '%'\n");
    expect(loadConfig({ cwd: dir(), env: { ROSEY_CONFIG: viaEnv } }).config.router.prefix).toBe("$");
    expect(
      loadConfig({ cwd: dir(), file: viaFlag, env: { ROSEY_CONFIG: viaEnv } }).config.router.prefix,
    ).toBe("%");
    expect(
      thrownRoseyError(() => loadConfig({ cwd: dir(), env: { ROSEY_CONFIG: "missing.yaml" } })).message,
    ).toBe(`Config file not found: ${path.join(dir(), "missing.yaml")}`);
  });

  it("falls back to the embedded defaults: bundled plugins granted 'basic', data under the cwd", () => {
    const { config, file } = loadConfig({ cwd: dir(), env: {} });
    expect(file).toBeUndefined();
    expect(config.dataDir).toBe(path.join(dir(), "data"));
    expect(config.plugins.directory).toBe(path.join(PACKAGE_ROOT, "plugins"));
    expect(config.plugins.entries.dice?.grants).toEqual(["basic"]);
  });

  it("ignores env overrides when asked (config check validates the file as written)", () => {
    const file = write("rosey.yaml", "logging:\n  level: warn\n");
    expect(loadConfig({ file, env: { LOG_LEVEL: "debug" }, ignoreEnv: true }).config.logging.level).toBe(
      "warn",
    );
  });
});
