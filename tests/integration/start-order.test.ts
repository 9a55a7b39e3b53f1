import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { writePluginFolder } from "../support/plugin-folder.js";
import { usePrivateNats } from "../support/private-nats.js";
import { useTempDir } from "../support/temp-dir.js";
import { startTestRosey } from "../support/test-rosey.js";

describe("what plugins say while they start", () => {
  const nats = usePrivateNats();
  const dir = useTempDir("rosey-start-order-");

  it("reaches the platform: connectors listen before the plugins start", async () => {
    // From start() itself, and from a timer that fires at once: both used to go out before any connector listened.
    writePluginFolder(dir(), "herald", {
      manifest: { capabilities: ["chat.send"] },
      code: `export default {
        start(ctx) {
          const say = (text) => ctx.publish("rosey.actions.chat.send", { platform: "console", channel: "console", text });
          say("from start");
          ctx.setTimeout(() => say("from a timer"), 0);
        },
      };\n`,
    });
    const input = new PassThrough();
    const output = new PassThrough();
    let printed = "";
    output.on("data", (chunk: Buffer) => {
      printed += chunk.toString();
    });
    const rosey = await startTestRosey(
      nats.url,
      {
        plugins: { directory: dir(), entries: { herald: { grants: ["chat.send"] } } },
        database: { enabled: false },
      },
      { stdin: input, stdout: output },
    );
    try {
      await expect.poll(() => printed, { timeout: 5_000 }).toContain("<rosey> from a timer");
      expect(printed).toContain("<rosey> from start");
    } finally {
      input.end();
      await rosey.stop();
    }
  });
});
