import { connectorPlatforms, externalPlatforms } from "../../connectors/index.js";
import type { RoseyConfig } from "../config/schema.js";
import type { Logger } from "../logger.js";
import { redactUrl } from "../redact-url.js";
import { type ComponentUser, connectorUser, databaseUser } from "./component-users.js";
import { startEmbeddedNats } from "./embedded-server.js";
import { connectorRuntimeFile, removeRuntimeFile, writeRuntimeFile } from "./runtime-file.js";

/** The NATS server `rosey start` runs on: the configured one, or its own embedded child. */
export interface PlatformNats {
  /** The core's URL, credentials and all: log it through `redactUrl`. */
  readonly url: string;
  /** The URL `user`'s part connects with: its own on the embedded server, the core's on a configured one. */
  urlFor(user: ComponentUser): string;
  /** Stops the embedded server (nothing for a configured one). Idempotent. */
  stop(): Promise<void>;
}

/**
 * `nats.url` (or `NATS_URL`, already folded into the config) when set: the operator's server, whose users
 * are the operator's, so every part connects as the URL's user. Otherwise the embedded server, with a user
 * for the database service and one for each platform's connector (component-users.ts); an `external`
 * platform's connector finds its URL in `<dataDir>/nats-connector-<platform>.json` while it runs.
 */
export async function openPlatformNats(config: Readonly<RoseyConfig>, logger: Logger): Promise<PlatformNats> {
  const configured = config.nats.url;
  if (configured) return { url: configured, urlFor: () => configured, stop: async () => undefined };
  const server = await startEmbeddedNats({
    bin: config.nats.serverBin,
    dataDir: config.dataDir,
    maxPayloadBytes: config.nats.maxPayloadBytes,
    components: [databaseUser(), ...connectorPlatforms(config.platforms).map(connectorUser)],
  });
  logger.info({ natsPid: server.pid, url: redactUrl(server.url) }, "embedded nats-server started");
  const files = externalPlatforms(config.platforms).map((platform) => {
    const file = connectorRuntimeFile(platform);
    writeRuntimeFile(config.dataDir, { url: server.urlFor(connectorUser(platform)), pid: server.pid }, file);
    return file;
  });
  let stopping: Promise<void> | undefined;
  return {
    url: server.url,
    urlFor: (user) => server.urlFor(user),
    stop() {
      stopping ??= (async () => {
        for (const file of files) removeRuntimeFile(config.dataDir, server.pid, file);
        await server.stop();
      })();
      return stopping;
    },
  };
}
