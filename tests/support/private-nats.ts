import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll } from "vitest";
import {
  type EmbeddedNats,
  type EmbeddedNatsOptions,
  startEmbeddedNats,
} from "../../src/core/nats/embedded-server.js";

/**
 * A nats-server of the suite's own, for suites that use the canonical subjects (`rosey.events.message`,
 * `rosey.actions.chat.send`, …) and so must not share a server with suites running in parallel.
 * Call in `beforeAll`, and `stop()` in `afterAll`.
 */
export async function startPrivateNats(
  options: Pick<EmbeddedNatsOptions, "components"> = {},
): Promise<EmbeddedNats & { dataDir: string }> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "rosey-nats-"));
  const server = await startEmbeddedNats({ ...options, dataDir });
  return {
    ...server,
    dataDir,
    async stop() {
      await server.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The enclosing describe's own nats-server, from `beforeAll` to `afterAll`; read `.url` in hooks and tests. */
export function usePrivateNats(): { readonly url: string } {
  let server: EmbeddedNats | undefined;
  beforeAll(async () => {
    server = await startPrivateNats();
  });
  afterAll(async () => {
    await server?.stop();
    server = undefined;
  });
  return {
    get url() {
      if (!server) throw new Error("no private nats-server outside the suite's tests and hooks");
      return server.url;
    },
  };
}
