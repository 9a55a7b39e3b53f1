import path from "node:path";
import { Command, CommanderError } from "commander";
import { loadConfig } from "../core/config/load.js";
import type { RoseyConfig } from "../core/config/schema.js";
import { errorMessage, RoseyError } from "../core/errors.js";
import { createLogger, type Logger } from "../core/logger.js";
import { type Rosey, startRosey } from "../core/orchestrator.js";
import { PACKAGE_VERSION } from "../core/paths.js";
import { terminalSafe } from "../sandbox/escape-text.js";

/**
 * The `rosey` command line (design.md §7). The only place that wires signals and exits the process:
 * everything below it returns promises and throws typed errors.
 * Stdout belongs to the console connector; logs and errors go to stderr.
 */

interface StartOptions {
  config?: string;
  plugins?: string;
}

/** Prints a failure: a RoseyError's message only (it is written for people), anything else with its stack. */
function reportFailure(err: unknown): void {
  // Errors may quote plugins' files (manifests, SQL, code): no control character reaches the terminal.
  const write = (text: string) => process.stderr.write(terminalSafe(text));
  if (err instanceof RoseyError) write(`${err.message}\n`);
  else if (err instanceof Error) write(`rosey: unexpected error: ${err.stack ?? err.message}\n`);
  else write(`rosey: unexpected error: ${errorMessage(err)}\n`);
}

function flushLogger(logger: Logger): Promise<void> {
  return new Promise((resolve) => {
    try {
      logger.flush(() => resolve());
    } catch {
      resolve();
    }
  });
}

function withPluginsDir(config: Readonly<RoseyConfig>, dir: string | undefined): Readonly<RoseyConfig> {
  if (!dir) return config;
  const copy = structuredClone(config) as RoseyConfig;
  copy.plugins.directory = path.resolve(dir);
  Object.freeze(copy.plugins);
  return Object.freeze(copy);
}

async function start(options: StartOptions): Promise<number> {
  const loaded = loadConfig({ file: options.config });
  const config = withPluginsDir(loaded.config, options.plugins);
  const logger = createLogger({ level: config.logging.level, pretty: config.logging.pretty });
  logger.debug({ config: loaded.file ?? "embedded defaults", plugins: config.plugins.directory }, "starting");

  let rosey: Rosey | undefined;
  let signalled = false;
  const exitAfterSignal = (signal: NodeJS.Signals) => {
    if (signalled) {
      process.stderr.write(`rosey: second ${signal}; exiting now\n`);
      process.exit(1);
    }
    signalled = true;
    logger.info({ signal }, "stopping");
    void (rosey ? rosey.stop() : Promise.resolve()).then(
      async () => {
        await flushLogger(logger);
        process.exit(0);
      },
      async (err: unknown) => {
        reportFailure(err);
        await flushLogger(logger);
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", exitAfterSignal);
  process.on("SIGTERM", exitAfterSignal);
  const crash = (err: unknown) => {
    reportFailure(err);
    logger.fatal({ err: errorMessage(err) }, "crashed; stopping");
    const stopped = rosey ? rosey.stop() : Promise.resolve();
    // Bounded: a stop that hangs must not keep a crashed process alive.
    const bound = new Promise((r) => setTimeout(r, 5_000).unref());
    void Promise.race([stopped, bound]).finally(() => process.exit(1));
  };
  process.on("uncaughtException", crash);
  process.on("unhandledRejection", crash);

  try {
    rosey = await startRosey({ config, logger });
  } catch (err) {
    await flushLogger(logger);
    throw err;
  }
  await rosey.finished;
  if (signalled) return new Promise<number>(() => {}); // the signal handler exits
  await rosey.stop();
  await flushLogger(logger);
  return 0;
}

export function buildProgram(): Command {
  const program = new Command("rosey")
    .description("Rosey: a chat-bot plugin platform with sandboxed plugins over NATS")
    .version(PACKAGE_VERSION, "-V, --version", "print the version of Rosey")
    .showHelpAfterError()
    .exitOverride()
    // Needed for `rosey db`'s positional options; the program has no options of its own to lose.
    .enablePositionalOptions();

  program
    .command("start")
    .description("run the platform (console connector when no platform is configured)")
    .option("-c, --config <file>", "config file (JSON or YAML); default ROSEY_CONFIG or ./rosey.yaml")
    .option("-p, --plugins <dir>", "plugins directory (overrides plugins.directory)")
    .action(async (options: StartOptions) => {
      process.exitCode = await start(options);
    });

  const config = program.command("config").description("configuration tools");
  config
    .command("check")
    .description(
      "validate a config file and its plugins as rosey start would meet them (NATS_URL, DATABASE_URL, LOG_LEVEL applied; each plugin's code loaded in a sandbox, not started); print every problem",
    )
    .argument("<file>", "config file (JSON or YAML)")
    .option(
      "--connect",
      "also connect to the PostgreSQL database.url names (read only) and check it as rosey start would",
    )
    .option(
      "--no-code",
      "leave out the plugins' code (bundling it, and loading it in a sandbox worker without starting it)",
    )
    .action(async (file: string, options: { connect?: boolean; code: boolean }) => {
      const { configCheck } = await import("./config-check.js");
      process.exitCode = await configCheck(
        file,
        {
          stdout: (text) => process.stdout.write(text),
          stderr: (text) => process.stderr.write(text),
        },
        { connect: options.connect === true, code: options.code },
      );
    });
  config
    .command("migrate")
    .description(
      "convert a Python Rosey-Robot config.json to a Rosey 2 config, noting what became of each setting",
    )
    .argument("<file>", 'the Rosey-Robot config (v1 flat or "2.0" layout)')
    .option("-o, --output <file>", "write it here (.yaml, .yml or .json) instead of YAML on stdout")
    .option("-f, --force", "overwrite the output file if it exists")
    .action(async (file: string, options: { output?: string; force?: boolean }) => {
      const { migrateConfigFile } = await import("../core/config/migrate-file.js");
      const migrated = migrateConfigFile(file, options);
      // Stdout carries only the config, so `rosey config migrate v1.json > rosey.yaml` works.
      if (!migrated.written) process.stdout.write(migrated.text);
      process.stderr.write(`${migrated.report.join("\n")}\n`);
    });

  program
    .command("audit")
    .description(
      "show, per plugin, what it requests, is granted and may reach, its limits, state and violations",
    )
    .option("-c, --config <file>", "config file (JSON or YAML); default ROSEY_CONFIG or ./rosey.yaml")
    .option("--json", "print the report as JSON (schemas/audit-report.schema.json)")
    .option(
      "--strict",
      "exit 1 on what needs a reviewer: a requested capability not granted, a manifest subscription no grant covers, severe violations no operator resume or reload has followed, migrations the database service would apply but cannot",
    )
    .action(async (options: { config?: string; json?: boolean; strict?: boolean }) => {
      const { auditCommand } = await import("../core/audit/cli.js");
      process.exitCode = await auditCommand(options);
    });

  program
    .command("health")
    .description("ask every service for its health (rosey.monitoring.health); exit 1 unless all are ok")
    .option("-c, --config <file>", "config file (JSON or YAML), for nats.url")
    .option("--nats <url>", "NATS server of the running platform (default NATS_URL, then nats.url)")
    .option("--service <name>", "ask only this service (core, database)")
    .option("--timeout <ms>", "how long to gather answers", "1500")
    .option("--json", "print the answers as JSON")
    .action(
      async (options: {
        config?: string;
        nats?: string;
        service?: string;
        timeout: string;
        json?: boolean;
      }) => {
        const { healthCommand } = await import("../core/monitoring/cli.js");
        process.exitCode = await healthCommand({
          ...options,
          timeoutMs: wholeNumber("--timeout", options.timeout, 1, 60_000),
        });
      },
    );

  program
    .command("metrics")
    .description("every service's metrics in Prometheus's text format, printed once or served for scraping")
    .option("-c, --config <file>", "config file (JSON or YAML), for nats.url or the embedded server")
    .option("--nats <url>", "NATS server of the running platform (default NATS_URL, then nats.url)")
    .option("--serve <port>", "serve GET /metrics on this port until stopped")
    .option("--host <host>", "address to serve on", "127.0.0.1")
    .option("--window <ms>", "how long to wait for the services' snapshots", "1000")
    .action(
      async (options: { config?: string; nats?: string; serve?: string; host: string; window: string }) => {
        const { metricsCommand } = await import("../core/monitoring/cli.js");
        process.exitCode = await metricsCommand({
          ...options,
          serve: options.serve === undefined ? undefined : wholeNumber("--serve", options.serve, 0, 65_535),
          windowMs: wholeNumber("--window", options.window, 1, 60_000),
        });
      },
    );

  const db = program
    .command("db")
    .description("run the database service alone, joining an existing NATS (NATS_URL or nats.url)")
    .option("-c, --config <file>", "config file (JSON or YAML)")
    .option("--nats <url>", "NATS server to join")
    // Its own options end at a subcommand's name, so each subcommand parses the rest as its own.
    .enablePositionalOptions()
    .action(async (options: { config?: string; nats?: string }) => {
      process.exitCode = await runDb(options);
    });
  addDeadLetterCommands(db);

  program
    .command("migrate")
    .description("per-plugin database migrations (docs/database.md)")
    .argument("<plugin>", "plugin name")
    .argument("<action>", "status | apply | rollback | purge")
    .option("-c, --config <file>", "config file (JSON or YAML)")
    .option("--to <n>", "apply up to / roll back down to version N")
    .option("--count <n>", "at most N migrations")
    .option("--dry-run", "run inside a transaction that is rolled back; changes nothing")
    .option("--yes", "purge: drop the tables and delete the rows it lists (without it, purge only lists)")
    .option("--json", "print the result as JSON")
    .action(async (plugin: string, action: string, options: Record<string, string | boolean | undefined>) => {
      const { runMigrateCommand } = await import("../core/migrations/cli.js");
      process.exitCode = await runMigrateCommand(plugin, action, {
        config: options.config as string | undefined,
        to: options.to as string | undefined,
        count: options.count as string | undefined,
        dryRun: options.dryRun === true,
        yes: options.yes === true,
        json: options.json === true,
      });
    });

  const plugin = program.command("plugin").description("plugin authoring tools and operator controls");
  plugin
    .command("new")
    .description("create a plugin folder that loads as it is: plugin.json, index.js, README.md")
    .argument("<name>", "plugin name (lowercase letters, digits, '-'); also its first command")
    .option("-d, --dir <dir>", "plugins directory to create it in", "plugins")
    .option(
      "--typescript",
      "write index.ts, typed with Rosey's declarations, and a tsconfig.json to check it",
    )
    .action(async (name: string, options: { dir: string; typescript?: boolean }) => {
      const { scaffoldPlugin } = await import("../core/plugins/scaffold.js");
      const { dir, files, readme, commandClashes } = scaffoldPlugin(name, options.dir, {
        typescript: options.typescript === true,
      });
      const shown = (file: string) => path.relative(process.cwd(), file) || ".";
      process.stdout.write(
        `Created plugin '${name}' in ${shown(dir)}:\n${files.map((f) => `  ${shown(f)}\n`).join("")}` +
          `Nothing is granted by default: grant it chat.send in your config, then try it (${shown(readme)}).\n`,
      );
      for (const { word, claimants } of commandClashes)
        process.stderr.write(
          `Warning: command '${word}' is also claimed by ${claimants.filter((c) => c !== name).join(", ")}: ` +
            `none of them answers it until router.commands.${word} names one (or rename the command in plugin.json).\n`,
        );
    });
  const controls = {
    suspend: "running platform: stop the plugin's worker until resumed (its commands answer 'unavailable')",
    resume: "running platform: start a suspended or failed plugin again",
    reload:
      "running platform: bundle the plugin's code again and restart it (plugin.json, config not re-read)",
  } as const;
  for (const [action, description] of Object.entries(controls) as Array<[keyof typeof controls, string]>) {
    natsToolOptions(plugin.command(action).description(description))
      .argument("<name>", "plugin name")
      .option("--timeout <ms>", "how long to wait for the platform's answer", "15000")
      .action(async (name: string, options: NatsToolOptions & { timeout: string }) => {
        const { pluginAdminCommand } = await import("../core/plugins/admin-cli.js");
        process.exitCode = await pluginAdminCommand(action, name, {
          ...options,
          timeoutMs: wholeNumber("--timeout", options.timeout, 1, 600_000),
        });
      });
  }

  const bench = program
    .command("bench")
    .description("measure msg/s and latency through the sandboxed plugins vs raw NATS (bench/README.md)")
    .option("--rate <n>", "fixed-rate msg/s, and the first saturation step", "1000")
    .option("--duration <s>", "seconds of the fixed-rate phase", "60")
    .option("--mode <mode>", "fixed | saturation | both", "both")
    .option("--json <file>", "also write every figure as JSON to this file")
    .option("--isolation <kind>", "process (the default of rosey start) | thread")
    .option(
      "--core-semi-space <mb>",
      "the core's young-generation cap (--max-semi-space-size); rosey start uses 2 (docs/operations.md)",
    )
    .option("--step-duration <s>", "seconds per saturation step")
    .option("--max-p99 <ms>", "saturation: a step breaks above this p99")
    .option("--refine-steps <n>", "saturation: bisection steps after the first break (default 2)")
    .option(
      "--retries <n>",
      "saturation: runs again a step that broke, this many times, before its rate counts as broken (default 1)",
    )
    .option("--warmup <s>", "unrecorded warm-up before measuring")
    .option("--no-floor", "saturation: skip the hop floor (the design's hops with no platform logic)")
    .action(async (options: Record<string, string | boolean | undefined>) => {
      process.exitCode = await (await loadBench()).benchCommand(options);
    });
  bench
    .command("compare")
    .description(
      "compare two reports of `rosey bench --json`: whether machine and settings match, then every figure before and after (bench/README.md)",
    )
    .argument("<before>", "the earlier run's report (JSON)")
    .argument("<after>", "the later run's report (JSON)")
    .option("--json <file>", "also write the comparison as JSON to this file")
    .action(async (before: string, after: string, _options: unknown, command: Command) => {
      // `bench` has a --json of its own, and commander gives it to `bench` wherever it stands on the line.
      const { json } = optionsWithParents<{ json?: string }>(command);
      process.exitCode = (await loadBench()).compareCommand(before, after, { json });
    });

  return program;
}

interface NatsToolOptions {
  config?: string;
  nats?: string;
  json?: boolean;
}

/** The options of a tool that reaches the running platform's NATS (as `rosey health` does). */
function natsToolOptions(command: Command): Command {
  return command
    .option("-c, --config <file>", "config file (JSON or YAML), for nats.url or the embedded server")
    .option("--nats <url>", "NATS server of the running platform (default NATS_URL, then nats.url)")
    .option("--json", "print the result as JSON");
}

/**
 * A subcommand's options over those given to its parents before its name (`rosey db -c FILE dead-letters`):
 * commander's `optsWithGlobals` lets the parents' win instead.
 */
function optionsWithParents<T>(command: Command): T {
  const chain: Command[] = [];
  for (let c: Command | null = command; c; c = c.parent) chain.unshift(c);
  return Object.assign({}, ...chain.map((c) => c.opts())) as T;
}

/** `rosey db dead-letters [replay|drop]`. */
function addDeadLetterCommands(db: Command): void {
  const deadLetters = natsToolOptions(
    db
      .command("dead-letters")
      .description(
        "list the events the database service set aside (ROSEY_DB_DEADLETTER), newest last; replay or drop them",
      ),
  )
    .option("--limit <n>", "show the newest N", "50")
    .enablePositionalOptions()
    .action(async (_options: unknown, command: Command) => {
      const options = optionsWithParents<NatsToolOptions & { limit: string }>(command);
      const { deadLetterListCommand } = await import("../core/db/dead-letter-cli.js");
      process.exitCode = await deadLetterListCommand({
        ...options,
        limit: wholeNumber("--limit", options.limit, 1, 100_000),
      });
    });
  const actions = {
    replay:
      "publish them again on their subjects (the ingest stream takes them), then remove them; a dry run without --yes",
    drop: "delete them from the dead-letter stream; a dry run without --yes",
  } as const;
  for (const [action, description] of Object.entries(actions) as Array<[keyof typeof actions, string]>) {
    natsToolOptions(deadLetters.command(action).description(description))
      .argument("[seq...]", "their sequences in the dead-letter stream (as listed)")
      .option("--all", "every dead letter stored when it starts")
      .option("--yes", `${action} them (without it, only say what would be done)`)
      .action(async (seqs: string[], _options: unknown, command: Command) => {
        const options = optionsWithParents<NatsToolOptions & { all?: boolean; yes?: boolean }>(command);
        const { deadLetterActionCommand } = await import("../core/db/dead-letter-cli.js");
        process.exitCode = await deadLetterActionCommand(action, { ...options, seqs });
      });
  }
}

/** An option that must be a whole number within bounds; anything else is refused naming the option. */
function wholeNumber(option: string, text: string, min: number, max: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max)
    throw new RoseyError(
      "VALIDATION_FAILED",
      `${option} must be a whole number from ${min} to ${max}, got '${text}'`,
    );
  return value;
}

/** `rosey db`: runs until SIGINT/SIGTERM. */
async function runDb(options: { config?: string; nats?: string }): Promise<number> {
  const { runDbCommand } = await import("../core/db/cli.js");
  const service = await runDbCommand(options);
  await new Promise<void>((resolve) => {
    process.once("SIGINT", () => resolve());
    process.once("SIGTERM", () => resolve());
  });
  await service.stop();
  return 0;
}

interface BenchModule {
  benchCommand(options: Record<string, string | boolean | undefined>): Promise<number>;
  compareCommand(before: string, after: string, options: { json?: string | undefined }): number;
}

/** The bench lives in bench/ and is built by `npm run bench` into dist/bench/ (not part of the core build). */
async function loadBench(): Promise<BenchModule> {
  const entry = "../bench/index.js";
  try {
    return await import(entry);
  } catch (err) {
    throw new RoseyError(
      "INTERNAL",
      `Cannot run the bench as it is not built: run 'npm run bench' (${errorMessage(err)})`,
      { cause: err },
    );
  }
}

export async function main(argv: readonly string[] = process.argv): Promise<void> {
  try {
    await buildProgram().parseAsync([...argv]);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander already printed help or the usage error.
      process.exitCode = err.exitCode;
      return;
    }
    reportFailure(err);
    process.exitCode = 1;
  }
}

await main();
