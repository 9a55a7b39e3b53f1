import { createServer, type Server } from "node:http";
import { AggregatorRegistry, prometheusContentType } from "prom-client";
import { errorMessage } from "../errors.js";
import { SUBJECTS } from "../subjects.js";
import { byService, gatherAnswers } from "./gather.js";
import type { MetricsSnapshot } from "./metrics.js";

/**
 * The bridge from `rosey.monitoring.metrics` to Prometheus: ask every service for a snapshot (they all answer
 * one request), then render them in the text exposition format with prom-client itself, which reads its own
 * JSON form back. Every series keeps its `service` label, so services never merge.
 */

export interface GatheredMetrics {
  /** One snapshot per service that answered within the window. */
  snapshots: MetricsSnapshot[];
  /** The Prometheus text exposition of all of them. */
  text: string;
}

function isSnapshot(data: unknown): data is MetricsSnapshot {
  const s = data as Partial<MetricsSnapshot> | null;
  return typeof s?.service === "string" && Number.isInteger(s.pid) && Array.isArray(s.metrics);
}

function aggregates(snapshot: MetricsSnapshot): boolean {
  try {
    AggregatorRegistry.aggregate([snapshot.metrics]);
    return true;
  } catch {
    return false;
  }
}

export async function gatherMetrics(url: string, windowMs: number): Promise<GatheredMetrics> {
  const answers = await gatherAnswers(url, SUBJECTS.monitoringMetrics, {}, windowMs, "cli:metrics");
  // prom-client's aggregate throws on one malformed metric, and whoever may answer on the subject could
  // send one: each snapshot is tried alone first, so a bad one is left out instead of failing every scrape.
  const snapshots = answers.filter(isSnapshot).filter(aggregates).sort(byService);
  const registry = AggregatorRegistry.aggregate(snapshots.map((s) => s.metrics));
  return { snapshots, text: await registry.metrics() };
}

export interface MetricsServerOptions {
  natsUrl: string;
  /**
   * How to find the platform again, when `natsUrl` was found rather than named (the embedded server's runtime
   * file, whose port and password are new at each start of the platform): called after a scrape cannot reach
   * NATS, and a URL it returns that differs is used from that scrape on. `undefined`: no platform runs.
   * Without it, a URL named by the operator (`--nats`, `NATS_URL`, `nats.url`) is kept come what may.
   */
  rediscover?: (() => string | undefined) | undefined;
  /** Told each time `rediscover` moves the bridge to another URL. */
  onRediscovered?: ((url: string) => void) | undefined;
  host: string;
  port: number;
  /** How long each scrape waits for the services' snapshots. */
  windowMs: number;
}

export interface MetricsServer {
  /** The address it listens on (the port resolved when 0 was asked). */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Serves `GET /metrics` for Prometheus: each scrape gathers fresh snapshots. A scrape that reaches no service
 * (NATS down, nothing running) answers 503, so the target shows as down rather than as an empty success.
 * With `rediscover`, a scrape that cannot reach NATS looks for the platform again and, found elsewhere,
 * gathers from there: a restarted platform is scraped again without restarting the bridge.
 */
export async function serveMetrics(options: MetricsServerOptions): Promise<MetricsServer> {
  let natsUrl = options.natsUrl;
  const gather = async (): Promise<GatheredMetrics> => {
    const tried = natsUrl;
    try {
      return await gatherMetrics(tried, options.windowMs);
    } catch (err) {
      const found = options.rediscover?.();
      if (found === undefined || found === tried) throw err;
      // Scrapes that overlap may all fail on the old URL: the first to rediscover moves the bridge.
      if (found !== natsUrl) {
        natsUrl = found;
        options.onRediscovered?.(found);
      }
      return gatherMetrics(found, options.windowMs);
    }
  };
  const server: Server = createServer((req, res) => {
    if (req.method !== "GET" || req.url?.split("?")[0] !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found: try /metrics\n");
      return;
    }
    gather().then(
      ({ snapshots, text }) => {
        if (snapshots.length === 0) {
          res.writeHead(503, { "content-type": "text/plain" }).end("no Rosey service answered\n");
          return;
        }
        res.writeHead(200, { "content-type": prometheusContentType }).end(text);
      },
      (err: unknown) => {
        res.writeHead(503, { "content-type": "text/plain" }).end(`cannot reach NATS: ${errorMessage(err)}\n`);
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : options.port;
  return {
    url: `http://${options.host}:${port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
