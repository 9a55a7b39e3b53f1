import path from "node:path";
import { z } from "zod";
import { RoseyError } from "../errors.js";
import type { LogLevel } from "../logger.js";
import { redactUrl } from "../redact-url.js";
import { DEFAULT_CONFIG } from "./defaults.js";
import { configSchema, type RoseyConfigInput } from "./schema.js";

/**
 * `rosey config migrate`: the config of Rosey's predecessor, the Python Rosey-Robot, as a Rosey 2 config.
 * Both of its layouts are read: v1 (flat; no `version` or "1.x") and the Python "2.0" layout (`platforms[]`
 * and sections). Nothing is lost silently: every setting of the input gets a note saying where it went or
 * why it was dropped, and a value Rosey 2 cannot take is a problem naming the input path. No file I/O here.
 */

export type NoteAction = "carried" | "changed" | "dropped" | "unknown" | "added";

export interface MigrationNote {
  action: NoteAction;
  /** Dotted path in the input; for `added`, in the output. */
  path: string;
  /** Where it went in the output, when carried or changed. */
  to?: string;
  /** The value written, how it changed, or why it was dropped. Never a password. */
  detail: string;
  /** The operator has to act: the bot behaves differently (proxy, shell…) or the file now holds a secret. */
  warning: boolean;
}

export type LegacyLayout = "v1" | "2.0";

export const LAYOUT_NAMES: Record<LegacyLayout, string> = {
  v1: "Rosey-Robot v1 flat layout",
  "2.0": 'Rosey-Robot "2.0" layout',
};

export interface MigrateV1Options {
  /** Names the input in errors, e.g. its file name. */
  source: string;
  /** Relative paths of the input (`db`) are taken against this folder: the input file's. */
  inputDir: string;
  /** Relative paths are written against this folder: the output file's, as Rosey resolves them from there. */
  outputDir: string;
  /** Rosey's bundled plugins folder, which the output's `plugins.directory` points at. */
  bundledPluginsDir: string;
}

export interface MigrationResult {
  /** The Rosey 2 config as it is to be written (defaults left out). */
  config: RoseyConfigInput;
  layout: LegacyLayout;
  /** Input order, then what was added. */
  notes: MigrationNote[];
  /** A password or channel password is in `config`: the file should be readable by its owner only. */
  hasSecrets: boolean;
}

type CytubeDraft = {
  type: "cytube";
  server?: string;
  channel?: string;
  username?: string;
  password?: string;
  channel_password?: string;
};

const PYTHON_LEVELS: Record<string, LogLevel> = {
  DEBUG: "debug",
  INFO: "info",
  WARNING: "warn",
  WARN: "warn",
  ERROR: "error",
  CRITICAL: "fatal",
  FATAL: "fatal",
};

const name = z.string().min(1);
/** A second element that is null or empty means "no password", as the Python bot read it. */
const nameAndSecret = z.union([z.tuple([name]), z.tuple([name, z.string().nullable()])]);
const channelSchema = z.union([name, nameAndSecret], { error: "must be a channel name or [name, password]" });
const userSchema = z.union([z.null(), name, nameAndSecret], {
  error: "must be [username, password], a guest name, or null (anonymous)",
});
const siteUrl = z
  .string({ error: 'must be the CyTube site URL, e.g. "https://cytu.be"' })
  .min(1, 'must be the CyTube site URL, e.g. "https://cytu.be"');
const filePath = z.string({ error: "must be a file path" }).min(1, "must be a file path");
const section = z.record(z.string(), z.unknown(), { error: "must be an object" });
const secondsSchema = z.number({ error: "must be a number of seconds from 0.1 to 120" }).min(0.1).max(120);

/** Python bot settings Rosey 2 has nothing for, and why; the note is the same in both layouts. */
const NO_EQUIVALENT = {
  response_timeout: "the CyTube connector keeps its own response timeouts",
  restart_delay: "the CyTube connector reconnects by itself, backing off from 1 s to 60 s",
  retry: "the CyTube connector retries without a limit, backing off from 1 s to 60 s",
  retry_delay: "the CyTube connector retries without a limit, backing off from 1 s to 60 s",
  chat_log_file:
    "Rosey 2 writes no chat log file; with the database enabled (the default) chat goes to its chat_log table",
  media_log_file:
    "Rosey 2 writes no media log file; media changes are published as rosey.events.media.change",
  max_reconnect_attempts: "Rosey 2's bus reconnects to NATS without a limit",
  reconnect_delay: "Rosey 2's bus reconnects to NATS with its own backoff and jitter",
  run_as_service: "`rosey start` runs the database service itself; `rosey db` runs it alone",
  auto_reload:
    "Rosey 2 does not watch plugin files; reload a plugin with a request on rosey.admin.plugins.reload",
} as const;

const SECRET_KEYS = new Set(["password", "channel_password"]);
/** Stands in for a value that may hold a password, in problems. */
const HIDDEN = Symbol("hidden");

function join(at: string, key: string | number): string {
  return at ? `${at}.${key}` : String(key);
}

function show(value: unknown): string {
  if (value === undefined) return "missing";
  if (value === HIDDEN) return "(hidden)";
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** Which layout the `version` field says. Rosey 2's own `version: 2` and unknown versions are refused. */
function detectLayout(input: Record<string, unknown>, source: string): LegacyLayout {
  const version = input.version;
  if (version === 2) {
    throw new RoseyError(
      "CONFIG_INVALID",
      `Cannot migrate ${source} as it is already a Rosey 2 config (version: 2): check it with 'rosey config check ${source}'`,
    );
  }
  // JSON's `1.0` parses as the number 1.
  if (
    version === undefined ||
    version === 1 ||
    (typeof version === "string" && /^1(\.\d+)*$/.test(version))
  ) {
    return "v1";
  }
  if (typeof version === "string" && /^2(\.\d+)*$/.test(version)) return "2.0";
  // The layout decides how every other key is read, so nothing else can be checked.
  const problem = `'version' must be absent or "1.x" (v1 flat layout) or "2.0" (Python 2.0 layout): current value is ${show(version)}`;
  throw new RoseyError("CONFIG_INVALID", `Cannot migrate ${source}:\n  - ${problem}`, {
    details: { problems: [problem] },
  });
}

class Migration {
  readonly notes: MigrationNote[] = [];
  readonly problems: string[] = [];
  /** Output path → input path, so a value Rosey's schema refuses is reported where the operator wrote it. */
  readonly #origins = new Map<string, string>();
  readonly platforms: CytubeDraft[] = [];
  readonly nats: { url?: string; connectTimeoutMs?: number } = {};
  readonly database: { path?: string } = {};
  readonly logging: { level?: LogLevel } = {};

  constructor(readonly options: MigrateV1Options) {}

  note(action: NoteAction, at: string, detail: string, extra: { to?: string; warning?: boolean } = {}): void {
    this.notes.push({
      action,
      path: at,
      ...(extra.to ? { to: extra.to } : {}),
      detail,
      warning: extra.warning ?? false,
    });
  }

  problem(at: string, rule: string, value: unknown): void {
    this.problems.push(`'${at || "(root)"}' ${rule}: current value is ${show(value)}`);
  }

  carry(
    at: string,
    to: string,
    detail: string,
    extra: { action?: NoteAction; warning?: boolean } = {},
  ): void {
    this.#origins.set(to, at);
    this.note(extra.action ?? "carried", at, detail, { to, ...(extra.warning ? { warning: true } : {}) });
  }

  /** Parses `value` at input path `at`; each issue becomes a problem there. */
  check<T>(schema: z.ZodType<T>, value: unknown, at: string, secret = false): T | undefined {
    const parsed = schema.safeParse(value);
    if (parsed.success) return parsed.data;
    for (const issue of parsed.error.issues) {
      const where = issue.path.reduce<string>((p, k) => join(p, String(k)), at);
      this.problem(where, issue.message, secret ? HIDDEN : valueAt(value, issue.path));
    }
    return undefined;
  }

  /** Visits each key of `object` with its rule; keys with no rule are reported unknown, `_comment*` skipped. */
  walk(
    object: Record<string, unknown>,
    at: string,
    rules: Record<string, (value: unknown, at: string) => void>,
  ) {
    for (const [key, value] of Object.entries(object)) {
      if (key.startsWith("_comment")) continue;
      const rule = Object.hasOwn(rules, key) ? rules[key] : undefined;
      if (rule) rule(value, join(at, key));
      else this.note("unknown", join(at, key), "not a Rosey-Robot setting: not carried");
    }
  }

  drop(key: keyof typeof NO_EQUIVALENT) {
    return (value: unknown, at: string) =>
      this.note("dropped", at, `${NO_EQUIVALENT[key]} (was ${show(value)})`);
  }

  /** Rosey's schema over the result: a refusal is a problem at the input path the value came from. */
  checkOutput(config: RoseyConfigInput): void {
    const parsed = configSchema.safeParse(config);
    if (parsed.success) return;
    for (const issue of parsed.error.issues) {
      const out = issue.path.map(String).join(".");
      const origin = this.#origins.get(out);
      // No origin: a required value the walk refused or found missing, and has reported already.
      if (origin === undefined) continue;
      const secret = SECRET_KEYS.has(String(issue.path.at(-1)));
      this.problem(
        origin,
        `(Rosey 2's ${out}) ${issue.message}`,
        secret ? HIDDEN : valueAt(config, issue.path),
      );
    }
  }

  /** A path of the input, relative to its folder, rewritten relative to the output's folder. */
  rebase(file: string): string {
    if (path.isAbsolute(file)) return file;
    const absolute = path.resolve(this.options.inputDir, file);
    return path.relative(this.options.outputDir, absolute) || ".";
  }
}

function valueAt(input: unknown, keys: readonly PropertyKey[]): unknown {
  let current: unknown = input;
  for (const key of keys) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current;
}

/** Rules for the CyTube fields: v1's top level and each "2.0" `platforms[]` entry share them. */
function cytubeRules(m: Migration, draft: CytubeDraft, out: string) {
  const to = (field: string) => join(out, field);
  return {
    domain(value: unknown, at: string) {
      const domain = m.check(siteUrl, value, at);
      if (domain === undefined) return;
      if (/^[a-z][a-z\d+.-]*:\/\//i.test(domain)) {
        draft.server = domain;
        m.carry(at, to("server"), show(domain));
      } else {
        // The Python bot prefixed https:// to a bare host the same way.
        draft.server = `https://${domain}`;
        m.carry(at, to("server"), `${show(domain)} becomes ${show(draft.server)}`, { action: "changed" });
      }
    },
    channel(value: unknown, at: string) {
      const channel = m.check(channelSchema, value, at, Array.isArray(value) && value.length > 1);
      if (channel === undefined) return;
      if (typeof channel === "string") {
        draft.channel = channel;
        m.carry(at, to("channel"), show(channel));
        return;
      }
      const [channelName, password] = channel;
      draft.channel = channelName;
      m.carry(join(at, 0), to("channel"), show(channelName));
      if (password) {
        draft.channel_password = password;
        m.carry(join(at, 1), to("channel_password"), "(not shown)");
      } else if (password !== undefined) {
        m.note("dropped", join(at, 1), "empty: the channel has no password");
      }
    },
    user(value: unknown, at: string) {
      const user = m.check(userSchema, value, at, Array.isArray(value) && value.length > 1);
      if (user === undefined) return;
      if (user === null) {
        m.note(
          "carried",
          at,
          "null: no username, so the bot joins anonymously and read-only, as before; give it one to let plugins answer",
          { to: out },
        );
        return;
      }
      if (typeof user === "string") {
        draft.username = user;
        m.carry(at, to("username"), `${show(user)} (a guest name: no password)`);
        return;
      }
      const [username, password] = user;
      draft.username = username;
      m.carry(join(at, 0), to("username"), show(username));
      if (password) {
        draft.password = password;
        m.carry(
          join(at, 1),
          to("password"),
          "(not shown); better: password_env naming an environment variable that holds it (docs/cytube.md)",
          { warning: true },
        );
      } else if (password !== undefined) {
        m.note("dropped", join(at, 1), "empty: the bot logs in as a guest, as before");
      }
    },
    response_timeout: m.drop("response_timeout"),
    restart_delay: m.drop("restart_delay"),
  };
}

/** `db` (v1) or `database.path` (2.0): relative to the input file, rewritten relative to the output. */
function databasePath(m: Migration) {
  return (value: unknown, at: string) => {
    const file = m.check(filePath, value, at);
    if (file === undefined) return;
    m.database.path = m.rebase(file);
    const moved = m.database.path === file ? "" : ` (was ${show(file)}, relative to the input file's folder)`;
    m.carry(
      at,
      "database.path",
      `${show(m.database.path)}${moved}; Rosey 2 does not read the Python bot's tables and cannot create its ` +
        "own schema in a file that has them (outbound_messages clashes): if this is the old database, move " +
        "it aside or point database.path at a new file ('rosey config check' tells)",
      { warning: true },
    );
  };
}

function logLevel(m: Migration) {
  return (value: unknown, at: string) => {
    const level = typeof value === "string" ? PYTHON_LEVELS[value.toUpperCase()] : undefined;
    if (!level) {
      m.problem(at, "must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL (any case)", value);
      return;
    }
    m.logging.level = level;
    const same = value === level;
    m.carry(at, "logging.level", same ? show(level) : `${show(value)} becomes ${show(level)}`, {
      action: same ? "carried" : "changed",
    });
  };
}

function proxy(m: Migration) {
  return (value: unknown, at: string) => {
    if (!value) {
      m.note("dropped", at, `unset (was ${show(value)})`);
      return;
    }
    m.note(
      "dropped",
      at,
      `Rosey 2 has no SOCKS proxy: the bot connects to CyTube directly (was ${show(value)})`,
      {
        warning: true,
      },
    );
  };
}

/** v1: "host:port"; 2.0: {enabled, host, port}. Either way Rosey 2 has no remote shell. */
function shell(m: Migration) {
  return (value: unknown, at: string) => {
    const listening = isObject(value)
      ? value.enabled === false
        ? undefined
        : `${value.host ?? "localhost"}:${value.port ?? "?"}`
      : value || undefined;
    if (listening === undefined) {
      m.note("dropped", at, "off, and Rosey 2 has no remote admin shell");
      return;
    }
    m.note(
      "dropped",
      at,
      `Rosey 2 has no remote admin shell: nothing listens on ${String(listening)}; use 'rosey audit' and ` +
        "requests on rosey.admin.plugins.* instead",
      { warning: true },
    );
  };
}

function llm(m: Migration) {
  return (value: unknown, at: string) => {
    const configured = isObject(value) && Object.keys(value).length > 0 && value.enabled !== false;
    // Its content is not shown: LLM settings usually hold an API key.
    m.note(
      "dropped",
      at,
      configured
        ? "Rosey 2 has no LLM integration: the bot no longer answers through one (settings not shown)"
        : "empty or disabled, and Rosey 2 has no LLM integration",
      { warning: configured },
    );
  };
}

function version(m: Migration, layout: LegacyLayout) {
  return (value: unknown, at: string) =>
    m.carry(at, "version", `${show(value)} (${LAYOUT_NAMES[layout]}) becomes 2`, { action: "changed" });
}

/** After its keys are walked: what a CyTube entry cannot do without. */
function requireCytube(m: Migration, draft: CytubeDraft, entry: Record<string, unknown>, at: string): void {
  if (entry.domain === undefined) {
    const hint = at === "" && "platforms" in entry ? '; a Python 2.0 layout file needs "version": "2.0"' : "";
    m.problem(
      join(at, "domain"),
      `is required: the CyTube site URL, e.g. "https://cytu.be"${hint}`,
      undefined,
    );
  }
  if (entry.channel === undefined) {
    m.problem(join(at, "channel"), "is required: the CyTube channel name", undefined);
  }
  m.platforms.push(draft);
}

function migrateFlat(m: Migration, input: Record<string, unknown>): void {
  const draft: CytubeDraft = { type: "cytube" };
  m.walk(input, "", {
    version: version(m, "v1"),
    ...cytubeRules(m, draft, "platforms.0"),
    retry: m.drop("retry"),
    retry_delay: m.drop("retry_delay"),
    proxy: proxy(m),
    log_level: logLevel(m),
    chat_log_file: m.drop("chat_log_file"),
    media_log_file: m.drop("media_log_file"),
    shell: shell(m),
    db: databasePath(m),
    llm: llm(m),
  });
  requireCytube(m, draft, input, "");
}

function migrateSections(m: Migration, input: Record<string, unknown>): void {
  const walkSection = (rules: Parameters<Migration["walk"]>[2]) => (value: unknown, at: string) => {
    const object = m.check(section, value, at);
    if (object) m.walk(object, at, rules);
  };
  m.walk(input, "", {
    version: version(m, "2.0"),
    nats: walkSection({
      url(value, at) {
        const url = m.check(name, value, at);
        if (url === undefined) return;
        m.nats.url = url;
        m.carry(
          at,
          "nats.url",
          `${show(redactUrl(url))}: Rosey 2 joins this server instead of starting its own; remove nats.url to let it`,
        );
      },
      connection_timeout(value, at) {
        const seconds = m.check(secondsSchema, value, at);
        if (seconds === undefined) return;
        m.nats.connectTimeoutMs = Math.round(seconds * 1000);
        m.carry(at, "nats.connectTimeoutMs", `${seconds} s becomes ${m.nats.connectTimeoutMs} ms`, {
          action: "changed",
        });
      },
      max_reconnect_attempts: m.drop("max_reconnect_attempts"),
      reconnect_delay: m.drop("reconnect_delay"),
    }),
    database: walkSection({ path: databasePath(m), run_as_service: m.drop("run_as_service") }),
    platforms: (value, at) => migratePlatforms(m, value, at),
    shell: shell(m),
    logging: walkSection({
      level: logLevel(m),
      chat_log_file: m.drop("chat_log_file"),
      media_log_file: m.drop("media_log_file"),
    }),
    llm: llm(m),
    plugins: walkSection({
      enabled: (value, at) =>
        m.note(
          "dropped",
          at,
          `Rosey 2 loads every plugin in plugins.directory (its plugins.enabled is a list of names) (was ${show(value)})`,
        ),
      directory: (value, at) =>
        m.note(
          "dropped",
          at,
          `Python plugins do not run in Rosey 2; plugins.directory points at Rosey's bundled plugins (was ${show(value)})`,
        ),
      auto_reload: m.drop("auto_reload"),
    }),
    // The Python bot read these at the top level in both layouts.
    retry: m.drop("retry"),
    retry_delay: m.drop("retry_delay"),
    proxy: proxy(m),
  });
  if (input.platforms === undefined) {
    m.problem(
      "platforms",
      "must list the CyTube platform (Rosey-Robot would not start without one)",
      undefined,
    );
  }
}

function migratePlatforms(m: Migration, value: unknown, at: string): void {
  const entries = m.check(z.array(section, { error: "must be a list of platforms" }).min(1), value, at);
  if (!entries) return;
  entries.forEach((entry, index) => {
    const here = join(at, index);
    if (entry.enabled === false) {
      m.note("dropped", here, "enabled: false, so not carried; add it under platforms to run it", {
        warning: true,
      });
      return;
    }
    const out = join("platforms", m.platforms.length);
    const draft: CytubeDraft = { type: "cytube" };
    m.walk(entry, here, {
      type(type, where) {
        if (type === "cytube") m.carry(where, join(out, "type"), show(type));
        else m.problem(where, 'must be "cytube" (the only platform Rosey-Robot connected)', type);
      },
      name: (v, where) =>
        m.note("dropped", where, `Rosey 2 tells platforms apart by channel (was ${show(v)})`),
      enabled: (v, where) => {
        if (v === true) m.carry(where, out, "true: every platform listed runs");
        else m.problem(where, "must be true or false", v);
      },
      ...cytubeRules(m, draft, out),
    });
    requireCytube(m, draft, entry, here);
  });
  if (m.platforms.length === 0) {
    m.note("dropped", at, "no platform carried: Rosey 2 would run the console connector on stdin", {
      warning: true,
    });
  } else if (m.platforms.length > 1) {
    m.note(
      "carried",
      at,
      `Rosey-Robot connected only the first entry; Rosey 2 connects all ${m.platforms.length} channels`,
      { to: "platforms", warning: true },
    );
  }
}

function assemble(m: Migration): RoseyConfigInput {
  const entries = structuredClone(DEFAULT_CONFIG.plugins?.entries ?? {});
  const directory = path.relative(m.options.outputDir, m.options.bundledPluginsDir) || ".";
  m.note(
    "added",
    "plugins.entries",
    `${Object.keys(entries).join(", ")} granted as in Rosey's defaults, standing in for Rosey-Robot's built-in commands`,
  );
  m.note("added", "plugins.directory", `${show(directory)}: Rosey's bundled plugins`);
  const platforms = m.platforms.map((draft) => ({
    type: draft.type,
    server: draft.server as string,
    channel: draft.channel as string,
    ...(draft.username !== undefined ? { username: draft.username } : {}),
    ...(draft.password !== undefined ? { password: draft.password } : {}),
    ...(draft.channel_password !== undefined ? { channel_password: draft.channel_password } : {}),
  }));
  return {
    version: 2,
    platforms,
    ...(Object.keys(m.nats).length > 0 ? { nats: m.nats } : {}),
    ...(m.database.path !== undefined ? { database: { path: m.database.path } } : {}),
    plugins: { directory, entries },
    ...(m.logging.level !== undefined ? { logging: { level: m.logging.level } } : {}),
  };
}

/**
 * Maps a Rosey-Robot config object to a Rosey 2 config and a note per input setting.
 * @throws RoseyError `CONFIG_INVALID` listing every problem (input path, rule, value), or when the input is
 * already a Rosey 2 config.
 */
export function migrateV1Config(input: unknown, options: MigrateV1Options): MigrationResult {
  if (!isObject(input)) {
    throw new RoseyError(
      "CONFIG_INVALID",
      `Cannot migrate ${options.source} as its top level must be an object: current value is ${show(input)}`,
    );
  }
  const layout = detectLayout(input, options.source);
  const m = new Migration(options);
  if (layout === "v1") migrateFlat(m, input);
  else migrateSections(m, input);
  const config = assemble(m);
  m.checkOutput(config);
  if (m.problems.length > 0) {
    throw new RoseyError(
      "CONFIG_INVALID",
      `Cannot migrate ${options.source}:\n  - ${m.problems.join("\n  - ")}`,
      {
        details: { problems: m.problems },
      },
    );
  }
  const hasSecrets = m.platforms.some((p) => p.password !== undefined || p.channel_password !== undefined);
  return { config, layout, notes: m.notes, hasSecrets };
}
