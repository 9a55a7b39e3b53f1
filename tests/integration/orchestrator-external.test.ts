import { mkdirSync } from "node:fs";
import path from "node:path";
import { PassThrough } from "node:stream";
import { beforeAll, describe, expect, it } from "vitest";
import { createBus } from "../../src/core/bus.js";
import { validateConfig } from "../../src/core/config/load.js";
import { silentLogger } from "../../src/core/logger.js";
import { startRosey } from "../../src/core/orchestrator.js";
import { SUBJECTS } from "../../src/core/subjects.js";
import { collect } from "../support/bus.js";
import { writePluginFolder } from "../support/plugin-folder.js";
import { usePrivateNats } from "../support/private-nats.js";
import { useTempDir } from "../support/temp-dir.js";

describe("startRosey with only an external platform", () => {
  const nats = usePrivateNats();
  const tmp = useTempDir("rosey-external-", "all");
  let dir: string;

  beforeAll(() => {
    dir = tmp();
    mkdirSync(path.join(dir, "plugins"));
  });

  it("is not finished when its input ends, only once it is stopped", async () => {
    const config = validateConfig(
      {
        nats: { url: nats.url },
        dataDir: path.join(dir, "data"),
        database: { enabled: false },
        platforms: [{ type: "external", name: "discord" }],
        plugins: { directory: path.join(dir, "plugins") },
      },
      "test",
    );
    const stdin = new PassThrough();
    const rosey = await startRosey({ config, logger: silentLogger(), stdin, stdout: new PassThrough() });
    let finished = false;
    void rosey.finished.then(() => {
      finished = true;
    });
    stdin.end();
    await new Promise((r) => setTimeout(r, 300));
    expect(finished).toBe(false);
    await rosey.stop();
    await rosey.finished;
    expect(finished).toBe(true);
  });

  it("a command two plugins claim is answered by neither until router.commands names one", async () => {
    const plugins = path.join(dir, "claims");
    for (const name of ["quote", "quotes"])
      writePluginFolder(plugins, name, {
        manifest: { commands: [{ name: "quote" }], capabilities: ["chat.send"] },
        code: `export default { onCommand: () => "from ${name}" };\n`,
      });
    const bus = await createBus({ url: nats.url, source: "connector:discord", logger: silentLogger() });
    const replies = collect<string>();
    bus.subscribe<{ text: string }>(SUBJECTS.actionsChatSend, (m) => replies.push(m.envelope.data.text));
    await bus.flush();
    const answerTo = async (commands: Record<string, string>) => {
      const config = validateConfig(
        {
          nats: { url: nats.url },
          dataDir: path.join(dir, "data"),
          database: { enabled: false },
          platforms: [{ type: "external", name: "discord" }],
          plugins: { directory: plugins, defaultGrants: ["basic"] },
          router: { commands },
        },
        "test",
      );
      const rosey = await startRosey({ config, logger: silentLogger() });
      try {
        const before = replies.items.length;
        bus.publish(SUBJECTS.eventsMessage, {
          platform: "discord",
          channel: "c",
          user: `u${before}`,
          content: "!quote",
          timestamp: Date.now(),
        });
        return (await replies.waitFor(before + 1))[before];
      } finally {
        await rosey.stop();
      }
    };
    try {
      expect(await answerTo({})).toMatch(/^Unknown command !quote/);
      expect(await answerTo({ quote: "quotes" })).toBe("from quotes");
      expect(await answerTo({ quote: "quote" })).toBe("from quote");
    } finally {
      await bus.close();
    }
  });
});
