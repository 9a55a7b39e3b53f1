import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { TestProject } from "vitest/node";
import { type EmbeddedNats, startEmbeddedNats } from "../../src/core/nats/embedded-server.js";

/** One real nats-server on a free loopback port for the whole run; suites read its URL via `inject`. */
let server: EmbeddedNats | undefined;
let dataDir: string | undefined;

export async function setup(project: TestProject): Promise<void> {
  dataDir = mkdtempSync(path.join(os.tmpdir(), "rosey-test-nats-"));
  server = await startEmbeddedNats({ dataDir });
  project.provide("natsUrl", server.url);
}

export async function teardown(): Promise<void> {
  await server?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
}

declare module "vitest" {
  export interface ProvidedContext {
    natsUrl: string;
  }
}
