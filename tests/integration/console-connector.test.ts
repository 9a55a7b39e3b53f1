import { PassThrough, Writable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { COMPLETION_MARGIN_MS, ConsoleConnector } from "../../src/connectors/console/console-connector.js";
import { createConnectors } from "../../src/connectors/index.js";
import { type Bus, createBus } from "../../src/core/bus.js";
import type { CommandCompleted } from "../../src/core/commands.js";
import type { PlatformConfig } from "../../src/core/config/schema.js";
import type { ChatEvent, Envelope } from "../../src/core/envelope.js";
import { silentLogger } from "../../src/core/logger.js";
import { SUBJECTS } from "../../src/core/subjects.js";
import { collect } from "../support/bus.js";
import { usePrivateNats } from "../support/private-nats.js";

/** The console connector on a private nats-server, with the test playing router and plugins. */

class Output extends Writable {
  text = "";
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    this.text += chunk.toString("utf8");
    done();
  }
}

describe("console connector", () => {
  const nats = usePrivateNats();
  let connectorBus: Bus;
  let core: Bus;
  let input: PassThrough;
  let output: Output;
  let connector: ConsoleConnector;
  let events: ReturnType<typeof collect<Envelope<ChatEvent>>>;
  /** The reply subject each command line was sent with, by the line's id. */
  let replyTo: Map<string, string>;

  beforeEach(async () => {
    connectorBus = await createBus({ url: nats.url, source: "connector:console", logger: silentLogger() });
    core = await createBus({ url: nats.url, source: "core", logger: silentLogger() });
    events = collect<Envelope<ChatEvent>>();
    replyTo = new Map();
    core.subscribe<ChatEvent>(SUBJECTS.eventsMessage, (m) => {
      if (m.replyTo) replyTo.set(m.envelope.id, m.replyTo);
      events.push(m.envelope);
    });
    await core.flush();
    input = new PassThrough();
    output = new Output();
    connector = new ConsoleConnector({
      bus: connectorBus,
      logger: silentLogger(),
      prefix: "!",
      routerTimeoutMs: 200,
      input,
      output,
    });
    await connector.start();
  });
  afterEach(async () => {
    await connector.stop();
    await Promise.all([connectorBus.close(), core.close()]);
  });

  /** Answers a command line's reply subject, as the router does once the command is handled. */
  const complete = (correlationId: string, status: CommandCompleted["status"] = "ok", bus = core) => {
    const inbox = replyTo.get(correlationId);
    if (!inbox) throw new Error(`line ${correlationId} was sent without a reply subject`);
    bus.publish<CommandCompleted>(inbox, { correlationId, command: "x", status });
  };

  it("publishes each input line as a normalized chat message from the console user", async () => {
    input.write("hello there\n!roll 2d6\r\n\n   \n");
    const [first, second] = await events.waitFor(2);
    expect(first!.source).toBe("connector:console");
    expect(first!.data).toEqual({
      platform: "console",
      channel: "console",
      user: "console",
      content: "hello there",
      timestamp: expect.any(Number),
      user_data: { username: "console", rank: 3, is_afk: false, is_moderator: true },
    });
    expect(second!.data.content).toBe("!roll 2d6");
    await core.flush();
    await connectorBus.flush();
    expect(events.items).toHaveLength(2); // blank lines are not chat
  });

  it("prints chat actions for the console platform only, and private messages with their recipient", async () => {
    core.publish(SUBJECTS.actionsChatSend, { platform: "cytube", channel: "room", text: "not for us" });
    core.publish(SUBJECTS.actionsChatSend, { platform: "console", channel: "console", text: "hi there" });
    core.publish(SUBJECTS.actionsChatSend, { platform: "console" }); // malformed: dropped
    core.publish(SUBJECTS.actionsChatPm, {
      platform: "console",
      channel: "console",
      to: "console",
      text: "psst",
    });
    input.end();
    await connector.finished;
    await core.flush();
    // finished only waits for commands; give the already-published actions a moment to arrive.
    await connectorBus.flush();
    expect(output.text).toBe("<rosey> hi there\n<rosey → console> psst\n");
  });

  it("prints text chat users wrote elsewhere with terminal controls, C1 and bidi marks as \\uXXXX, keeping newlines and tabs (docs/security.md 74)", async () => {
    // A quote added on CyTube (whose server keeps C1 controls and bidi marks) shown by `!quote` here.
    const text =
      '#1: "\u001b]52;c;cm0gLXJmIH4=\u0007\u009b2J\u202eevil\rforged" (added by mallory)\tok\nnext';
    core.publish(SUBJECTS.actionsChatSend, { platform: "console", channel: "console", text });
    await expect.poll(() => output.text).toContain("next");
    expect(output.text).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e]/);
    expect(output.text).toBe(
      '<rosey> #1: "\\u001b]52;c;cm0gLXJmIH4=\\u0007\\u009b2J\\u202eevil\\u000dforged" (added by mallory)\tok\nnext\n',
    );
  });

  it("at end of input waits for every command line to complete, prints its reply, then finishes", async () => {
    input.write("!roll 2d6\njust chat\n!help\n");
    const [roll, , help] = await events.waitFor(3);
    input.end();
    let finished = false;
    void connector.finished.then(() => {
      finished = true;
    });
    await new Promise((r) => setTimeout(r, 100));
    core.publish(SUBJECTS.actionsChatSend, { platform: "console", channel: "console", text: "rolled" });
    complete(roll!.id);
    await new Promise((r) => setTimeout(r, 100));
    expect(finished).toBe(false); // !help is still in flight
    core.publish(SUBJECTS.actionsChatSend, { platform: "console", channel: "console", text: "help text" });
    complete(help!.id, "error");
    await connector.finished;
    expect(output.text).toBe("<rosey> rolled\n<rosey> help text\n");
  });

  it("sends only command lines with a reply subject, and counts only the core's answer as completion", async () => {
    input.write("just chat\n!roll\n");
    const [chat, roll] = await events.waitFor(2);
    expect(replyTo.has(chat!.id)).toBe(false);
    input.end();
    let finished = false;
    void connector.finished.then(() => {
      finished = true;
    });
    // A plugin reading chat events sees the reply subject too; its answer is stamped with its own source.
    const impostor = await createBus({ url: nats.url, source: "plugin:sneaky", logger: silentLogger() });
    try {
      complete(roll!.id, "ok", impostor);
      await impostor.flush();
      await new Promise((r) => setTimeout(r, 100));
      expect(finished).toBe(false);
    } finally {
      await impostor.close();
    }
    complete(roll!.id);
    await connector.finished;
  });

  it("gives up waiting after the router timeout plus a margin when a completion never comes", async () => {
    input.write("!sleep\n");
    await events.waitFor(1);
    const started = Date.now();
    input.end();
    await connector.finished;
    const waited = Date.now() - started;
    expect(waited).toBeGreaterThanOrEqual(200 + COMPLETION_MARGIN_MS - 50);
    expect(waited).toBeLessThan(200 + COMPLETION_MARGIN_MS + 1500);
  });

  it("finishes at once at end of input when no command is pending", async () => {
    input.end("plain chat\n");
    await events.waitFor(1);
    await connector.finished;
  });

  it("stop() before end of input resolves finished and publishes nothing more", async () => {
    await connector.stop();
    await connector.finished;
    input.write("!roll late\n");
    await new Promise((r) => setTimeout(r, 100));
    expect(events.items).toHaveLength(0);
  });
});

describe("createConnectors", () => {
  it("runs the console connector when no platform is configured, on the console platform's bus", async () => {
    const platforms: string[] = [];
    const fakeBus = { source: "" } as Bus;
    const connectors = await createConnectors([], {
      openBus: async (platform) => {
        platforms.push(platform);
        return fakeBus;
      },
      logger: silentLogger(),
      router: { prefix: "!", timeoutMs: 1000 },
      stdin: new PassThrough(),
      stdout: new Output(),
    });
    expect(connectors.map((c) => c.platform)).toEqual(["console"]);
    expect(platforms).toEqual(["console"]);
  });

  it("starts nothing for an external platform, and no console connector beside it", async () => {
    const connectors = await createConnectors([{ type: "external", name: "discord" }], {
      openBus: () => Promise.reject(new Error("no bus should be opened")),
      logger: silentLogger(),
      router: { prefix: "!", timeoutMs: 1000 },
      stdin: new PassThrough(),
      stdout: new Output(),
    });
    expect(connectors).toEqual([]);
  });

  it("refuses a platform type it has no connector for, with a clear error", async () => {
    // Not reachable through a validated config; guards configs built in code.
    const unknown = { type: "irc" } as unknown as PlatformConfig;
    await expect(
      createConnectors([unknown], {
        openBus: async () => ({}) as Bus,
        logger: silentLogger(),
        router: { prefix: "!", timeoutMs: 1000 },
      }),
    ).rejects.toMatchObject({ code: "CONFIG_INVALID", message: expect.stringMatching(/platform 'irc'/) });
  });
});
