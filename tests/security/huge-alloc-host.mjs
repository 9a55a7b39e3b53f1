// Child process for huge-alloc.test.ts: a whole platform (private nats-server, core bus, PluginManager
// with process isolation) running the `huge-alloc` fixture beside the canary. It triggers the attack,
// then checks the core and the canary still answer, and prints one JSON line with what it saw. If the
// allocation takes the whole process down (thread isolation), this process dies with it and prints nothing.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.resolve(here, "../../dist");
const { startEmbeddedNats } = await import(`${dist}/core/nats/embedded-server.js`);
const { createBus } = await import(`${dist}/core/bus.js`);
const { validateConfig } = await import(`${dist}/core/config/load.js`);
const { silentLogger } = await import(`${dist}/core/logger.js`);
const { PluginManager } = await import(`${dist}/core/plugins/plugin-manager.js`);

// argv: [isolation, dataDir]; the caller owns (and removes) dataDir, which outlives an aborted run.
const dataDir = process.argv[3] ?? mkdtempSync(path.join(os.tmpdir(), "rosey-huge-"));
const nats = await startEmbeddedNats({ dataDir });
const core = await createBus({ url: nats.url, source: "core", logger: silentLogger() });
const observer = await createBus({ url: nats.url, source: "test", logger: silentLogger() });
const config = validateConfig(
  {
    plugins: {
      directory: path.join(here, "fixtures"),
      enabled: ["huge-alloc", "canary"],
      entries: { "huge-alloc": { grants: ["basic"] }, canary: { grants: ["basic"] } },
    },
    sandbox: { isolation: process.argv[2] ?? "process" },
  },
  "huge-alloc",
);
const manager = new PluginManager({ bus: core, config, logger: silentLogger() });
await manager.start();
const cmd = (name, args = []) => ({
  name,
  args,
  text: "",
  user: "alice",
  rank: 1,
  platform: "console",
  channel: "console",
  correlationId: `c-${Math.random()}`,
});
const out = {};
const step = (s) => process.stderr.write(`huge-alloc-host: ${s}\n`);
step("started");
try {
  out.attack = (
    await observer.request("rosey.commands.huge-alloc.execute", cmd("huge-alloc"), { timeoutMs: 15_000 })
  ).data;
} catch (err) {
  out.attack = { error: String(err) };
}
step("attack answered");
// The host died with the allocation: the core restarts it and restores the other plugins. Wait for the
// canary to answer again (bounded), and report how long that took.
const attackedAt = Date.now();
for (;;) {
  try {
    out.canary = (
      await observer.request("rosey.commands.canary.execute", cmd("ping"), { timeoutMs: 2_000 })
    ).data;
  } catch (err) {
    out.canary = { error: String(err) };
  }
  if (out.canary.ok === true || Date.now() - attackedAt > 30_000) break;
  await new Promise((r) => setTimeout(r, 100));
}
out.canaryBackAfterMs = Date.now() - attackedAt;
out.status = manager.status().map((s) => ({ name: s.name, state: s.state, lastError: s.lastError }));
step("canary answered");
await manager.stop();
step("manager stopped");
await observer.close();
await core.close();
await nats.stop();
rmSync(dataDir, { recursive: true, force: true });
process.stdout.write(`${JSON.stringify(out)}\n`);
