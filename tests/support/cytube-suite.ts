import { afterEach, beforeEach } from "vitest";
import {
  CytubeConnector,
  type CytubeConnectorOptions,
} from "../../src/connectors/cytube/cytube-connector.js";
import { type Bus, createBus } from "../../src/core/bus.js";
import type { CytubePlatformConfig } from "../../src/core/config/schema.js";
import { silentLogger } from "../../src/core/logger.js";
import {
  type CytubeEmulator,
  type EmulatorOptions,
  startCytubeEmulator,
} from "../fixtures/cytube-emulator/index.js";
import { usePrivateNats } from "./private-nats.js";

/**
 * One CyTube connector against the emulator, on the suite's own nats-server. Each test gets a bus of the
 * connector's (`connectorBus`, source `connector:cytube`) and one playing a plugin (`testBus`, source
 * `plugin:test`); `setup` starts the emulator and a connector and waits until it has joined `channel`.
 * After each test the connector (whichever is in `connector`), the buses and the emulator are closed.
 */
export interface CytubeSuite {
  readonly nats: { readonly url: string };
  emu: CytubeEmulator;
  connectorBus: Bus;
  testBus: Bus;
  connector: CytubeConnector | undefined;
  /** A connector for the running emulator, not started (the bot `rosey`, rejoining after a kick). */
  newConnector(
    config?: Partial<CytubePlatformConfig>,
    extra?: Partial<CytubeConnectorOptions>,
  ): CytubeConnector;
  setup(
    emuOptions?: EmulatorOptions,
    config?: Partial<CytubePlatformConfig>,
    extra?: Partial<CytubeConnectorOptions>,
  ): Promise<CytubeConnector>;
}

export function useCytubeSuite(channel: string): CytubeSuite {
  const nats = usePrivateNats();
  const suite = {
    nats,
    connector: undefined,
    newConnector(config = {}, extra = {}) {
      return new CytubeConnector({
        bus: suite.connectorBus,
        logger: silentLogger(),
        config: {
          type: "cytube",
          server: suite.emu.url,
          channel,
          username: "rosey",
          rejoin_on_kick: true,
          rejoin_on_ban: false,
          ...config,
        },
        reconnect: { initialDelayMs: 50, maxDelayMs: 500 },
        ...extra,
      });
    },
    async setup(emuOptions = {}, config = {}, extra = {}) {
      suite.emu = await startCytubeEmulator({ connectionLimit: false, ...emuOptions });
      const connector = suite.newConnector(config, extra);
      suite.connector = connector;
      await connector.start();
      await connector.whenJoined();
      return connector;
    },
  } as CytubeSuite;
  beforeEach(async () => {
    suite.connectorBus = await createBus({
      url: nats.url,
      source: "connector:cytube",
      logger: silentLogger(),
    });
    suite.testBus = await createBus({ url: nats.url, source: "plugin:test", logger: silentLogger() });
  });
  afterEach(async () => {
    await suite.connector?.stop();
    suite.connector = undefined;
    await suite.connectorBus.close();
    await suite.testBus.close();
    await suite.emu?.close();
  });
  return suite;
}
