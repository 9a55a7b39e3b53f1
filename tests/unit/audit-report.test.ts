import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildAuditReport, formatAuditReport } from "../../src/core/audit/audit.js";
import { auditCommand } from "../../src/core/audit/cli.js";
import { type Bus, createBus } from "../../src/core/bus.js";
import { validateConfig } from "../../src/core/config/load.js";
import { silentLogger } from "../../src/core/logger.js";
import { bundlePlugin } from "../../src/core/plugins/bundle.js";
import { resolveLimits } from "../../src/core/plugins/limits.js";
import { sha256 } from "../../src/core/plugins/manifest.js";
import { redactUrl } from "../../src/core/redact-url.js";
import { expectValidAuditReport as expectValid } from "../support/audit-schema.js";
import { usePrivateNats } from "../support/private-nats.js";

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
    expect(greeter.violations).toBeNull();

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

describe("rosey audit (platform running)", () => {
  const nats = usePrivateNats();
  let bus: Bus;

  beforeAll(async () => {
    bus = await createBus({ url: nats.url, source: "core", logger: silentLogger() });
    bus.subscribe("rosey.monitoring.plugins", (m) => {
      m.respond({
        plugins: [
          {
            name: "greeter",
            state: "suspended",
            restarts: 2,
            violations: 7,
            lastError: "severe violation",
            codeSha256: "a".repeat(64),
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
    expect(report.plugins.find((p) => p.name === "intruder")?.state).toBe("not running");
  });

  it("reports 'not running' within the timeout when nothing listens at the URL", async () => {
    const started = Date.now();
    const report = await buildAuditReport({ config, natsUrl: "nats://127.0.0.1:1", timeoutMs: 500 });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(report.platform.reachable).toBe(false);
    expect(report.plugins.every((p) => p.state === "not running" || p.state === "disabled")).toBe(true);
  });
});
