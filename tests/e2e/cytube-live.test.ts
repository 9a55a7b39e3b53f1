import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CytubeConnector } from "../../src/connectors/cytube/index.js";
import { type Bus, createBus } from "../../src/core/bus.js";
import type { ChatEvent } from "../../src/core/envelope.js";
import { silentLogger } from "../../src/core/logger.js";
import { collect } from "../support/bus.js";
import { usePrivateNats } from "../support/private-nats.js";

/**
 * Against a real CyTube server: `CYTUBE_URL=http://127.0.0.1:8080 CYTUBE_CHANNEL=test npx vitest run
 * tests/e2e/cytube-live.test.ts`. Optional `CYTUBE_USER` / `CYTUBE_PASSWORD` (else a guest name).
 * Mind the server's guest-login delay (60 s per IP by default) between runs.
 */
const url = process.env.CYTUBE_URL;
const channel = process.env.CYTUBE_CHANNEL;

describe.skipIf(!url || !channel)("CyTube connector against a live server", () => {
  const nats = usePrivateNats();
  let bus: Bus;
  let other: Bus;
  let connector: CytubeConnector;

  beforeAll(async () => {
    bus = await createBus({ url: nats.url, source: "connector:cytube", logger: silentLogger() });
    other = await createBus({ url: nats.url, source: "plugin:e2e", logger: silentLogger() });
    connector = new CytubeConnector({
      bus,
      logger: silentLogger(),
      config: {
        type: "cytube",
        server: url!,
        channel: channel!,
        username: process.env.CYTUBE_USER ?? `rosey${Math.floor(Math.random() * 1e6)}`,
        password: process.env.CYTUBE_PASSWORD,
        rejoin_on_kick: false,
        rejoin_on_ban: false,
      },
    });
    await connector.start();
    await connector.whenJoined();
  }, 90_000);
  afterAll(async () => {
    await connector?.stop();
    await bus?.close();
    await other?.close();
  });

  it("joins, lists users including itself, and its chat comes back as an is_self message", async () => {
    const users = await other.request<{ users: Array<{ username: string }> }>(
      "rosey.api.users.list",
      { channel },
      { timeoutMs: 5000 },
    );
    expect(users.data.users.length).toBeGreaterThan(0);
    const messages = collect<ChatEvent>(15_000);
    other.subscribe<ChatEvent>("rosey.events.message", (m) => messages.push(m.envelope.data));
    await other.flush();
    const text = `rosey e2e ${Date.now()} <b>&</b>`;
    await other.request(
      "rosey.actions.chat.send",
      { platform: "cytube", channel, text },
      { timeoutMs: 5000 },
    );
    const [echo] = await messages.waitFor(1);
    expect(echo).toMatchObject({ content: text, is_self: true, platform: "cytube" });
  });
});
