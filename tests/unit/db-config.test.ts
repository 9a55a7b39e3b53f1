import path from "node:path";
import { describe, expect, it } from "vitest";
import { configSchema } from "../../src/core/config/schema.js";
import { resolveDatabaseTarget } from "../../src/core/db/connection.js";
import { kvRequestSchemas, pluginOfSource } from "../../src/core/db/kv-protocol.js";

const config = (database: object = {}) => configSchema.parse({ dataDir: "/srv/rosey", database });

describe("database choice", () => {
  it("prefers DATABASE_URL, then database.url, then database.path, then <dataDir>/rosey.sqlite", () => {
    const pg = "postgresql://u:p@db:5432/rosey?connection_limit=4";
    expect(
      resolveDatabaseTarget(config({ url: "postgres://x/y", path: "a.sqlite" }), { DATABASE_URL: pg }),
    ).toEqual({
      engine: "postgresql",
      url: pg,
      poolSize: 4,
    });
    expect(resolveDatabaseTarget(config({ url: "postgres://x/y", path: "a.sqlite" }), {})).toEqual({
      engine: "postgresql",
      url: "postgres://x/y",
      poolSize: 10,
    });
    expect(resolveDatabaseTarget(config({ path: "a.sqlite" }), {})).toEqual({
      engine: "sqlite",
      file: path.resolve("/srv/rosey", "a.sqlite"),
    });
    expect(resolveDatabaseTarget(config(), {})).toEqual({
      engine: "sqlite",
      file: "/srv/rosey/rosey.sqlite",
    });
    expect(resolveDatabaseTarget(config({ url: "file:db/x.sqlite" }), {})).toEqual({
      engine: "sqlite",
      file: "/srv/rosey/db/x.sqlite",
    });
  });

  it("refuses other URL schemes with CONFIG_INVALID, without echoing the password", () => {
    let err: unknown;
    try {
      resolveDatabaseTarget(config(), { DATABASE_URL: "mysql://root:hunter2@db/rosey" });
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({
      code: "CONFIG_INVALID",
      message: expect.stringContaining("mysql://root:***@db/rosey"),
    });
    expect((err as Error).message).not.toContain("hunter2");
  });
});

describe("storage protocol schemas", () => {
  it("takes the namespace only from a plugin source", () => {
    expect(pluginOfSource("plugin:quotes")).toBe("quotes");
    expect(pluginOfSource("plugin:my-plugin")).toBe("my-plugin");
    for (const s of [
      "core",
      "plugin:",
      "plugin:Quotes",
      "plugin:a.b",
      "plugin:a>",
      "connector:cytube",
      "plugin:quotes ",
    ]) {
      expect(pluginOfSource(s)).toBeUndefined();
    }
  });

  it("validates every operation's request strictly, with defaults", () => {
    expect(kvRequestSchemas.query.parse({ collection: "quotes" })).toEqual({
      collection: "quotes",
      limit: 100,
      offset: 0,
    });
    expect(kvRequestSchemas.query.safeParse({ collection: "q", offset: -1 }).success).toBe(false);
    expect(kvRequestSchemas.query.parse({ collection: "q", order: { field: "n" } }).order).toEqual({
      field: "n",
      direction: "asc",
    });
    expect(kvRequestSchemas.set.safeParse({ collection: "q", key: "k", value: null }).success).toBe(false);
    expect(kvRequestSchemas.get.safeParse({ collection: "q", key: "k", extra: 1 }).success).toBe(false);
    expect(kvRequestSchemas.get.safeParse({ collection: "q", key: "x".repeat(257) }).success).toBe(false);
    expect(kvRequestSchemas.count.safeParse({ collection: "q", filter: { "a.b": 1 } }).success).toBe(false);
    expect(kvRequestSchemas.count.safeParse({ collection: "q", filter: { ok_field: [1] } }).success).toBe(
      true,
    );
  });
});
