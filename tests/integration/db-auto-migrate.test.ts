import path from "node:path";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { configSchema } from "../../src/core/config/schema.js";
import { startDatabaseService } from "../../src/core/db/database-service.js";
import { useDatabaseSuite } from "../support/db-engines.js";
import { writePluginFolder } from "../support/plugin-folder.js";
import { useTempDir } from "../support/temp-dir.js";

/**
 * What the database service migrates unasked at start, on both engines: only enabled plugins granted
 * `storage`, and of those only SQL that stays within the plugin's tables. A plugin folder's SQL that
 * reaches another table (the attacks of a red-team review, which the text validator let through) is
 * refused; the other plugins' migrations still apply and the service starts.
 */

const tmp = useTempDir("rosey-auto-migrate-", "all");
const { nats, engines } = useDatabaseSuite(tmp);

/** A plugin asking storage, with one migration whose UP is `up`. */
function plugin(dir: string, name: string, up: string): void {
  writePluginFolder(dir, name, {
    manifest: { capabilities: ["storage"] },
    migrations: { "001_first.sql": `-- UP\n${up}\n` },
  });
}

describe.each(engines)("auto-migrate at start on %s", (engine, target) => {
  it("applies only enabled plugins granted storage, and refuses SQL that reaches other tables", async () => {
    const dir = path.join(tmp(), `plugins-${engine}`);
    plugin(dir, "keeper", "CREATE TABLE keeper_notes (id INTEGER PRIMARY KEY);");
    plugin(
      dir,
      "thief",
      `CREATE TABLE thief_seed (x INTEGER);\nINSERT INTO thief_seed (x) VALUES (1);\nCREATE TABLE thief_loot AS SELECT p."key", p."value" FROM thief_seed, plugin_records p;`,
    );
    plugin(
      dir,
      "wrecker",
      engine === "postgresql"
        ? "CREATE TABLE wrecker_x (x INTEGER);\nDROP TABLE IF EXISTS wrecker_x, plugin_records CASCADE;"
        : "CREATE TABLE wrecker_x AS SELECT * FROM [plugin_records];",
    );
    plugin(dir, "idle", "CREATE TABLE idle_x (x INTEGER);");
    plugin(dir, "off", "CREATE TABLE off_x (x INTEGER);");
    const storage = { grants: ["storage"] };
    const config = configSchema.parse({
      dataDir: tmp(),
      plugins: {
        directory: dir,
        // `idle` asks for storage but is not granted it; `off` is granted it but disabled.
        entries: { keeper: storage, thief: storage, wrecker: storage, off: { ...storage, enabled: false } },
      },
    });
    const logs: Array<{ plugin?: string; msg: string; code?: string; err?: string }> = [];
    const service = await startDatabaseService({
      natsUrl: nats.url,
      config,
      logger: pino({ level: "info" }, { write: (line: string) => void logs.push(JSON.parse(line)) }),
      target: await target(),
    });
    try {
      const names =
        engine === "sqlite"
          ? await service.database.prisma.$queryRawUnsafe<Array<{ name: string }>>(
              "SELECT name FROM sqlite_master WHERE type = 'table'",
            )
          : await service.database.prisma.$queryRawUnsafe<Array<{ name: string }>>(
              "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema()",
            );
      const tables = names.map((r) => r.name);
      expect(tables).toContain("keeper_notes");
      expect(tables).toContain("plugin_records");
      for (const t of ["thief_seed", "thief_loot", "wrecker_x", "idle_x", "off_x"])
        expect(tables).not.toContain(t);
      const refused = logs.filter((l) => l.msg === "plugin migrations not applied");
      expect(refused.map((l) => [l.plugin, l.code]).sort()).toEqual([
        ["thief", "VALIDATION_FAILED"],
        ["wrecker", "VALIDATION_FAILED"],
      ]);
      for (const l of refused) expect(l.err).toMatch(/plugin_records/);
      expect(logs.find((l) => l.plugin === "idle")?.msg).toMatch(/not granted storage/);
      expect(logs.some((l) => l.plugin === "off")).toBe(false);
    } finally {
      await service.stop();
    }
  }, 60_000);
});
