import { terminalSafe } from "../../sandbox/escape-text.js";
import { loadConfig } from "../config/load.js";
import { errorMessage } from "../errors.js";
import { runningPlatformUrl } from "../nats/platform-url.js";
import { runningEmbeddedNats } from "../nats/runtime-file.js";
import { redactUrl } from "../redact-url.js";
import { SUBJECTS } from "../subjects.js";
import { byService, gatherAnswers } from "./gather.js";
import { type HealthReport, type HealthStatus, healthReportSchema, worstStatus } from "./health.js";
import { gatherMetrics, serveMetrics } from "./prometheus.js";

export interface HealthCommandOptions {
  config?: string | undefined;
  /** NATS server of the running platform; default NATS_URL, then the config's `nats.url`. */
  nats?: string | undefined;
  json?: boolean | undefined;
  /** Ask only this service (`core`, `database`). */
  service?: string | undefined;
  /** How long to gather answers, in ms. @default 1500 */
  timeoutMs?: number | undefined;
  env?: NodeJS.ProcessEnv;
  write?: (text: string) => void;
}

export interface HealthGathering {
  /** Redacted: no credentials. */
  url: string;
  status: HealthStatus;
  services: HealthReport[];
  /** Answers that were not health reports (another tool on the subject): counted, not trusted. */
  malformed: number;
  /** With `--service`: the services that answered but were not asked, so a misspelt name is told apart from silence. */
  others?: string[];
  /** Why NATS itself could not be asked. */
  error?: string;
}

/**
 * Every service's health answer within `timeoutMs`. No answer at all is `down`: either nothing runs on that
 * NATS or everything is cut off from it.
 */
export async function gatherHealth(
  url: string,
  timeoutMs: number,
  service?: string,
): Promise<HealthGathering> {
  const services: HealthReport[] = [];
  const others = new Set<string>();
  let malformed = 0;
  // Everyone is asked and the answers filtered here: who else answered tells a misspelt name from silence.
  const answers = await gatherAnswers(url, SUBJECTS.monitoringHealth, {}, timeoutMs, "cli:health");
  for (const answer of answers) {
    const report = healthReportSchema.safeParse(answer);
    if (!report.success) malformed++;
    else if (service === undefined || report.data.service === service) services.push(report.data);
    else others.add(report.data.service);
  }
  services.sort(byService);
  const status = services.length ? worstStatus(services.map((s) => s.status)) : "down";
  return {
    url: redactUrl(url),
    status,
    services,
    malformed,
    ...(service === undefined ? {} : { others: [...others].sort() }),
  };
}

export function formatHealth(g: HealthGathering): string {
  const lines = [`Rosey health at ${g.url}: ${g.status.toUpperCase()}`];
  if (g.error) lines.push(`  cannot reach NATS: ${g.error}`);
  else if (g.services.length === 0 && g.others?.length)
    lines.push(`  no service of that name answered; these did: ${g.others.join(", ")}`);
  else if (g.services.length === 0)
    lines.push("  no service answered (is `rosey start` running on this NATS?)");
  for (const s of g.services) {
    const up = `${Math.round(s.uptimeMs / 1000)} s`;
    lines.push(`  ${s.service} (pid ${s.pid}, v${s.version}, up ${up}): ${s.status}`);
    for (const c of s.checks)
      lines.push(`    ${c.status.padEnd(8)} ${c.name}${c.detail ? `: ${c.detail}` : ""}`);
  }
  if (g.malformed) lines.push(`  (${g.malformed} answer(s) that are not health reports ignored)`);
  return `${lines.join("\n")}\n`;
}

/**
 * `rosey health [--json] [--service NAME] [--timeout MS] [--nats URL] [--config FILE]`: every service's answer on
 * `rosey.monitoring.health`. Exit code 0 when all answered ok, 1 otherwise (degraded, down, or silence),
 * so it can serve as a liveness probe.
 */
export async function healthCommand(options: HealthCommandOptions): Promise<number> {
  const env = options.env ?? process.env;
  const url = runningPlatformUrl("health", options, env);
  const timeoutMs = options.timeoutMs ?? 1_500;
  let gathered: HealthGathering;
  try {
    gathered = await gatherHealth(url, timeoutMs, options.service);
  } catch (err) {
    gathered = { url: redactUrl(url), status: "down", services: [], malformed: 0, error: errorMessage(err) };
  }
  const write = options.write ?? ((text: string) => process.stdout.write(text));
  // Answers come from whoever may answer on the health subject: no control character reaches the terminal.
  write(options.json ? `${JSON.stringify(gathered, null, 2)}\n` : terminalSafe(formatHealth(gathered)));
  return gathered.status === "ok" ? 0 : 1;
}

export interface MetricsCommandOptions {
  config?: string | undefined;
  nats?: string | undefined;
  /** Serve `GET /metrics` on this port until SIGINT/SIGTERM instead of printing once. */
  serve?: number | undefined;
  /** @default "127.0.0.1" */
  host?: string | undefined;
  /** How long to wait for the services' snapshots, in ms. @default 1000 */
  windowMs?: number | undefined;
  env?: NodeJS.ProcessEnv;
  write?: (text: string) => void;
  /** Resolves when serving should end. @default SIGINT or SIGTERM */
  until?: Promise<unknown>;
}

/**
 * `rosey metrics [--serve PORT] [--host H] [--window MS] [--nats URL] [--config FILE]`: every service's
 * metrics in Prometheus's text format, printed once (exit 1 when no service answered), or served on
 * `http://H:PORT/metrics` for Prometheus to scrape. A bridge that found the platform through its data dir
 * (no `--nats`, `NATS_URL` or `nats.url`) finds it again when a scrape cannot reach it: a restarted platform's
 * embedded server has a new port and password.
 */
export async function metricsCommand(options: MetricsCommandOptions): Promise<number> {
  const env = options.env ?? process.env;
  const natsUrl = runningPlatformUrl("metrics", options, env);
  const windowMs = options.windowMs ?? 1_000;
  const write = options.write ?? ((text: string) => process.stdout.write(text));
  if (options.serve === undefined) {
    const { snapshots, text } = await gatherMetrics(natsUrl, windowMs);
    if (snapshots.length === 0) {
      write(`# no Rosey service answered on ${redactUrl(natsUrl)}\n`);
      return 1;
    }
    write(text);
    return 0;
  }
  const server = await serveMetrics({
    natsUrl,
    host: options.host ?? "127.0.0.1",
    port: options.serve,
    windowMs,
    rediscover: rediscovery(options, env),
    onRediscovered: (url) => write(`the platform moved: now on ${redactUrl(url)}\n`),
  });
  write(`serving the metrics of the Rosey services on ${redactUrl(natsUrl)} at ${server.url}\n`);
  await (options.until ??
    new Promise((resolve) => {
      process.once("SIGINT", resolve);
      process.once("SIGTERM", resolve);
    }));
  await server.close();
  return 0;
}

/**
 * How the bridge finds the platform again after a restart, when it found it through the embedded server's
 * runtime file (a new port and password at each start); undefined when the operator named the server
 * (`--nats`, `NATS_URL`, `nats.url`), which is kept as named.
 */
function rediscovery(
  options: Pick<MetricsCommandOptions, "nats" | "config">,
  env: NodeJS.ProcessEnv,
): (() => string | undefined) | undefined {
  if (options.nats !== undefined) return undefined;
  const { config } = loadConfig({ file: options.config, env });
  if (config.nats.url) return undefined;
  return () => runningEmbeddedNats(config.dataDir);
}
