import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { type Bus, createBus } from "../../src/core/bus.js";
import {
  answerPings,
  type LivenessWatch,
  livenessOptions,
  watchLiveness,
} from "../../src/core/db/liveness.js";
import { silentLogger } from "../../src/core/logger.js";
import { dbPingSubject } from "../../src/core/subjects.js";
import { usePrivateNats } from "../support/private-nats.js";

/**
 * The core's side of the liveness ping against a real nats-server: a silent child is declared
 * unresponsive after `maxMissed` pings, once; pings lost on the core's own link are not held against it.
 * The core's bus goes through a relay that can hold back what the server sends it.
 */
describe("database liveness watch", () => {
  const nats = usePrivateNats();
  const options = livenessOptions({ intervalMs: 200, timeoutMs: 100, maxMissed: 3 });
  const opened: Array<{ close(): unknown }> = [];
  let watch: LivenessWatch | undefined;

  afterEach(async () => {
    watch?.stop();
    for (const o of opened.reverse()) await o.close();
    opened.length = 0;
  });

  /** A relay to the server whose server-to-client direction can be held (and later released in order). */
  async function relay(): Promise<{ url: string; hold(on: boolean): void }> {
    let held: Buffer[] | undefined;
    const clients = new Set<net.Socket>();
    const server = net.createServer((client) => {
      clients.add(client);
      const upstream = net.connect(Number(new URL(nats.url).port), "127.0.0.1");
      client.on("data", (chunk) => upstream.write(chunk));
      upstream.on("data", (chunk) => (held ? held.push(chunk) : client.write(chunk)));
      client.on("error", () => upstream.destroy());
      upstream.on("error", () => client.destroy());
      client.on("close", () => upstream.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    opened.push({
      close: () => {
        for (const c of clients) c.destroy();
        server.close();
      },
    });
    const url = new URL(nats.url);
    url.port = String((server.address() as net.AddressInfo).port);
    return {
      url: url.toString(),
      hold(on) {
        if (on) held ??= [];
        else {
          for (const c of clients) for (const chunk of held ?? []) c.write(chunk);
          held = undefined;
        }
      },
    };
  }

  async function bus(url: string, source: string): Promise<Bus> {
    const b = await createBus({ url, source, logger: silentLogger(), drainTimeoutMs: 300 });
    opened.push(b);
    return b;
  }

  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it("declares a child that stops answering unresponsive after maxMissed pings, once", async () => {
    const child = await bus(nats.url, "db");
    const answering = answerPings(child, "child-1");
    await child.flush();
    const core = await bus(nats.url, "core");
    let unresponsive = 0;
    watch = watchLiveness(core, "child-1", options, silentLogger(), () => unresponsive++);

    await sleep(700);
    expect(watch.missed).toBe(0);
    answering.unsubscribe();
    await expect.poll(() => unresponsive, { timeout: 3_000 }).toBe(1);
    expect(watch.missed).toBe(3);
    await sleep(600); // the watch stopped itself: no more pings, no second call
    expect(unresponsive).toBe(1);
  });

  it("does not count pings lost on the core's own link to NATS", async () => {
    const child = await bus(nats.url, "db");
    answerPings(child, "child-2");
    let pings = 0;
    child.subscribe(dbPingSubject("child-2"), () => void pings++);
    await child.flush();
    const link = await relay();
    const core = await bus(link.url, "core");
    let unresponsive = 0;
    watch = watchLiveness(core, "child-2", options, silentLogger(), () => unresponsive++);

    await sleep(500);
    link.hold(true); // the child still gets the pings; its answers never reach the core
    const before = pings;
    await sleep(1_500); // ~7 intervals: more than enough misses, were they counted
    expect(pings - before).toBeGreaterThanOrEqual(3);
    expect(watch.missed).toBe(0);
    expect(unresponsive).toBe(0);
    link.hold(false);
    await sleep(500);
    expect(watch.missed).toBe(0);
    expect(unresponsive).toBe(0);
  });
});
