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

export async function gatherMetrics(url: string, windowMs: number): Promise<GatheredMetrics> {
  const answers = await gatherAnswers(url, SUBJECTS.monitoringMetrics, {}, windowMs, "cli:metrics");
  const snapshots = answers.filter(isSnapshot).sort(byService);
  const registry = AggregatorRegistry.aggregate(snapshots.map((s) => s.metrics));
  return { snapshots, text: await registry.metrics() };
}

export interface MetricsServerOptions {
  natsUrl: string;
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
 */
export async function serveMetrics(options: MetricsServerOptions): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    if (req.method !== "GET" || req.url?.split("?")[0] !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found: try /metrics\n");
      return;
    }
    gatherMetrics(options.natsUrl, options.windowMs).then(
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
