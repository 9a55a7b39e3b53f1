import { connect } from "nats";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Bus } from "../../src/core/bus.js";
import { isRoseyError } from "../../src/core/errors.js";
import { natsConnectOptions } from "../../src/core/nats/connect-options.js";
import { collect, natsUrl, testBus, uniqueToken } from "../support/bus.js";

describe("bus over a real nats-server", () => {
  let bus: Bus;
  let prefix: string;
  beforeEach(async () => {
    bus = await testBus("core");
    prefix = `rosey.${uniqueToken()}`;
  });
  afterEach(async () => {
    await bus.close();
  });

  it("delivers envelopes to '*' and '>' subscribers with the bus's source stamped", async () => {
    const star = collect<string>();
    const tail = collect<string>();
    bus.subscribe(`${prefix}.*`, (m) => star.push(m.subject));
    bus.subscribe(`${prefix}.>`, (m) => tail.push(m.subject));
    await bus.flush();
    const sent = bus.publish(`${prefix}.a`, { n: 1 });
    bus.publish(`${prefix}.a.b`, { n: 2 });
    expect(await star.waitFor(1)).toEqual([`${prefix}.a`]);
    expect(await tail.waitFor(2)).toEqual([`${prefix}.a`, `${prefix}.a.b`]);
    expect(sent.source).toBe("core");
    expect(sent.correlationId).toBe(sent.id);
  });

  it("answers requests, keeping the correlationId, and times out with a typed error", async () => {
    bus.subscribe<{ x: number }>(`${prefix}.double`, (m) => {
      m.respond({ y: m.envelope.data.x * 2 });
    });
    await bus.flush();
    const reply = await bus.request<{ y: number }>(
      `${prefix}.double`,
      { x: 21 },
      { timeoutMs: 2000, correlationId: "c-1" },
    );
    expect(reply.data).toEqual({ y: 42 });
    expect(reply.correlationId).toBe("c-1");

    bus.subscribe(`${prefix}.silent`, () => {});
    await bus.flush();
    const err = await bus.request(`${prefix}.silent`, {}, { timeoutMs: 100 }).catch((e: unknown) => e);
    expect(isRoseyError(err, "TIMEOUT")).toBe(true);
    const none = await bus.request(`${prefix}.nobody`, {}, { timeoutMs: 500 }).catch((e: unknown) => e);
    expect(isRoseyError(none, "NO_RESPONDERS")).toBe(true);
  });

  it("spreads a queue group's messages across members, each message once", async () => {
    const got = collect<string>();
    bus.subscribe(`${prefix}.work`, () => got.push("a"), { queue: "workers" });
    bus.subscribe(`${prefix}.work`, () => got.push("b"), { queue: "workers" });
    await bus.flush();
    for (let i = 0; i < 20; i++) bus.publish(`${prefix}.work`, i);
    await got.waitFor(20);
    await bus.flush();
    expect(got.items).toHaveLength(20);
  });

  it("drops malformed messages and keeps the subscription working; a throwing handler does not stop it", async () => {
    const got = collect<number>();
    bus.subscribe<number>(`${prefix}.in`, (m) => {
      if (m.envelope.data === 1) throw new Error("boom");
      got.push(m.envelope.data);
    });
    await bus.flush();
    const raw = await connect(natsConnectOptions(natsUrl()));
    raw.publish(`${prefix}.in`, new TextEncoder().encode("not json"));
    raw.publish(`${prefix}.in`, new TextEncoder().encode(JSON.stringify({ id: "x" })));
    await raw.flush();
    await raw.close();
    bus.publish(`${prefix}.in`, 1);
    bus.publish(`${prefix}.in`, 2);
    expect(await got.waitFor(1)).toEqual([2]);
  });

  it("answers only reply subjects that are inboxes: a sender cannot aim the answer at a subject of its choosing", async () => {
    const answered: boolean[] = [];
    bus.subscribe(`${prefix}.ask`, (m) => void answered.push(m.respond("yes")));
    const aimed = collect<string>();
    bus.subscribe(`${prefix}.target`, (m) => aimed.push(m.subject));
    await bus.flush();
    const raw = await connect(natsConnectOptions(natsUrl()));
    const ask = (reply: string) =>
      raw.publish(
        `${prefix}.ask`,
        new TextEncoder().encode(JSON.stringify({ ...envelopeOf(`${prefix}.ask`) })),
        {
          reply,
        },
      );
    ask(`${prefix}.target`);
    const inbox = `_INBOX.${uniqueToken()}`;
    const reply = new Promise((resolve) =>
      raw.subscribe(inbox, { max: 1, callback: (_e, m) => resolve(m.subject) }),
    );
    ask(inbox);
    await raw.flush();
    expect(await reply).toBe(inbox);
    await raw.close();
    expect(answered).toEqual([false, true]);
    expect(aimed.items).toEqual([]);
  });

  it("close() drains and is idempotent; publishing after close is a typed error", async () => {
    const other = await testBus("other");
    await Promise.all([other.close(), other.close()]);
    expect(() => other.publish(`${prefix}.x`, 1)).toThrowError(
      expect.objectContaining({ code: "BUS_CLOSED" }),
    );
  });
});

/** A minimal valid envelope, as another NATS client would write it. */
function envelopeOf(subject: string) {
  return {
    id: uniqueToken(),
    subject,
    source: "test",
    timestamp: Date.now(),
    correlationId: uniqueToken(),
    data: null,
  };
}
