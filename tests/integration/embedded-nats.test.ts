import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { PassThrough } from "node:stream";
import { connect, ErrorCode, type NatsError } from "nats";
import pino from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { createBus } from "../../src/core/bus.js";
import { validateConfig } from "../../src/core/config/load.js";
import { isRoseyError } from "../../src/core/errors.js";
import { silentLogger } from "../../src/core/logger.js";
import { connectorUser } from "../../src/core/nats/component-users.js";
import { natsConnectOptions } from "../../src/core/nats/connect-options.js";
import { freePort, startEmbeddedNats } from "../../src/core/nats/embedded-server.js";
import {
  connectorRuntimeFile,
  platformNatsUrl,
  RUNTIME_FILE,
  runningEmbeddedNats,
} from "../../src/core/nats/runtime-file.js";
import { startRosey } from "../../src/core/orchestrator.js";
import { SUBJECTS } from "../../src/core/subjects.js";
import { sayAsNewUser } from "../support/bus.js";

/** The file's permission bits, e.g. 0o600. */
const modeOf = (file: string) => statSync(file).mode & 0o777;

describe("embedded nats-server", () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "rosey-embedded-"));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it("starts, is reachable, and leaves no process after stop", async () => {
    const server = await startEmbeddedNats({ dataDir });
    const bus = await createBus({ url: server.url, source: "t", logger: silentLogger() });
    await bus.flush();
    await bus.close();
    await server.stop();
    expect(() => process.kill(server.pid, 0)).toThrow();
  });

  it("says where it runs in the data dir while it runs, for rosey health and audit; a stale note is ignored", async () => {
    const server = await startEmbeddedNats({ dataDir });
    const config = {
      dataDir,
      nats: { serverBin: "nats-server", connectTimeoutMs: 1000, maxPayloadBytes: 1 << 20 },
    };
    expect(runningEmbeddedNats(dataDir)).toBe(server.url);
    expect(platformNatsUrl(config, {})).toBe(server.url);
    expect(platformNatsUrl(config, { NATS_URL: "nats://elsewhere:4222" })).toBe("nats://elsewhere:4222");
    await server.stop();
    expect(existsSync(path.join(dataDir, RUNTIME_FILE))).toBe(false);
    expect(platformNatsUrl(config, {})).toBeUndefined();
    // Left behind by a platform that was killed: its server's pid no longer runs.
    writeFileSync(path.join(dataDir, RUNTIME_FILE), JSON.stringify({ url: server.url, pid: server.pid }));
    expect(runningEmbeddedNats(dataDir)).toBeUndefined();
    rmSync(path.join(dataDir, RUNTIME_FILE));
  });

  it("refuses connections without its credentials: loopback is open to every local user", async () => {
    const server = await startEmbeddedNats({ dataDir });
    try {
      const url = new URL(server.url);
      expect(url.username).toBe("rosey");
      expect(url.password.length).toBeGreaterThanOrEqual(40);
      const bare = `nats://127.0.0.1:${server.port}`;
      const wrong = `nats://rosey:guess@127.0.0.1:${server.port}`;
      for (const attempt of [bare, wrong]) {
        const raw = await connect({ ...natsConnectOptions(attempt), reconnect: false }).then(
          (nc) => nc.close().then(() => undefined),
          (err: NatsError) => err,
        );
        expect(raw?.code).toBe(ErrorCode.AuthorizationViolation);
      }
      const refused = await createBus({ url: wrong, source: "t", logger: silentLogger() }).catch(
        (err: unknown) => err,
      );
      expect(isRoseyError(refused, "NATS_START_FAILED")).toBe(true);
      expect((refused as Error).message).toContain("Authorization Violation");
      expect((refused as Error).message).toContain("nats://user:password@host:port");
      expect((refused as Error).message).not.toContain("guess");

      const bus = await createBus({ url: server.url, source: "t", logger: silentLogger() });
      const got = new Promise((resolve) => bus.subscribe("rosey.t.auth", (m) => resolve(m.envelope.data)));
      await bus.flush();
      bus.publish("rosey.t.auth", "in");
      expect(await got).toBe("in");
      await bus.close();
    } finally {
      await server.stop();
    }
  });

  it("a new password at each start, kept in files only its owner can read", async () => {
    // A runtime file left readable by all (a killed platform of an older version) is replaced, not reused.
    writeFileSync(path.join(dataDir, RUNTIME_FILE), "{}", { mode: 0o644 });
    const first = await startEmbeddedNats({ dataDir });
    const confFile = path.join(dataDir, `nats-${first.port}.conf`);
    try {
      expect(modeOf(confFile)).toBe(0o600);
      expect(modeOf(path.join(dataDir, RUNTIME_FILE))).toBe(0o600);
      expect(readFileSync(confFile, "utf8")).toContain(new URL(first.url).password);
      const second = await startEmbeddedNats({ dataDir: path.join(dataDir, "second") });
      expect(new URL(second.url).password).not.toBe(new URL(first.url).password);
      await second.stop();
    } finally {
      await first.stop();
    }
    expect(existsSync(confFile)).toBe(false);
    expect(existsSync(path.join(dataDir, RUNTIME_FILE))).toBe(false);
  });

  it("removes the config file (with its password) a killed server left, and keeps a running server's", async () => {
    const running = await startEmbeddedNats({ dataDir });
    const runningConf = path.join(dataDir, `nats-${running.port}.conf`);
    // As a second SIGINT leaves it: the platform exited at once, its server died with it, the file stayed.
    const leftover = path.join(dataDir, `nats-${await freePort()}.conf`);
    writeFileSync(leftover, 'authorization { users: [{"user":"rosey","password":"left-behind"}] }\n');
    const next = await startEmbeddedNats({ dataDir });
    try {
      expect(existsSync(leftover)).toBe(false);
      expect(existsSync(runningConf)).toBe(true);
    } finally {
      await next.stop();
      await running.stop();
    }
  });

  it("rosey start on it logs its URL without the password, and the database service still joins", async () => {
    mkdirSync(path.join(dataDir, "no-plugins"));
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino({ level: "info" }, { write: (line: string) => lines.push(JSON.parse(line)) });
    const config = validateConfig(
      {
        dataDir: path.join(dataDir, "platform"),
        platforms: [{ type: "external", name: "outside" }],
        logging: { level: "warn" },
        plugins: { directory: path.join(dataDir, "no-plugins") },
      },
      "test",
    );
    const rosey = await startRosey({ config, logger, stdin: new PassThrough(), stdout: new PassThrough() });
    const password = new URL(rosey.natsUrl).password;
    try {
      const started = lines.find((l) => l.msg === "embedded nats-server started");
      expect(started?.url).toBe(rosey.natsUrl.replace(password, "***"));
      expect(lines.find((l) => l.msg === "rosey started")?.nats).toBe(started?.url);
      expect(lines.some((l) => l.msg === "service started" && l.service === "database")).toBe(true);
    } finally {
      await rosey.stop();
    }
    expect(JSON.stringify(lines)).not.toContain(password);
  });

  it("gives an external platform's connector a URL of its own, limited to a connector's subjects", async () => {
    const plugins = path.join(dataDir, "no-plugins-external");
    mkdirSync(plugins);
    const config = validateConfig(
      {
        dataDir: path.join(dataDir, "external"),
        platforms: [{ type: "external", name: "outside" }],
        logging: { level: "warn" },
        plugins: { directory: plugins },
      },
      "test",
    );
    const file = path.join(config.dataDir, connectorRuntimeFile("outside"));
    const rosey = await startRosey({ config, logger: silentLogger() });
    try {
      expect(modeOf(file)).toBe(0o600);
      const { url } = JSON.parse(readFileSync(file, "utf8")) as { url: string };
      expect(new URL(url).username).toBe("rosey-connector-outside");
      expect(new URL(url).password).not.toBe(new URL(rosey.natsUrl).password);

      const { inboxPrefix } = connectorUser("outside");
      const bus = await createBus({ url, source: "connector:outside", logger: silentLogger(), inboxPrefix });
      try {
        const said = new Promise((resolve) =>
          bus.subscribe<{ text: string }>(SUBJECTS.actionsChatSend, (m) => resolve(m.envelope.data.text)),
        );
        await bus.flush();
        sayAsNewUser(bus, "!nothing", "outside");
        expect(await said).toMatch(/Unknown command !nothing/);
      } finally {
        await bus.close();
      }
      const nc = await connect({ ...natsConnectOptions(url), inboxPrefix });
      const refused = await nc
        .request("rosey.admin.plugins.suspend", new Uint8Array(), { timeout: 2_000 })
        .catch((err: NatsError) => err);
      await nc.close();
      expect((refused as NatsError).code).toBe("PERMISSIONS_VIOLATION");
    } finally {
      await rosey.stop();
    }
    expect(existsSync(file)).toBe(false);
  });

  it("does not take another process listening on its port for itself", async () => {
    // Someone else holds the port (as when a picked free port is taken before the server binds it): the
    // port accepts connections, but the server that would answer is not ours.
    const squatter = net.createServer((socket) => socket.destroy());
    const port = await freePort();
    await new Promise<void>((resolve) => squatter.listen(port, "127.0.0.1", resolve));
    let error: unknown;
    try {
      await startEmbeddedNats({ dataDir, port });
    } catch (err) {
      error = err;
    } finally {
      squatter.close();
    }
    expect(isRoseyError(error, "NATS_START_FAILED")).toBe(true);
    expect((error as Error).message).toContain("address already in use");
  });
});
