import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, it } from "vitest";
import YAML from "yaml";
import { loadConfig } from "../../src/core/config/load.js";
import { migrateConfigFile } from "../../src/core/config/migrate-file.js";
import { silentLogger } from "../../src/core/logger.js";
import { type Rosey, startRosey } from "../../src/core/orchestrator.js";
import { type CytubeEmulator, startCytubeEmulator } from "../fixtures/cytube-emulator/index.js";
import { expectRollAnswered } from "../support/dice-in-channel.js";
import { usePrivateNats } from "../support/private-nats.js";
import { useTempDir } from "../support/temp-dir.js";

/**
 * A Rosey-Robot v1 config, migrated, runs: the registered account logs in, the channel password lets it
 * in, and the bundled dice plugin the migration grants answers `!roll 2d6` in the channel.
 */
describe("a migrated Rosey-Robot config against the CyTube emulator", () => {
  const dir = useTempDir("rosey-migrate-run-", "all");
  const nats = usePrivateNats();
  let emu: CytubeEmulator;
  let rosey: Rosey | undefined;

  beforeAll(async () => {
    emu = await startCytubeEmulator({
      connectionLimit: false,
      channelPassword: "letmein",
      accounts: { RoseyBot: { password: "s3cret", rank: 1 } },
    });
    const v1 = path.join(dir(), "config.json");
    writeFileSync(
      v1,
      JSON.stringify({
        domain: emu.url,
        channel: ["migrated", "letmein"],
        user: ["RoseyBot", "s3cret"],
        response_timeout: 1,
        log_level: "WARNING",
      }),
    );
    const out = path.join(dir(), "rosey.yaml");
    migrateConfigFile(v1, { output: out });

    // The test's own NATS and no database; everything else as migrated.
    const doc = YAML.parseDocument(readFileSync(out, "utf8"));
    doc.setIn(["nats", "url"], nats.url);
    doc.setIn(["database", "enabled"], false);
    writeFileSync(out, doc.toString());
    const { config } = loadConfig({ file: out, env: {} });
    rosey = await startRosey({ config, logger: silentLogger() });
  }, 60_000);

  afterAll(async () => {
    await rosey?.stop();
    await emu?.close();
  });

  it("joins with the account and answers !roll 2d6 in the channel", async () => {
    await expectRollAnswered(emu, "migrated", "RoseyBot");
  });
});
