import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { TestProject } from "vitest/node";
import { type EmbeddedNats, startEmbeddedNats } from "../../src/core/nats/embedded-server.js";
import { materializeSecurityFixtures } from "../security/fixtures-dir.js";

/**
 * What the whole run shares, read by suites via `inject`: one real nats-server on a free loopback port, and
 * the security suites' hostile fixtures made loadable in a temp folder. Both are removed at teardown.
 */
let server: EmbeddedNats | undefined;
let dataDir: string | undefined;
let securityFixtures: string | undefined;

export async function setup(project: TestProject): Promise<void> {
  dataDir = mkdtempSync(path.join(os.tmpdir(), "rosey-test-nats-"));
  server = await startEmbeddedNats({ dataDir });
  project.provide("natsUrl", server.url);
  securityFixtures = materializeSecurityFixtures();
  project.provide("securityFixtures", securityFixtures);
}

export async function teardown(): Promise<void> {
  await server?.stop();
  for (const dir of [dataDir, securityFixtures]) if (dir) rmSync(dir, { recursive: true, force: true });
}

declare module "vitest" {
  export interface ProvidedContext {
    natsUrl: string;
    securityFixtures: string;
  }
}
