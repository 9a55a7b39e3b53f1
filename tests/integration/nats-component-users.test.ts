import { connect, type NatsConnection, type NatsError } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Bus, createBus } from "../../src/core/bus.js";
import { silentLogger } from "../../src/core/logger.js";
import { type ComponentUser, connectorUser, databaseUser } from "../../src/core/nats/component-users.js";
import { natsConnectOptions } from "../../src/core/nats/connect-options.js";
import type { EmbeddedNats } from "../../src/core/nats/embedded-server.js";
import { startPrivateNats } from "../support/private-nats.js";

const PERMISSIONS_VIOLATION = "PERMISSIONS_VIOLATION";

/**
 * What the server says to a publish: a request to a subject nobody answers fails with "no responders" when
 * the publish was allowed, and with a permissions violation when it was not.
 */
async function publishVerdict(nc: NatsConnection, subject: string): Promise<Verdict> {
  const err = await nc.request(subject, new Uint8Array(), { timeout: 1_000 }).then(
    () => undefined,
    (e: NatsError) => e,
  );
  return err?.code === PERMISSIONS_VIOLATION ? "refused" : "allowed";
}

/** The server answers a refused subscription with an error before the flush's PONG. */
async function subscribeVerdict(nc: NatsConnection, subject: string): Promise<Verdict> {
  let refused = false;
  const sub = nc.subscribe(subject, {
    callback: (err) => {
      if (err?.code === PERMISSIONS_VIOLATION) refused = true;
    },
  });
  await nc.flush();
  sub.unsubscribe();
  return refused ? "refused" : "allowed";
}

type Verdict = "allowed" | "refused";

/** The server's verdict on each of `expected`'s subjects, to compare with `expected`. */
async function verdicts(
  nc: NatsConnection,
  check: (nc: NatsConnection, subject: string) => Promise<Verdict>,
  expected: Record<string, Verdict>,
): Promise<Record<string, Verdict>> {
  const found: Record<string, Verdict> = {};
  for (const subject of Object.keys(expected)) found[subject] = await check(nc, subject);
  return found;
}

describe("the NATS users of Rosey's parts on the embedded server", () => {
  const connector = connectorUser("chat");
  const database = databaseUser();
  let server: EmbeddedNats;
  let core: Bus;
  const connections: NatsConnection[] = [];
  const open = async (user: ComponentUser) => {
    const nc = await connect({ ...natsConnectOptions(server.urlFor(user)), inboxPrefix: user.inboxPrefix });
    connections.push(nc);
    return nc;
  };

  beforeAll(async () => {
    server = await startPrivateNats({ components: [connector, database] });
    core = await createBus({ url: server.url, source: "core", logger: silentLogger() });
  });
  afterAll(async () => {
    await Promise.all(connections.map((nc) => nc.close()));
    await core.close();
    await server.stop();
  });

  it("each part has a user and a password of its own, none of them the core's", () => {
    const urls = [server.url, server.urlFor(connector), server.urlFor(database)].map((u) => new URL(u));
    expect(urls.map((u) => u.username)).toEqual(["rosey", "rosey-connector-chat", "rosey-db"]);
    expect(new Set(urls.map((u) => u.password)).size).toBe(3);
    expect(() => server.urlFor(connectorUser("other"))).toThrow(/no user rosey-connector-other/);
  });

  it("a connector publishes events and its platform's raw events, and nothing that steers the bot", async () => {
    const nc = await open(connector);
    const expected: Record<string, Verdict> = {
      "rosey.events.message": "allowed",
      "rosey.events.pm": "allowed",
      "rosey.platform.chat.chatMsg": "allowed",
      "rosey.db.message.log": "allowed",
      "rosey.platform.cytube.chatMsg": "refused",
      "rosey.commands.dice.execute": "refused",
      "rosey.actions.chat.send": "refused",
      "rosey.admin.plugins.reload": "refused",
      "rosey.plugins.dice.state": "refused",
      "rosey.db.kv.get": "refused",
      "rosey.db.migrate.dice.apply": "refused",
      "rosey.security.violation": "refused",
      "rosey.security.audit": "refused",
      "rosey.monitoring.metrics": "refused",
      "$JS.API.STREAM.DELETE.ROSEY_DB": "refused",
    };
    expect(await verdicts(nc, publishVerdict, expected)).toEqual(expected);
  });

  it("a connector hears actions and API requests, not events, PMs, plugin traffic or others' answers", async () => {
    const nc = await open(connector);
    const expected: Record<string, Verdict> = {
      "rosey.actions.>": "allowed",
      "rosey.api.users.list": "allowed",
      [`${connector.inboxPrefix}.x`]: "allowed",
      "rosey.monitoring.health": "refused",
      "rosey.monitoring.metrics": "refused",
      "rosey.events.pm": "refused",
      "rosey.events.>": "refused",
      "rosey.plugins.>": "refused",
      "rosey.commands.*.execute": "refused",
      "rosey.db.>": "refused",
      "rosey.security.>": "refused",
      "_INBOX.>": "refused",
      [`${database.inboxPrefix}.>`]: "refused",
      ">": "refused",
    };
    expect(await verdicts(nc, subscribeVerdict, expected)).toEqual(expected);
  });

  it("a connector answers the core's requests, and the core's answers reach the connector's own inbox", async () => {
    const bus = await createBus({
      url: server.urlFor(connector),
      source: "connector:chat",
      logger: silentLogger(),
      inboxPrefix: connector.inboxPrefix,
    });
    try {
      bus.subscribe("rosey.api.users.list", (m) => void m.respond({ users: ["ann"] }));
      await bus.flush();
      const answer = await core.request("rosey.api.users.list", {}, { timeoutMs: 2_000 });
      expect(answer.data).toEqual({ users: ["ann"] });

      // The console connector's pattern: a chat line with a reply subject the router answers on.
      core.subscribe("rosey.events.message", (m) => void m.respond({ done: true }));
      await core.flush();
      const inbox = bus.createInbox();
      expect(inbox.startsWith(`${connector.inboxPrefix}.`)).toBe(true);
      const done = new Promise((resolve) => bus.subscribe(inbox, (m) => resolve(m.envelope.data)));
      await bus.flush();
      bus.publish("rosey.events.message", { content: "!roll" }, { replyTo: inbox });
      expect(await done).toEqual({ done: true });
    } finally {
      await bus.close();
    }
  });

  it("no part can answer its own message onto a subject of its choosing (allow_responses)", async () => {
    const seen: string[] = [];
    core.subscribe("rosey.admin.plugins.resume", (m) => void seen.push(m.subject));
    await core.flush();
    for (const user of [connector, database]) {
      const nc = await open(user);
      // Every subject it may listen on: publishing there, with the reply subject aimed at the core's admin
      // subject, is refused, so there is no message of its own to "answer".
      for (const subject of user.subscribe.filter((s) => !s.includes("*") && !s.includes(">"))) {
        expect(await publishVerdict(nc, subject), `${user.user} publishing on ${subject}`).toBe("refused");
      }
      // Nor on its own inbox, the one other place it listens.
      expect(await publishVerdict(nc, `${user.inboxPrefix}.trick`)).toBe("refused");
    }
    await new Promise((r) => setTimeout(r, 200));
    expect(seen).toEqual([]);
  });

  it("the database service serves storage and its own JetStream store, and cannot speak in chat or read it", async () => {
    const nc = await open(database);
    const publish: Record<string, Verdict> = {
      "$JS.API.INFO": "allowed",
      "$JS.API.STREAM.INFO.ROSEY_DB": "allowed",
      "$JS.API.CONSUMER.MSG.NEXT.ROSEY_DB.rosey-db-ingest": "allowed",
      "$JS.API.STREAM.INFO.ROSEY_DB_DEADLETTER": "allowed",
      "rosey.db.deadletter.rosey.db.message.log": "allowed",
      "rosey.security.violation": "allowed",
      // Its store is the core's to make and change: widened, it would capture PMs and commands.
      "$JS.API.STREAM.UPDATE.ROSEY_DB": "refused",
      "$JS.API.STREAM.CREATE.ROSEY_DB": "refused",
      "$JS.API.STREAM.DELETE.ROSEY_DB_DEADLETTER": "refused",
      "$JS.API.CONSUMER.DURABLE.CREATE.ROSEY_DB.rosey-db-ingest": "refused",
      "rosey.monitoring.metrics": "refused",
      "$JS.API.STREAM.DELETE.KV_other": "refused",
      "$JS.API.STREAM.LIST": "refused",
      "rosey.actions.chat.send": "refused",
      "rosey.events.message": "refused",
      "rosey.commands.dice.execute": "refused",
      "rosey.admin.plugins.reload": "refused",
      "rosey.security.audit": "refused",
    };
    expect(await verdicts(nc, publishVerdict, publish)).toEqual(publish);
    const subscribe: Record<string, Verdict> = {
      "rosey.db.kv.*": "allowed",
      "rosey.db.migrate.*.*": "allowed",
      "rosey.events.>": "refused",
      "rosey.actions.>": "refused",
      "_INBOX.>": "refused",
    };
    expect(await verdicts(nc, subscribeVerdict, subscribe)).toEqual(subscribe);
  });
});
