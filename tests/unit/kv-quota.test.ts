import pino from "pino";
import { describe, expect, it } from "vitest";
import { configSchema } from "../../src/core/config/schema.js";
import { DEFAULT_QUOTA, manifestPolicies, policyFromManifest } from "../../src/core/db/kv-store.js";
import { writePluginFolder } from "../support/plugin-folder.js";
import { tempDirForTest } from "../support/temp-dir.js";

/**
 * A plugin asks for its storage quota in its manifest; the operator's `database.maxQuota` caps it, as
 * `sandbox.maxLimits` caps its sandbox limits (a red-team manifest asked for 1e15 records and got them).
 */
describe("storage quota ceiling", () => {
  const asking = (quota: { records?: number; bytes?: number }) => ({ storage: { quota } });

  it("caps what a manifest asks for, and the defaults, to the ceiling; leaves a smaller ask alone", () => {
    const max = { records: 500, bytes: 50_000 };
    expect(policyFromManifest(asking({ records: 1e15, bytes: 1e18 }), max).quota).toEqual(max);
    expect(policyFromManifest(asking({ records: 20, bytes: 4_000 }), max).quota).toEqual({
      records: 20,
      bytes: 4_000,
    });
    // No ask: the defaults (10,000 / 10 MiB), which a ceiling below them caps as well.
    expect(policyFromManifest(undefined, max).quota).toEqual(max);
    expect(policyFromManifest(asking({ bytes: 100 }), { records: 1e6, bytes: 1e9 }).quota).toEqual({
      records: DEFAULT_QUOTA.records,
      bytes: 100,
    });
  });

  it("without an operator ceiling a manifest cannot ask for more than the defaults", () => {
    expect(policyFromManifest(asking({ records: 1e15, bytes: 1e18 })).quota).toEqual(DEFAULT_QUOTA);
  });

  it("database.maxQuota defaults to 100,000 records and 100 MiB, and is validated", () => {
    expect(configSchema.parse({}).database.maxQuota).toEqual({ records: 100_000, bytes: 100 * 1024 * 1024 });
    expect(configSchema.parse({ database: { maxQuota: { records: 50 } } }).database.maxQuota).toEqual({
      records: 50,
      bytes: 100 * 1024 * 1024,
    });
    for (const maxQuota of [{ records: 0 }, { bytes: 1.5 }, { bytes: 1e18 }, { rows: 5 }])
      expect(configSchema.safeParse({ database: { maxQuota } }).success, JSON.stringify(maxQuota)).toBe(
        false,
      );
  });

  it("the database service's policies apply the ceiling and warn once per plugin and field, naming what was asked and allowed", () => {
    const dir = tempDirForTest("rosey-kv-quota-");
    writePluginFolder(dir, "hog", { manifest: { storage: { quota: { records: 1e15, bytes: 1e18 } } } });
    writePluginFolder(dir, "modest", { manifest: { storage: { quota: { records: 10, bytes: 1_000 } } } });
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino({ level: "info" }, { write: (line: string) => lines.push(JSON.parse(line)) });
    const policies = manifestPolicies(dir, {
      maxQuota: { records: 100_000, bytes: 1 << 20 },
      logger,
      ttlMs: 0,
    });

    expect(policies("hog").quota).toEqual({ records: 100_000, bytes: 1 << 20 });
    expect(policies("modest").quota).toEqual({ records: 10, bytes: 1_000 });
    expect(policies("unknown").quota).toEqual({ records: DEFAULT_QUOTA.records, bytes: 1 << 20 });
    policies("hog"); // re-read (ttlMs 0): the same cut is not reported again
    expect(
      lines.map(({ plugin, field, asked, allowed, msg }) => ({ plugin, field, asked, allowed, msg })),
    ).toEqual([
      {
        plugin: "hog",
        field: "storage.quota.records",
        asked: 1e15,
        allowed: 100_000,
        msg: "plugin 'hog' asks storage.quota.records 1000000000000000, above database.maxQuota.records (100000): it gets 100000",
      },
      {
        plugin: "hog",
        field: "storage.quota.bytes",
        asked: 1e18,
        allowed: 1 << 20,
        msg: "plugin 'hog' asks storage.quota.bytes 1000000000000000000, above database.maxQuota.bytes (1048576): it gets 1048576",
      },
    ]);
    expect(lines.every((l) => l.level === 40)).toBe(true); // warn
  });
});
