import { cpSync, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Bus, createBus } from "../../src/core/bus.js";
import { loadConfig } from "../../src/core/config/load.js";
import { silentLogger } from "../../src/core/logger.js";
import { formatHealth, gatherHealth, healthCommand, metricsCommand } from "../../src/core/monitoring/cli.js";
import type { MetricsSnapshot } from "../../src/core/monitoring/metrics.js";
import { gatherMetrics } from "../../src/core/monitoring/prometheus.js";
import { type Rosey, startRosey } from "../../src/core/orchestrator.js";
import { redactUrl } from "../../src/core/redact-url.js";
import { SUBJECTS } from "../../src/core/subjects.js";
import { sayAsNewUser } from "../support/bus.js";
import { usePrivateNats } from "../support/private-nats.js";
import { tempDirForTest, useTempDir } from "../support/temp-dir.js";
import { startTestRosey } from "../support/test-rosey.js";

/**
 * `rosey.monitoring.health` and `rosey.monitoring.metrics` from a running platform: the core and the
 * database service (its own process) both answer; a plugin that could not be loaded makes the core
 * degraded and says which; commands the router completes are counted by plugin and status.
 */
describe("health and metrics of a running platform", () => {
  const nats = usePrivateNats();
  const dir = useTempDir("rosey-monitoring-", "all");
  let rosey: Rosey | undefined;
  let client: Bus;
  const periodic: MetricsSnapshot[] = [];

  beforeAll(async () => {
    const plugins = path.join(dir(), "plugins");
    mkdirSync(path.join(plugins, "broken"), { recursive: true });
    cpSync(path.resolve("plugins/dice"), path.join(plugins, "dice"), { recursive: true });
    writeFileSync(path.join(plugins, "broken", "plugin.json"), '{ "name": "Broken!" }');
    client = await createBus({ url: nats.url, source: "connector:test", logger: silentLogger() });
    client.subscribe<MetricsSnapshot>(SUBJECTS.monitoringMetrics, (m) => {
      if (!m.replyTo) periodic.push(m.envelope.data);
    });
    await client.flush();
    rosey = await startTestRosey(nats.url, {
      dataDir: path.join(dir(), "data"),
      platforms: [{ type: "external", name: "test" }],
      plugins: { directory: plugins, entries: { dice: { grants: ["chat.send"] } } },
      monitoring: { metricsIntervalMs: 1_000 },
    });
  }, 90_000);

  afterAll(async () => {
    await rosey?.stop();
    await client?.close();
  });

  it("every service answers one health request; the rejected plugin makes the core degraded", async () => {
    const health = await gatherHealth(nats.url, 1_500);
    expect(health.services.map((s) => s.service)).toEqual(["core", "database"]);
    const [core, database] = health.services;
    expect(core!.pid).toBe(process.pid);
    expect(core!.status).toBe("degraded");
    const plugins = core!.checks.find((c) => c.name === "plugins")!;
    expect(plugins.status).toBe("degraded");
    expect(plugins.detail).toMatch(/^1 of 2 running; .*broken not loaded/);
    expect(core!.checks).toContainEqual({
      name: "database process",
      status: "ok",
      detail: expect.any(String),
    });
    expect(database!.pid).not.toBe(process.pid);
    expect(database!.status).toBe("ok");
    expect(database!.checks.map((c) => c.name)).toEqual(["database", "ingestion"]);
    expect(database!.checks[0]!.detail).toMatch(/answered in/);
    expect(health.status).toBe("degraded");
    expect(formatHealth(health)).toMatch(/: DEGRADED\n {2}core \(pid \d+, v[\d.]+, up \d+ s\): degraded\n/);
  });

  it("reports only the service named, and which others answered when none is of that name", async () => {
    const health = await gatherHealth(nats.url, 800, "database");
    expect(health.services.map((s) => s.service)).toEqual(["database"]);
    expect(health.status).toBe("ok");
    const misspelt = await gatherHealth(nats.url, 800, "databse");
    expect(misspelt).toMatchObject({ status: "down", services: [], others: ["core", "database"] });
    expect(formatHealth(misspelt)).toContain("no service of that name answered; these did: core, database");
  });

  it("rosey health exits 1 when a service is not ok, and prints JSON on request", async () => {
    let out = "";
    const code = await healthCommand({
      nats: nats.url,
      json: true,
      timeoutMs: 1_000,
      write: (t) => (out += t),
    });
    expect(code).toBe(1);
    expect(JSON.parse(out)).toMatchObject({
      status: "degraded",
      services: [{ service: "core" }, { service: "database" }],
    });
  });

  it("counts completed commands by plugin and status; the core publishes metrics periodically, the database service on request", async () => {
    const replies: string[] = [];
    client.subscribe<{ text: string }>(
      SUBJECTS.actionsChatSend,
      (m) => void replies.push(m.envelope.data.text),
    );
    const say = (content: string) => sayAsNewUser(client, content);
    say("!roll 2d6");
    say("!nosuchcommand");
    await expect.poll(() => replies.length, { timeout: 10_000 }).toBe(2);

    const reply = await client.request<MetricsSnapshot>(
      SUBJECTS.monitoringMetrics,
      { service: "core" },
      { timeoutMs: 2_000 },
    );
    const metric = (name: string) => reply.data.metrics.find((m) => m.name === name);
    const commands = metric("rosey_commands_total")!.values;
    expect(commands).toContainEqual(
      expect.objectContaining({
        value: 1,
        labels: expect.objectContaining({ plugin: "dice", status: "ok" }),
      }),
    );
    expect(commands).toContainEqual(
      expect.objectContaining({
        value: 1,
        labels: expect.objectContaining({ plugin: "", status: "unknown" }),
      }),
    );
    const durations = metric("rosey_command_duration_seconds")!.values;
    expect(durations).toContainEqual(
      expect.objectContaining({
        metricName: "rosey_command_duration_seconds_count",
        value: 1,
        labels: expect.objectContaining({ plugin: "dice" }),
      }),
    );
    expect(metric("rosey_plugins")!.values).toContainEqual(
      expect.objectContaining({ value: 1, labels: expect.objectContaining({ state: "running" }) }),
    );
    expect(metric("process_resident_memory_bytes")!.values[0]!.value).toBeGreaterThan(0);

    const violation = {
      plugin: "dice",
      operation: "publish",
      subject: "x",
      capability: null,
      reason: "r",
      count: 1,
    };
    const gate = await createBus({ url: nats.url, source: "core", logger: silentLogger() });
    gate.publish(SUBJECTS.securityViolation, { ...violation, severe: true });
    await gate.close();
    client.publish(SUBJECTS.securityViolation, { ...violation, severe: false });
    await expect
      .poll(
        async () =>
          (
            await client.request<MetricsSnapshot>(
              SUBJECTS.monitoringMetrics,
              { service: "core" },
              { timeoutMs: 2_000 },
            )
          ).data.metrics.find((m) => m.name === "rosey_security_violations_total")?.values,
      )
      .toEqual([
        expect.objectContaining({
          value: 1,
          labels: expect.objectContaining({ plugin: "dice", severe: "true" }),
        }),
      ]);

    await expect.poll(() => periodic.some((s) => s.service === "core"), { timeout: 5_000 }).toBe(true);
    // Its NATS user may not publish where it listens (component-users.ts): it answers requests only.
    expect(periodic.some((s) => s.service === "database")).toBe(false);
    const db = (
      await client.request<MetricsSnapshot>(
        SUBJECTS.monitoringMetrics,
        { service: "database" },
        { timeoutMs: 2_000 },
      )
    ).data;
    expect(db.metrics.map((m) => m.name)).toEqual(
      expect.arrayContaining(["rosey_db_events_written", "rosey_db_events_waiting"]),
    );
  });

  it("reports the database process degraded while it restarts after dying, then ok again", async () => {
    const database = (await gatherHealth(nats.url, 800, "database")).services[0]!;
    process.kill(database.pid, "SIGKILL");
    const processCheck = async () =>
      (await gatherHealth(nats.url, 300, "core")).services[0]?.checks.find(
        (c) => c.name === "database process",
      );
    await expect.poll(processCheck, { timeout: 5_000 }).toMatchObject({
      status: "degraded",
      detail: "died; restarting (events wait in JetStream)",
    });
    await expect.poll(processCheck, { timeout: 30_000, interval: 500 }).toMatchObject({ status: "ok" });
    const again = (await gatherHealth(nats.url, 800, "database")).services[0]!;
    expect(again.pid).not.toBe(database.pid);
    expect(again.status).toBe("ok");
  }, 45_000);
});

describe("the Prometheus bridge (rosey metrics)", () => {
  const nats = usePrivateNats();
  const dir = useTempDir("rosey-prometheus-", "all");
  let rosey: Rosey | undefined;

  beforeAll(async () => {
    mkdirSync(path.join(dir(), "plugins"));
    cpSync(path.resolve("plugins/echo"), path.join(dir(), "plugins", "echo"), { recursive: true });
    rosey = await startTestRosey(nats.url, {
      dataDir: path.join(dir(), "data"),
      platforms: [{ type: "external", name: "test" }],
      plugins: { directory: path.join(dir(), "plugins"), entries: { echo: { grants: ["chat.send"] } } },
    });
  }, 90_000);

  afterAll(async () => {
    await rosey?.stop();
  });

  it("renders every service's snapshot in the text format, each series keeping its service", async () => {
    const { snapshots, text } = await gatherMetrics(nats.url, 800);
    expect(snapshots.map((s) => s.service)).toEqual(["core", "database"]);
    expect(text).toContain("# TYPE rosey_command_duration_seconds histogram");
    expect(text).toMatch(/^rosey_plugins\{[^}]*state="running"[^}]*service="core"[^}]*\} 1$/m);
    expect(text).toMatch(/^process_resident_memory_bytes\{service="database"\} \d+$/m);
    expect(text).toMatch(/^process_resident_memory_bytes\{service="core"\} \d+$/m);
  });

  it("leaves out a malformed snapshot instead of failing the whole scrape", async () => {
    const liar = await createBus({ url: nats.url, source: "test", logger: silentLogger() });
    try {
      liar.subscribe(SUBJECTS.monitoringMetrics, (m) => {
        m.respond({
          service: "core",
          pid: 1,
          metrics: [{ name: "x", type: "gauge", values: [{ value: "nope" }] }, null],
        });
      });
      await liar.flush();
      const { snapshots, text } = await gatherMetrics(nats.url, 800);
      expect(snapshots.map((s) => s.service)).toEqual(["core", "database"]);
      expect(text).toMatch(/^process_resident_memory_bytes\{service="core"\} \d+$/m);
    } finally {
      await liar.close();
    }
  });

  it("serves GET /metrics for scraping: 200 with the text, 404 elsewhere, closed on stop", async () => {
    let out = "";
    let stop!: () => void;
    const until = new Promise<void>((resolve) => {
      stop = resolve;
    });
    const running = metricsCommand({
      nats: nats.url,
      serve: 0,
      windowMs: 500,
      until,
      write: (t) => (out += t),
    });
    await expect.poll(() => out).toMatch(/at http:\/\/127\.0\.0\.1:\d+\/metrics/);
    const url = /(http:\S+)/.exec(out)![1]!;
    const scrape = await fetch(url);
    expect(scrape.status).toBe(200);
    expect(scrape.headers.get("content-type")).toContain("text/plain");
    expect(await scrape.text()).toContain('rosey_plugins{state="running",service="core"} 1');
    expect((await fetch(url.replace("/metrics", "/"))).status).toBe(404);
    stop();
    expect(await running).toBe(0);
    await expect(fetch(url)).rejects.toThrow();
  });
});

describe("rosey health against the embedded nats-server of `rosey start`", () => {
  it("finds it from the config's dataDir alone, and reports the platform", async () => {
    const dir = tempDirForTest("rosey-health-embedded-");
    const file = path.join(dir, "rosey.yaml");
    writeFileSync(
      file,
      "version: 2\ndataDir: data\ndatabase: { enabled: false }\nplatforms: [{ type: external, name: t }]\nplugins: { directory: plugins }\n",
    );
    mkdirSync(path.join(dir, "plugins"));
    const rosey = await startRosey({ config: loadConfig({ file, env: {} }).config, logger: silentLogger() });
    try {
      let out = "";
      const code = await healthCommand({ config: file, env: {}, timeoutMs: 500, write: (t) => (out += t) });
      // Found with the credentials the runtime file holds; shown without them.
      expect(out).toContain(`Rosey health at ${redactUrl(rosey.natsUrl)}: OK`);
      expect(out).not.toContain(new URL(rosey.natsUrl).password);
      expect(code).toBe(0);
    } finally {
      await rosey.stop();
    }
    await expect(healthCommand({ config: file, env: {}, timeoutMs: 300 })).rejects.toThrow(
      /found no running platform/,
    );
  }, 60_000);
});

describe("rosey metrics --serve across a restart of the platform", () => {
  it("finds the restarted platform's embedded server again when it found it through the runtime file", async () => {
    const dir = tempDirForTest("rosey-metrics-restart-");
    const file = path.join(dir, "rosey.yaml");
    writeFileSync(
      file,
      "version: 2\ndataDir: data\ndatabase: { enabled: false }\nplatforms: [{ type: external, name: t }]\nplugins: { directory: plugins }\n",
    );
    mkdirSync(path.join(dir, "plugins"));
    const startPlatform = () =>
      startRosey({ config: loadConfig({ file, env: {} }).config, logger: silentLogger() });
    let rosey: Rosey | undefined = await startPlatform();
    const firstUrl = rosey.natsUrl;
    let stop!: () => void;
    const until = new Promise<void>((resolve) => {
      stop = resolve;
    });
    const bridge = (options: { config?: string; nats?: string }) => {
      const output = { text: "" };
      const running = metricsCommand({
        ...options,
        env: {},
        serve: 0,
        windowMs: 300,
        until,
        write: (t) => (output.text += t),
      });
      return { output, running };
    };
    // Found through <dataDir>/nats-server.json, and one told the URL (which is kept as told).
    const found = bridge({ config: file });
    const named = bridge({ nats: firstUrl });
    try {
      await expect.poll(() => found.output.text + named.output.text).toMatch(/metrics\n.*metrics\n/s);
      const [foundUrl, namedUrl] = [found, named].map((b) => /(http:\S+)/.exec(b.output.text)![1]!);
      expect((await fetch(foundUrl!)).status).toBe(200);

      await rosey.stop();
      rosey = undefined;
      const down = await fetch(foundUrl!);
      expect(down.status).toBe(503);
      expect(await down.text()).toMatch(/^cannot reach NATS/);

      rosey = await startPlatform();
      expect(rosey.natsUrl).not.toBe(firstUrl);
      const scrape = await fetch(foundUrl!);
      expect(scrape.status).toBe(200);
      expect(await scrape.text()).toMatch(/^process_resident_memory_bytes\{service="core"\} \d+$/m);
      expect(found.output.text).toContain(`the platform moved: now on ${redactUrl(rosey.natsUrl)}\n`);
      expect(found.output.text).not.toContain(new URL(rosey.natsUrl).password);
      expect((await fetch(namedUrl!)).status).toBe(503);
    } finally {
      stop();
      await Promise.all([found.running, named.running]);
      await rosey?.stop();
    }
  }, 60_000);
});

describe("rosey health with nothing running", () => {
  const nats = usePrivateNats();

  it("is down, exit 1, when no service answers", async () => {
    let out = "";
    const code = await healthCommand({ nats: nats.url, timeoutMs: 300, write: (t) => (out += t) });
    expect(code).toBe(1);
    expect(out).toContain("DOWN");
    expect(out).toContain("no service answered");
  });

  it("rosey metrics prints nothing but a comment, exit 1, when no service answers", async () => {
    let out = "";
    expect(await metricsCommand({ nats: nats.url, windowMs: 300, write: (t) => (out += t) })).toBe(1);
    expect(out).toBe(`# no Rosey service answered on ${redactUrl(nats.url)}\n`);
  });

  it("is down, exit 1, when NATS itself cannot be reached", async () => {
    let out = "";
    const code = await healthCommand({
      nats: "nats://127.0.0.1:1",
      timeoutMs: 300,
      write: (t) => (out += t),
    });
    expect(code).toBe(1);
    expect(out).toContain("cannot reach NATS");
  });
});
