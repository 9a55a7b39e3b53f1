import path from "node:path";
import { afterAll, beforeAll, describe, it } from "vitest";
import type { Rosey } from "../../src/core/orchestrator.js";
import { type CytubeEmulator, startCytubeEmulator } from "../fixtures/cytube-emulator/index.js";
import { expectRollAnswered } from "../support/dice-in-channel.js";
import { usePrivateNats } from "../support/private-nats.js";
import { startTestRosey } from "../support/test-rosey.js";

/** The round trip: `!roll 2d6` typed by an emulated user → the dice plugin's reply in the channel. */
describe("CyTube round trip through the orchestrator, router and sandboxed dice plugin", () => {
  const nats = usePrivateNats();
  let emu: CytubeEmulator;
  let rosey: Rosey | undefined;

  beforeAll(async () => {
    emu = await startCytubeEmulator({ connectionLimit: false });
    rosey = await startTestRosey(nats.url, {
      database: { enabled: false },
      platforms: [{ type: "cytube", server: emu.url, channel: "dicechan", username: "rosey" }],
      plugins: {
        directory: path.resolve("plugins"),
        enabled: ["dice"],
        entries: { dice: { grants: ["chat.send"] } },
      },
    });
  }, 60_000);

  afterAll(async () => {
    await rosey?.stop();
    await emu?.close();
  });

  it("answers !roll 2d6 in the channel", async () => {
    await expectRollAnswered(emu, "dicechan", "rosey");
  });
});
