import { type MetricValue, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import {
  MAX_PLUGIN_LABELS,
  STORAGE_DURATION_BUCKETS,
  StorageMetrics,
  UNLISTED,
} from "../../src/core/db/storage-metrics.js";
import { ERROR_CODES } from "../../src/core/errors.js";

describe("storage request metrics", () => {
  const snapshot = async (metrics: StorageMetrics) => {
    const registry = new Registry();
    registry.setDefaultLabels({ service: "database" });
    metrics.register(registry);
    const json = await registry.getMetricsAsJSON();
    const values = (name: string) => json.find((m) => m.name === name)?.values ?? [];
    return {
      requests: values("rosey_db_storage_requests_total").map(
        (v): Record<string, string | number | undefined> => ({ ...v.labels, value: v.value }),
      ),
      // A histogram's values name their series (`_bucket`, `_sum`, `_count`).
      duration: values("rosey_db_storage_request_duration_seconds") as Array<
        MetricValue<string> & { metricName?: string }
      >,
    };
  };

  it("counts by plugin, operation and outcome, and times only what it is given a duration for", async () => {
    const metrics = new StorageMetrics();
    metrics.record("quotes", "get", "ok", 0.002);
    metrics.record("quotes", "get", "ok", 0.003);
    metrics.record("quotes", "set", "QUOTA_EXCEEDED", 0.004);
    metrics.record("hog", "query", "BUSY");
    metrics.record("hog", "query", "QUERY_TIMEOUT", 5.01);
    const { requests, duration } = await snapshot(metrics);
    expect(requests).toEqual(
      expect.arrayContaining([
        { service: "database", plugin: "quotes", operation: "get", outcome: "ok", value: 2 },
        { service: "database", plugin: "quotes", operation: "set", outcome: "QUOTA_EXCEEDED", value: 1 },
        { service: "database", plugin: "hog", operation: "query", outcome: "BUSY", value: 1 },
        { service: "database", plugin: "hog", operation: "query", outcome: "QUERY_TIMEOUT", value: 1 },
      ]),
    );
    expect(requests).toHaveLength(4);
    const count = (operation: string) =>
      duration.find(
        (v) =>
          v.metricName === "rosey_db_storage_request_duration_seconds_count" &&
          v.labels.operation === operation,
      )?.value;
    expect(count("get")).toBe(2);
    expect(count("set")).toBe(1);
    // BUSY was not timed: only the request cut at the statement timeout.
    expect(count("query")).toBe(1);
    const queryBuckets = duration.filter(
      (v) =>
        v.metricName === "rosey_db_storage_request_duration_seconds_bucket" && v.labels.operation === "query",
    );
    expect(queryBuckets.find((v) => v.labels.le === 5)?.value).toBe(0);
    expect(queryBuckets.find((v) => v.labels.le === 10)?.value).toBe(1);
    // No plugin label on the histogram: its series are bounded by operations × buckets.
    expect(duration.every((v) => !("plugin" in v.labels))).toBe(true);
    expect(STORAGE_DURATION_BUCKETS).toEqual([...STORAGE_DURATION_BUCKETS].sort((a, b) => a - b));
  });

  it("puts a source that is not a plugin, and an operation that is not one, under a fixed label", async () => {
    const metrics = new StorageMetrics();
    metrics.record(undefined, "get", "PERMISSION_DENIED");
    metrics.record(undefined, "get", "PERMISSION_DENIED");
    metrics.record("quotes", "frobnicate-1", "VALIDATION_FAILED");
    metrics.record("quotes", "frobnicate-2", "VALIDATION_FAILED", 0.001);
    const { requests, duration } = await snapshot(metrics);
    expect(requests).toEqual([
      { service: "database", plugin: UNLISTED, operation: "get", outcome: "PERMISSION_DENIED", value: 2 },
      { service: "database", plugin: "quotes", operation: UNLISTED, outcome: "VALIDATION_FAILED", value: 2 },
    ]);
    expect(new Set(duration.map((v) => v.labels.operation))).toEqual(new Set([UNLISTED]));
  });

  it("takes at most MAX_PLUGIN_LABELS plugin names, then counts the rest under the fixed label", async () => {
    const metrics = new StorageMetrics();
    for (let i = 0; i < MAX_PLUGIN_LABELS + 5; i++) metrics.record(`forged-${i}`, "get", "ok");
    metrics.record("forged-0", "get", "ok");
    const { requests } = await snapshot(metrics);
    expect(requests).toHaveLength(MAX_PLUGIN_LABELS + 1);
    expect(requests.find((r) => r.plugin === "forged-0")?.value).toBe(2);
    expect(requests.find((r) => r.plugin === UNLISTED)?.value).toBe(5);
  });
});

describe("error codes", () => {
  it("declares QUERY_TIMEOUT with a description, as every code has", () => {
    expect(ERROR_CODES.QUERY_TIMEOUT).toMatch(/statementTimeoutMs/);
    for (const [code, description] of Object.entries(ERROR_CODES)) {
      expect(code).toMatch(/^[A-Z][A-Z_]+$/);
      expect(description.length, code).toBeGreaterThan(10);
    }
  });
});
