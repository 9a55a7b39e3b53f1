import { rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AuditReport, buildAuditReport } from "../../src/core/audit/audit.js";
import { openAuditLog } from "../../src/core/audit/audit-log.js";
import { auditCommand } from "../../src/core/audit/cli.js";
import { formatAuditReport } from "../../src/core/audit/report-text.js";
import { type Bus, createBus } from "../../src/core/bus.js";
import { validateConfig } from "../../src/core/config/load.js";
import { openDatabase } from "../../src/core/db/connection.js";
import { policyFromManifest } from "../../src/core/db/kv-store.js";
import { silentLogger } from "../../src/core/logger.js";
import { loadCoreMigrations, loadPluginMigrations } from "../../src/core/migrations/files.js";
import { MigrationRunner } from "../../src/core/migrations/runner.js";
import { bundlePlugin } from "../../src/core/plugins/bundle.js";
import { resolveLimits } from "../../src/core/plugins/limits.js";
import { readManifest, sha256 } from "../../src/core/plugins/manifest.js";
import { redactUrl } from "../../src/core/redact-url.js";
import { expectValidAuditReport as expectValid } from "../support/audit-schema.js";
import { writePluginFolder } from "../support/plugin-folder.js";
import { usePrivateNats } from "../support/private-nats.js";
import { useTempDir } from "../support/temp-dir.js";

const FIXTURES = path.resolve(import.meta.dirname, "../fixtures/sandbox-plugins");

const config = validateConfig(
  {
    plugins: {
      directory: FIXTURES,
      defaultGrants: ["events.read"],
      entries: {
        greeter: { grants: ["basic"], limits: { handlerTimeoutMs: 700 } },
        intruder: { grants: ["chat.send"] },
        escaper: { enabled: false },
      },
    },
    sandbox: { maxLimits: { memoryMb: 48 } },
  },
  "audit-test",
);

describe("rosey audit (offline)", () => {
  const tmpDir = useTempDir("rosey-audit-offline-", "all");

  it("reports requested, granted-by, effective, missing, subjects, limits and code hash per plugin", async () => {
    const report = await buildAuditReport({ config, now: () => new Date("2026-01-01T00:00:00Z") });
    expectValid(report);
    const greeter = report.plugins.find((p) => p.name === "greeter")!;
    const entry = path.join(FIXTURES, "greeter");
    expect(greeter.codeSha256).toBe(sha256(await bundlePlugin(path.join(entry, "index.ts"), entry)));
    expect(greeter.requested).toEqual(["chat.send", "events.read"]);
    expect(greeter.granted).toEqual([
      {
        capability: "events.read",
        via: ["plugins.defaultGrants: events.read", "plugins.entries.greeter.grants: basic"],
      },
      { capability: "chat.send", via: ["plugins.entries.greeter.grants: basic"] },
    ]);
    expect(greeter.effective).toEqual(["chat.send", "events.read"]);
    expect(greeter.missing).toEqual([]);
    expect(greeter.subjects.publish).toEqual(["rosey.plugins.greeter.>", "rosey.actions.chat.send"]);
    expect(greeter.subjects.subscribe).toEqual(["rosey.plugins.greeter.>", "rosey.events.>"]);
    // Manifest says memory 32 / handler 1000; the config entry overrides the handler; maxima cap memory at 48.
    expect(greeter.limits).toEqual({ memoryMb: 32, handlerTimeoutMs: 700, publishPerSecond: 200 });
    expect(greeter.state).toBe("not running");
    expect(greeter.history).toBeNull();

    // intruder asks for users.kick, which nobody granted: it runs with chat.send only, and strict fails.
    const intruder = report.plugins.find((p) => p.name === "intruder")!;
    expect(intruder.effective).toEqual(["chat.send"]);
    expect(intruder.missing).toEqual(["users.kick"]);
    expect(intruder.subjects.publish).not.toContain("rosey.actions.users.kick");
    expect(report.strict.ok).toBe(false);
    expect(report.strict.problems).toContain(
      "intruder requests capabilities the config does not grant: users.kick",
    );

    expect(report.plugins.find((p) => p.name === "escaper")).toMatchObject({
      enabled: false,
      state: "disabled",
    });
    expect(report.plugins.find((p) => p.name === "importer")).toMatchObject({ codeSha256: null });
    expect(report.plugins.find((p) => p.name === "importer")?.loadError).toMatch(/cannot import 'node:fs'/);
    expect(report.platform).toMatchObject({ reachable: false });
    expect(report.auditLog).toMatchObject({ available: false });
  });

  it("the human table shows the difference between requested and granted", async () => {
    const text = formatAuditReport(await buildAuditReport({ config }));
    expect(text).toMatch(/intruder 1\.0\.0\n[\s\S]*?NOT GRANTED: users\.kick/);
    expect(text).toMatch(/granted: +chat\.send {2}by plugins\.entries\.greeter\.grants: basic/);
    expect(text).toMatch(/! intruder requests capabilities the config does not grant: users\.kick/);
  });

  it("limits are capped by the operator maxima", () => {
    expect(resolveLimits(config, { name: "x", limits: { memoryMb: 500, publishPerSecond: 5 } })).toEqual({
      memoryMb: 48,
      handlerTimeoutMs: 5_000,
      publishPerSecond: 5,
    });
  });

  it("--strict fails for a plugin folder that is not loaded (no one has reviewed its grants)", async () => {
    const plugins = path.join(tmpDir(), "rejected-plugins");
    writePluginFolder(plugins, "ok", { code: "export default { start() {} };\n" });
    writePluginFolder(plugins, "broken", { manifest: { version: "one" } });
    const report = await buildAuditReport({
      config: validateConfig({ plugins: { directory: plugins } }, "test"),
    });
    expect(report.rejected.map((r) => path.basename(r.directory))).toEqual(["broken"]);
    expect(report.strict.ok).toBe(false);
    expect(report.strict.problems[0]).toMatch(/broken is not loaded: [\s\S]*version/);
  });

  it("--strict exits 1 when a plugin requests an ungranted capability, 0 when everything requested is granted", async () => {
    const file = path.join(import.meta.dirname, "../fixtures/audit/strict-fails.yaml");
    let out = "";
    const env: NodeJS.ProcessEnv = {};
    expect(
      await auditCommand({ config: file, strict: true, json: true, env, write: (t) => (out += t) }),
    ).toBe(1);
    expectValid(JSON.parse(out));
    expect(await auditCommand({ config: file, strict: false, env, write: () => {} })).toBe(0);
    const ok = path.join(import.meta.dirname, "../fixtures/audit/strict-passes.yaml");
    expect(await auditCommand({ config: ok, strict: true, env, write: () => {} })).toBe(0);
  });
});

describe("rosey audit: grants not requested, manifest subscriptions", () => {
  const tmp = useTempDir("rosey-audit-grants-", "all");
  let report: AuditReport;

  beforeAll(async () => {
    const dir = path.join(tmp(), "plugins");
    const subscribe = [
      "rosey.events.message",
      "rosey.events.>",
      "rosey.events.pm",
      "rosey.platform.>",
      "rosey.plugins.greedy.tick",
    ];
    writePluginFolder(dir, "greedy", { manifest: { capabilities: ["chat.send", "events.read"], subscribe } });
    writePluginFolder(dir, "shelved", { manifest: { subscribe: ["rosey.platform.>"] } });
    const grants = validateConfig(
      {
        plugins: {
          directory: dir,
          entries: { greedy: { grants: ["basic", "users.ban"] }, shelved: { enabled: false } },
        },
      },
      "audit-grants-test",
    );
    report = await buildAuditReport({ config: grants });
  });

  it("lists what the config grants that the manifest does not request, with the entry that grants it", () => {
    expectValid(report);
    const greedy = report.plugins.find((p) => p.name === "greedy")!;
    expect(greedy.effective).toEqual(["chat.send", "events.read"]);
    const basic = "plugins.entries.greedy.grants: basic";
    expect(greedy.grantedNotRequested).toEqual([
      ...["chat.pm", "users.list", "channel.read", "playlist.read", "commands.list", "storage"].map((c) => ({
        capability: c,
        via: [basic],
      })),
      { capability: "users.ban", via: ["plugins.entries.greedy.grants: users.ban"] },
    ]);
    const text = formatAuditReport(report);
    expect(text).toContain(
      "  granted, not requested: users.ban (via plugins.entries.greedy.grants: users.ban) — would take effect if a manifest update requests it\n",
    );
    expect(text).toContain(
      `  granted, not requested: chat.pm, users.list, channel.read, playlist.read, commands.list, storage (via ${basic}) — would take effect if a manifest update requests it\n`,
    );
    // Only what reaches past the basic group is a finding; none of it fails --strict.
    expect(text).toContain(
      "! greedy is granted, without requesting them, users.ban (plugins.entries.greedy.grants: users.ban): a manifest update that requests them gets them with no config change",
    );
    expect(report.strict.problems.some((p) => p.includes("without requesting"))).toBe(false);
  });

  it("shows each manifest subscription, what covers it, what it does not deliver, and which are refused at start", () => {
    const greedy = report.plugins.find((p) => p.name === "greedy")!;
    const events = { subject: "rosey.events.>", capability: "events.read" };
    expect(greedy.manifestSubscribe).toEqual([
      { pattern: "rosey.events.message", coveredBy: events, withheld: [] },
      { pattern: "rosey.events.>", coveredBy: events, withheld: ["rosey.events.pm"] },
      // chat.pm is granted (basic) but not requested: not effective, so PMs are not its to read.
      { pattern: "rosey.events.pm", coveredBy: null, withheld: [] },
      { pattern: "rosey.platform.>", coveredBy: null, withheld: [] },
      {
        pattern: "rosey.plugins.greedy.tick",
        coveredBy: { subject: "rosey.plugins.greedy.>", capability: null },
        withheld: [],
      },
    ]);
    expect(greedy.subjects.withheld).toEqual(["rosey.events.pm"]);

    const text = formatAuditReport(report);
    expect(text).toContain(
      "  subscribe:   rosey.plugins.greedy.>, rosey.events.>  (not delivered: rosey.events.pm, private: needs chat.pm)\n" +
        "  request:     rosey.plugins.greedy.>\n" +
        "  listens to:  rosey.events.message  (covered by rosey.events.>, events.read)\n" +
        "               rosey.events.>  (covered by rosey.events.>, events.read; not delivered: rosey.events.pm, private: needs chat.pm)\n" +
        "               rosey.events.pm  NOT COVERED: refused at every start and counted as a violation\n" +
        "               rosey.platform.>  NOT COVERED: refused at every start and counted as a violation\n" +
        "               rosey.plugins.greedy.tick  (covered by rosey.plugins.greedy.>, its own namespace)\n",
    );
    // A refusal at every start fails --strict for an enabled plugin; a disabled one never starts.
    const problem =
      "greedy subscribes (manifest) to patterns its grants do not cover: rosey.events.pm, rosey.platform.>; each is refused and counted as a violation at every start";
    expect(report.strict.problems).toContain(problem);
    expect(text).toContain(`! ${problem}`);
    expect(report.strict.problems.some((p) => p.startsWith("shelved"))).toBe(false);
    expect(text).toMatch(
      /\nshelved 1\.0\.0 \(disabled\)\n[\s\S]*?listens to: {2}rosey\.platform\.> {2}NOT COVERED/,
    );
  });
});

describe("rosey audit (platform running)", () => {
  const nats = usePrivateNats();
  let bus: Bus;
  let intruderSha: string;

  beforeAll(async () => {
    const intruder = path.join(FIXTURES, "intruder");
    intruderSha = sha256(await bundlePlugin(path.join(intruder, "index.js"), intruder));
    bus = await createBus({ url: nats.url, source: "core", logger: silentLogger() });
    // greeter runs an older build, version and grants than disk and config now give; intruder runs as on disk.
    bus.subscribe("rosey.monitoring.plugins", (m) => {
      m.respond({
        plugins: [
          {
            name: "greeter",
            version: "0.9.0",
            state: "suspended",
            restarts: 2,
            violations: 7,
            lastError: "severe violation",
            codeSha256: "a".repeat(64),
            grants: { requested: ["chat.send", "events.read"], effective: ["chat.send"], missing: [] },
          },
          {
            name: "intruder",
            version: "1.0.0",
            state: "running",
            codeSha256: intruderSha,
            grants: { requested: ["users.kick", "chat.send"], effective: ["chat.send"], missing: [] },
          },
        ],
        rejected: [],
      });
    });
    await bus.flush();
  });

  afterAll(async () => {
    await bus?.close();
  });

  it("takes each plugin's state from rosey.monitoring.plugins", async () => {
    const report = await buildAuditReport({ config, natsUrl: nats.url });
    expectValid(report);
    expect(report.platform).toMatchObject({ reachable: true, url: redactUrl(nats.url) });
    expect(report.plugins.find((p) => p.name === "greeter")).toMatchObject({
      state: "suspended",
      live: { restarts: 2, violations: 7, lastError: "severe violation" },
    });
    expect(report.plugins.find((p) => p.name === "welcomer")?.state).toBe("not running");
  });

  it("says where the running plugin differs from disk and config, and what applies the difference", async () => {
    const report = await buildAuditReport({ config, natsUrl: nats.url });
    expectValid(report);
    const greeter = report.plugins.find((p) => p.name === "greeter")!;
    expect(greeter.live).toEqual({
      version: "0.9.0",
      restarts: 2,
      violations: 7,
      lastError: "severe violation",
      codeSha256: "a".repeat(64),
      effective: ["chat.send"],
      drift: [
        { what: "code", running: "a".repeat(64), onDisk: greeter.codeSha256, apply: "reload" },
        { what: "version", running: "0.9.0", onDisk: "1.0.0", apply: "restart" },
        {
          what: "effective",
          running: ["chat.send"],
          onDisk: ["chat.send", "events.read"],
          apply: "restart",
        },
      ],
    });
    // Same code, same grants (in another order): nothing to say.
    expect(report.plugins.find((p) => p.name === "intruder")?.live).toMatchObject({
      codeSha256: intruderSha,
      drift: [],
    });

    const text = formatAuditReport(report);
    const block = text.slice(text.indexOf("\ngreeter 1.0.0\n"), text.indexOf("\nhanger 1.0.0\n"));
    expect(block).toContain(
      `  LIVE DIFFERS: running code differs from disk: running aaaaaaaaaaaa…, on disk ${greeter.codeSha256!.slice(0, 12)}…; reload to apply (rosey plugin reload greeter)\n` +
        "  LIVE DIFFERS: running version 0.9.0 differs from the manifest's 1.0.0; restart the platform to apply (a reload does not re-read the manifest)\n" +
        "  LIVE DIFFERS: the running gate enforces chat.send, the config now gives chat.send, events.read; restart the platform to apply\n",
    );
    expect(block).toContain(
      "  running with: chat.send  (the running gate; the lines below are the config's)\n",
    );
    expect(block).toContain("  why:         severe violation\n");
    expect(text).toContain(
      "! greeter: the running gate enforces chat.send, the config now gives chat.send, events.read; restart the platform to apply",
    );
    expect(text).not.toMatch(/intruder.*LIVE DIFFERS|! intruder: running/);
    // Differences from the running platform are for the reviewer: the config itself may be right.
    expect(report.strict.problems.filter((p) => p.startsWith("greeter"))).toEqual([]);
  });

  it("reports 'not running' within the timeout when nothing listens at the URL", async () => {
    const started = Date.now();
    const report = await buildAuditReport({ config, natsUrl: "nats://127.0.0.1:1", timeoutMs: 500 });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(report.platform.reachable).toBe(false);
    expect(report.plugins.every((p) => p.state === "not running" || p.state === "disabled")).toBe(true);
  });
});

describe("rosey audit (platform answering something else)", () => {
  const nats = usePrivateNats();
  let bus: Bus;

  beforeAll(async () => {
    bus = await createBus({ url: nats.url, source: "core", logger: silentLogger() });
    bus.subscribe("rosey.monitoring.plugins", (m) => {
      m.respond({ plugins: [{ name: "greeter", state: "hacked" }] });
    });
    await bus.flush();
  });

  afterAll(async () => {
    await bus?.close();
  });

  it("an answer that is not a plugin list is reported as such, not trusted", async () => {
    const report = await buildAuditReport({ config, natsUrl: nats.url });
    expectValid(report);
    expect(report.platform).toMatchObject({
      reachable: false,
      error: expect.stringMatching(
        /^rosey\.monitoring\.plugins answered something else than a plugin list: 'plugins\.0\.state'/,
      ),
    });
    expect(report.plugins.every((p) => p.live === null)).toBe(true);
  });
});

describe("rosey audit: storage and migrations", () => {
  const tmp = useTempDir("rosey-audit-data-", "all");
  const ESC = "\u001b";
  let config: ReturnType<typeof validateConfig>;
  let pluginsDir: string;

  const plugin = (name: string, manifest: Record<string, unknown>, migrations: Record<string, string> = {}) =>
    writePluginFolder(pluginsDir, name, { manifest, migrations });

  const table = (name: string) =>
    `-- UP\nCREATE TABLE ${name} ("key" TEXT PRIMARY KEY);\n-- DOWN\nDROP TABLE ${name};\n`;

  beforeAll(async () => {
    const root = tmp();
    pluginsDir = path.join(root, "plugins");
    // Asks for far more records than the operator allows, declares two collections (one with a schema);
    // v1 is applied below, v2 is clean, v3 names a table outside its prefix (the text validator's ERROR).
    const hoardDir = plugin(
      "hoard",
      {
        capabilities: ["storage"],
        storage: {
          collections: { items: { schema: { type: "object" } }, notes: {} },
          quota: { records: 1_000_000_000 },
        },
      },
      {
        "001_items.sql": table("hoard_items"),
        "002_more.sql": table("hoard_more"),
        "003_outside.sql": table("plugin_things"),
      },
    );
    // Passes the text validator (it sees only the first name after FROM); SQLite's rehearsal refuses it.
    plugin(
      "sneaky",
      { capabilities: ["storage"] },
      {
        "001_copy.sql": `-- UP\nCREATE TABLE sneaky_x ("key" TEXT);\nINSERT INTO sneaky_x SELECT "key" FROM sneaky_x, plugin_records;\n-- DOWN\nDROP TABLE sneaky_x;\n`,
      },
    );
    // Not granted storage: its migrations (one with an ERROR, quoting a name full of escapes) never run unasked.
    plugin(
      "stowaway",
      { capabilities: ["chat.send"] },
      { "001_x.sql": table(`"evil${ESC}]0;pwned${ESC}\\\u202e"`) },
    );
    plugin("dormant", { capabilities: ["storage"] }, { "001_x.sql": table("dormant_x") });
    plugin("plain", { capabilities: ["chat.send"] });
    // ajv quotes an unresolvable $ref verbatim in the reason the schema is refused: a forged report line.
    plugin("forger", { storage: { collections: { c: { schema: { $ref: "#/x\n! forged" } } } } });
    plugin("misnamed", { capabilities: ["storage"] }, { "1_x.sql": table("misnamed_x") });

    config = validateConfig(
      {
        dataDir: root,
        database: { maxQuota: { records: 1_000 } },
        plugins: {
          directory: pluginsDir,
          entries: {
            hoard: { grants: ["storage"] },
            sneaky: { grants: ["storage"] },
            stowaway: { grants: ["chat.send"] },
            dormant: { enabled: false, grants: ["storage"] },
            plain: { grants: ["chat.send"] },
            misnamed: { grants: ["storage"] },
          },
        },
      },
      "audit-data-test",
    );
    const db = await openDatabase({ engine: "sqlite", file: path.join(root, "rosey.sqlite") });
    const runner = new MigrationRunner(db, { actor: "test" });
    await runner.applyCore(loadCoreMigrations(db.engine));
    await runner.apply(loadPluginMigrations("hoard", hoardDir, db.engine), { toVersion: 1 });
    await db.close();
  });

  const byName = (report: AuditReport, name: string) => report.plugins.find((p) => p.name === name)!;
  const withDatabase = () => buildAuditReport({ config, openAuditLog: () => openAuditLog(config, {}) });

  it("storage: effective, declared collections with their schemas, the quota as the database service caps it", async () => {
    const report = await buildAuditReport({ config });
    expectValid(report);
    const hoard = byName(report, "hoard");
    const { manifest } = readManifest(path.join(pluginsDir, "hoard"));
    expect(hoard.storage).toEqual({
      effective: true,
      collections: [
        { name: "items", schema: true, schemaError: null },
        { name: "notes", schema: false, schemaError: null },
      ],
      quota: {
        requested: { records: 1_000_000_000, bytes: null },
        effective: policyFromManifest(manifest, config.database.maxQuota).quota,
        capped: true,
      },
    });
    expect(hoard.storage.quota.effective.records).toBe(1_000);
    expect(byName(report, "plain").storage).toMatchObject({
      effective: false,
      collections: [],
      quota: { requested: { records: null, bytes: null }, capped: false },
    });
    expect(byName(report, "dormant").storage.effective).toBe(true);

    const text = formatAuditReport(report);
    expect(text).toMatch(
      /hoard 1\.0\.0\n[\s\S]*?\n {2}storage: {5}effective; collections: items \(schema\), notes; quota 1000 records, 10485760 bytes {2}! capped by database\.maxQuota \(asked 1000000000 records\)\n/,
    );
    expect(text).toMatch(/plain 1\.0\.0\n[\s\S]*?\n {2}storage: {5}not requested; collections: —;/);
    expect(text).toContain(
      "! hoard asks storage.quota.records 1000000000, above database.maxQuota.records: it gets 1000",
    );
  });

  it("migrations without a database: files, load errors, text-validator ERRORs of every file, who applies them", async () => {
    const report = await buildAuditReport({ config });
    const hoard = byName(report, "hoard");
    expect(hoard.migrations).toMatchObject({
      files: 3,
      loadError: null,
      notAutoApplied: [],
      appliedVersion: null,
      pending: null,
      databaseError: null,
      engineChecked: false,
    });
    expect(hoard.migrations.errors).toEqual([
      expect.objectContaining({
        version: 3,
        section: "up",
        line: 2,
        message: expect.stringMatching(/'plugin_things'/),
      }),
      expect.objectContaining({ version: 3, section: "down" }),
    ]);
    // Only the engine's check catches this one, and it needs the database.
    expect(byName(report, "sneaky").migrations).toMatchObject({ files: 1, errors: [], engineChecked: false });
    expect(byName(report, "stowaway").migrations.notAutoApplied).toEqual(["not granted storage"]);
    expect(byName(report, "dormant").migrations.notAutoApplied).toEqual(["disabled"]);
    expect(byName(report, "plain").migrations).toMatchObject({ files: 0, errors: [] });
    expect(byName(report, "misnamed").migrations).toMatchObject({
      files: null,
      loadError: expect.stringMatching(/file names must be NNN_description\.sql/),
    });

    const text = formatAuditReport(report);
    expect(text).toMatch(
      /\n {2}migrations: {2}3 files, ledger not read \(no database\), 2 ERRORs \(text check only\)\n {15}ERROR v3 UP line 2: 'plugin_things'/,
    );
    expect(text).toMatch(
      /\n {2}migrations: {2}1 file, ledger not read \(no database\), no ERRORs \(text check only\)\n/,
    );
    expect(text).toMatch(/\n {2}migrations: {2}1 file, .*; not auto-applied: disabled\n/);
    expect(text).toMatch(/\n {2}migrations: {2}none\n/);
    expect(text).toMatch(/\n {2}migrations: {2}cannot load: Cannot load migrations of 'misnamed'/);
  });

  it("migrations with the database: applied version and pending from the ledger, the engine's check, read-only", async () => {
    const ledgerRows = async () => {
      const db = await openDatabase({ engine: "sqlite", file: path.join(config.dataDir, "rosey.sqlite") });
      try {
        return [await db.prisma.pluginSchemaMigration.count(), await db.prisma.migrationLock.count()];
      } finally {
        await db.close();
      }
    };
    const before = await ledgerRows();
    const report = await withDatabase();
    expectValid(report);
    expect(await ledgerRows()).toEqual(before);

    // The text validator's ERRORs come first; as in `rosey migrate status`, the engine waits for them.
    expect(byName(report, "hoard").migrations).toMatchObject({
      files: 3,
      appliedVersion: 1,
      pending: 2,
      databaseError: null,
      engineChecked: false,
      errors: [expect.objectContaining({ version: 3 }), expect.objectContaining({ version: 3 })],
    });
    expect(byName(report, "sneaky").migrations).toMatchObject({
      appliedVersion: 0,
      pending: 1,
      engineChecked: true,
      errors: [
        {
          version: 1,
          section: "up",
          line: 3,
          message: expect.stringMatching(/^Not allowed in a plugin migration: .*plugin_records/),
        },
      ],
    });

    const text = formatAuditReport(report);
    expect(text).toMatch(
      /\n {2}migrations: {2}3 files, applied v1, 2 pending, 2 ERRORs \(text check only\)\n/,
    );
    expect(text).toMatch(
      /\n {2}migrations: {2}1 file, none applied, 1 pending, 1 ERROR\n {15}ERROR v1 UP line 3: Not allowed in a plugin migration: /,
    );
  });

  it("migrations the ledger makes refused outright: a changed applied file, another owner's tables under an overlapping prefix", async () => {
    const root = path.join(tmp(), "refusals");
    const dir = path.join(root, "plugins");
    const write = (name: string, sql: string) =>
      writePluginFolder(dir, name, {
        manifest: { capabilities: ["storage"] },
        migrations: { "001_x.sql": sql },
      });
    const edited = write("edited", table("edited_x"));
    const removed = write("vault-keys", table("vault_keys_secrets"));
    const refusals = validateConfig(
      {
        dataDir: root,
        plugins: {
          directory: dir,
          entries: { edited: { grants: ["storage"] }, vault: { grants: ["storage"] } },
        },
      },
      "audit-refusals-test",
    );
    const db = await openDatabase({ engine: "sqlite", file: path.join(root, "rosey.sqlite") });
    const runner = new MigrationRunner(db, { actor: "test" });
    await runner.applyCore(loadCoreMigrations(db.engine));
    await runner.apply(loadPluginMigrations("edited", edited, db.engine), {});
    await runner.apply(loadPluginMigrations("vault-keys", removed, db.engine), {});
    await db.close();
    // After it was applied, edited's migration changes; vault-keys' folder goes, and vault is installed.
    writeFileSync(path.join(edited, "migrations", "001_x.sql"), table("edited_y"));
    rmSync(removed, { recursive: true });
    write("vault", table("vault_notes"));

    const report = await buildAuditReport({
      config: refusals,
      openAuditLog: () => openAuditLog(refusals, {}),
    });
    expectValid(report);
    expect(byName(report, "edited").migrations.refusal).toMatch(
      /^CHECKSUM_MISMATCH: .*changed after it was applied/,
    );
    expect(byName(report, "vault").migrations.refusal).toMatch(
      /^PLUGIN_PREFIX_CLASH: .*'vault-keys'.*whose tables are still in the database/,
    );
    const text = formatAuditReport(report);
    expect(text).toContain("! edited's migrations are refused: CHECKSUM_MISMATCH: ");
    expect(text).toContain("! vault's migrations are refused: PLUGIN_PREFIX_CLASH: ");
    expect(text).toMatch(/\n {2}migrations: {2}1 file, applied v1, 0 pending, REFUSED \(below\)\n/);
    expect(report.strict.ok).toBe(false);
  });

  it("findings: capped quota, migrations without storage, ERRORs pending; --strict fails only for what would be auto-applied", async () => {
    const report = await withDatabase();
    const text = formatAuditReport(report);
    const findings = text.split("\n").filter((l) => l.startsWith("! "));
    expect(findings).toEqual([
      "! hoard asks storage.quota.records 1000000000, above database.maxQuota.records: it gets 1000",
      "! hoard has ERRORs in migrations not yet applied (v3): `rosey migrate` and the database service refuse to apply them",
      expect.stringMatching(
        /^! misnamed's migrations cannot be loaded: Cannot load migrations of 'misnamed'/,
      ),
      "! sneaky has ERRORs in migrations not yet applied (v1): `rosey migrate` and the database service refuse to apply them",
      "! stowaway has migrations but is not granted storage: the database service does not apply them (`rosey migrate stowaway apply` would)",
      "! stowaway has ERRORs in migrations not yet applied (v1): `rosey migrate` and the database service refuse to apply them",
    ]);
    // The database service would apply hoard's, sneaky's and misnamed's at start, and cannot.
    expect(report.strict).toEqual({
      ok: false,
      problems: [findings[1]!.slice(2), findings[2]!.slice(2), findings[3]!.slice(2)],
    });
  });

  it("plugin-controlled text in the new fields is escaped, in the text and the JSON", async () => {
    let text = "";
    let json = "";
    const configFile = path.join(config.dataDir, "rosey.json");
    writeFileSync(configFile, JSON.stringify(config));
    await auditCommand({ config: configFile, env: {}, write: (t) => (text += t) });
    await auditCommand({ config: configFile, env: {}, json: true, write: (t) => (json += t) });
    for (const out of [text, json]) {
      expect(out).not.toContain(ESC);
      expect(out).not.toContain("\u202e");
      expect(out).not.toMatch(/^! forged/m);
    }
    expect(text).toContain(
      "collections: c (schema refused: can't resolve reference #/x\\u000a! forged from id #)",
    );
    expect(text).toContain("ERROR v1 UP line 2: 'evil\\u001b]0;pwned\\u001b\\\\u202e' does not carry");
    const stowaway = (JSON.parse(json) as AuditReport).plugins.find((p) => p.name === "stowaway")!;
    expect(stowaway.migrations.errors[0]?.message).toContain("evil\\u001b]0;pwned");
  });
});
