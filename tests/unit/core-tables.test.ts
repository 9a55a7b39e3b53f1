import { describe, expect, it } from "vitest";
import { loadCoreMigrations } from "../../src/core/migrations/files.js";
import { createdObjects } from "../../src/core/migrations/foreign-schema.js";
import { CORE_TABLES, coreTablesUnder } from "../../src/core/migrations/validator.js";
import { prefixClashes } from "../../src/core/plugins/manifest.js";

describe("Rosey's own tables, which no plugin's prefix may cover", () => {
  it.each(["sqlite", "postgresql"] as const)(
    "CORE_TABLES are exactly the tables the core migrations create on %s",
    (engine) => {
      const created = createdObjects(loadCoreMigrations(engine))
        .filter((o) => o.kind === "table")
        .map((o) => o.name.toLowerCase())
        .sort();
      expect([...CORE_TABLES].sort()).toEqual(created);
    },
  );

  it("refuses a plugin whose prefix covers a core table, alone, naming the tables", () => {
    expect(coreTablesUnder("plugin")).toEqual(["plugin_records", "plugin_schema_migrations"]);
    expect(coreTablesUnder("high-water")).toEqual(["high_water_marks"]);
    expect(coreTablesUnder("plugin-records")).toEqual([]);
    const clashes = prefixClashes(["plugin", "audit", "dice", "user"]);
    expect([...clashes.keys()].sort()).toEqual(["audit", "plugin", "user"]);
    expect(clashes.get("plugin")).toMatchObject({
      code: "PLUGIN_PREFIX_CLASH",
      message: expect.stringContaining("covers Rosey's own tables plugin_records, plugin_schema_migrations"),
    });
    expect(clashes.get("user")?.message).toContain("user_count_stats");
  });
});
