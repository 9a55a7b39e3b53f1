import path from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { validateConfig } from "../../src/core/config/load.js";
import { type Rosey, startRosey } from "../../src/core/orchestrator.js";
import { PACKAGE_ROOT } from "../../src/core/paths.js";
import { type CytubeEmulator, startCytubeEmulator } from "../fixtures/cytube-emulator/index.js";
import { expectRollAnswered } from "../support/dice-in-channel.js";
import { useTempDir } from "../support/temp-dir.js";

/**
 * `rosey start` on its embedded nats-server, where the CyTube connector and the database service each connect
 * as a NATS user of their own, limited to their subjects (nats/component-users.ts): the whole path works
 * within those limits (chat in, a command, storage through the database service, chat out), and the server
 * refuses nothing any part does.
 */
describe("the platform's parts within their own NATS users", () => {
  const dir = useTempDir("rosey-parts-", "all");
  let emu: CytubeEmulator;
  let rosey: Rosey | undefined;
  const lines: Array<{ level: number; msg: string; err?: unknown }> = [];

  beforeAll(async () => {
    emu = await startCytubeEmulator({
      connectionLimit: false,
      accounts: { rosey: { password: "pw", rank: 2 } },
    });
    const config = validateConfig(
      {
        dataDir: path.join(dir(), "data"),
        platforms: [{ type: "cytube", server: emu.url, channel: "parts", username: "rosey", password: "pw" }],
        plugins: {
          directory: path.join(PACKAGE_ROOT, "plugins"),
          enabled: ["dice", "quotes"],
          entries: { dice: { grants: ["basic"] }, quotes: { grants: ["basic"] } },
        },
        logging: { level: "info" },
      },
      "test",
    );
    const logger = pino({ level: "info" }, { write: (line: string) => lines.push(JSON.parse(line)) });
    rosey = await startRosey({ config, logger });
  }, 60_000);

  afterAll(async () => {
    await rosey?.stop();
    await emu?.close();
  });

  it("answers a command and keeps a record through the database service, with nothing refused by the server", async () => {
    await expectRollAnswered(emu, "parts", "rosey");
    const bob = emu.addUser("parts", "bob", 1);
    bob.say("!quote add the parts hold");
    await expect
      .poll(() => emu.chatFrom("parts", "rosey").some((m) => /Added quote #1/.test(m.msg)), {
        timeout: 10_000,
      })
      .toBe(true);
    expect(JSON.stringify(lines)).not.toMatch(/Permissions Violation/i);
    expect(lines.filter((l) => l.level >= 50)).toEqual([]);
  });
});
