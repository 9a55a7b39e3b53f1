import path from "node:path";
import { afterAll, beforeAll, describe, it } from "vitest";
import { validateConfig } from "../../src/core/config/load.js";
import { silentLogger } from "../../src/core/logger.js";
import { type Rosey, startRosey } from "../../src/core/orchestrator.js";
import { type CytubeEmulator, startCytubeEmulator } from "../fixtures/cytube-emulator/index.js";
import { expectRollAnswered } from "../support/dice-in-channel.js";
import { startPrivateNats } from "../support/private-nats.js";

/** The round trip: `!roll 2d6` typed by an emulated user → the dice plugin's reply in the channel. */
describe("CyTube round trip through the orchestrator, router and sandboxed dice plugin", () => {
  let nats: Awaited<ReturnType<typeof startPrivateNats>>;
  let emu: CytubeEmulator;
  let rosey: Rosey | undefined;

  beforeAll(async () => {
    nats = await startPrivateNats();
    emu = await startCytubeEmulator({ connectionLimit: false });
    const config = validateConfig(
      {
        nats: { url: nats.url },
        database: { enabled: false },
        platforms: [{ type: "cytube", server: emu.url, channel: "dicechan", username: "rosey" }],
        plugins: {
          directory: path.resolve("plugins"),
          enabled: ["dice"],
          entries: { dice: { grants: ["chat.send"] } },
        },
      },
      "test",
    );
    rosey = await startRosey({ config, logger: silentLogger() });
  }, 60_000);

  afterAll(async () => {
    await rosey?.stop();
    await emu?.close();
    await nats?.stop();
  });

  it("answers !roll 2d6 in the channel", async () => {
    await expectRollAnswered(emu, "dicechan", "rosey");
  });
});
