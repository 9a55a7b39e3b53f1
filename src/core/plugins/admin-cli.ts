import { z } from "zod";
import { terminalSafe } from "../../sandbox/escape-text.js";
import { createBus } from "../bus.js";
import { errorMessage, isRoseyError } from "../errors.js";
import { silentLogger } from "../logger.js";
import { runningPlatformUrl } from "../nats/platform-url.js";
import { redactUrl } from "../redact-url.js";

/**
 * `rosey plugin suspend|resume|reload NAME [--json] [--timeout MS] [--nats URL] [--config FILE]`: the
 * operators' controls on `rosey.admin.plugins.<action>`, sent to the running platform found as `rosey health`
 * finds it. The request is a full envelope (the bus writes it), which is what the plugin manager answers; a
 * bare `{ "plugin": NAME }` is dropped as malformed (docs/operations.md, Plugin controls).
 */

export const PLUGIN_ADMIN_ACTIONS = ["suspend", "resume", "reload"] as const;
export type PluginAdminAction = (typeof PLUGIN_ADMIN_ACTIONS)[number];

/** The subject each action is requested on. */
export const pluginAdminSubject = (action: PluginAdminAction): string => `rosey.admin.plugins.${action}`;

export interface PluginAdminOptions {
  config?: string | undefined;
  /** NATS server of the running platform; default NATS_URL, then nats.url, then its embedded server. */
  nats?: string | undefined;
  json?: boolean | undefined;
  /** How long to wait for the answer (a reload restarts the worker first). @default 15000 */
  timeoutMs?: number | undefined;
  env?: NodeJS.ProcessEnv;
  write?: (text: string) => void;
}

/** What the plugin manager answers (plugin-manager.ts `#onAdmin`). */
const answerSchema = z.union([
  z.object({ ok: z.literal(true), state: z.string().optional(), detail: z.string() }),
  z.object({ ok: z.literal(false), error: z.object({ code: z.string(), message: z.string() }) }),
]);

export interface PluginAdminResult {
  /** Redacted: no credentials. */
  url: string;
  action: PluginAdminAction;
  plugin: string;
  ok: boolean;
  /** The plugin's state after the action, when the platform answered ok. */
  state?: string | undefined;
  detail?: string | undefined;
  /** The platform's refusal, or why no answer came (`NO_RESPONDERS`, `TIMEOUT`, `NATS_START_FAILED` …). */
  error?: { code: string; message: string } | undefined;
}

export const DEFAULT_ADMIN_TIMEOUT_MS = 15_000;

/** Exit code 0 when the platform answered ok, 1 when it refused or did not answer. */
export async function pluginAdminCommand(
  action: PluginAdminAction,
  plugin: string,
  options: PluginAdminOptions,
): Promise<number> {
  const env = options.env ?? process.env;
  const url = runningPlatformUrl(`plugin ${action}`, options, env);
  const result = await askPlatform(url, action, plugin, options.timeoutMs ?? DEFAULT_ADMIN_TIMEOUT_MS);
  const write = options.write ?? ((text: string) => process.stdout.write(text));
  // The answer quotes names that came over the network: no control character reaches the terminal.
  write(terminalSafe(options.json ? `${JSON.stringify(result, null, 2)}\n` : formatResult(result)));
  return result.ok ? 0 : 1;
}

async function askPlatform(
  url: string,
  action: PluginAdminAction,
  plugin: string,
  timeoutMs: number,
): Promise<PluginAdminResult> {
  const base = { url: redactUrl(url), action, plugin };
  const failed = (code: string, message: string): PluginAdminResult => ({
    ...base,
    ok: false,
    error: { code, message },
  });
  let bus: Awaited<ReturnType<typeof createBus>>;
  try {
    bus = await createBus({
      url,
      source: "cli:plugin",
      logger: silentLogger(),
      connectTimeoutMs: Math.min(timeoutMs, 10_000),
      maxReconnectAttempts: 0,
    });
  } catch (err) {
    return failed(isRoseyError(err) ? err.code : "INTERNAL", errorMessage(err));
  }
  try {
    const reply = await bus.request(pluginAdminSubject(action), { plugin }, { timeoutMs });
    const answer = answerSchema.safeParse(reply.data);
    if (!answer.success) return failed("VALIDATION_FAILED", "the answer is not a plugin admin answer");
    return answer.data.ok
      ? { ...base, ok: true, state: answer.data.state, detail: answer.data.detail }
      : { ...base, ok: false, error: answer.data.error };
  } catch (err) {
    if (isRoseyError(err, "NO_RESPONDERS"))
      return failed(
        err.code,
        "no platform listens for plugin controls on this NATS (is `rosey start` running?)",
      );
    if (isRoseyError(err, "TIMEOUT"))
      return failed(err.code, `no answer within ${timeoutMs} ms (a reload may take longer: try --timeout)`);
    return failed(isRoseyError(err) ? err.code : "INTERNAL", errorMessage(err));
  } finally {
    await bus.close();
  }
}

function formatResult(r: PluginAdminResult): string {
  const head = `rosey plugin ${r.action} ${r.plugin} on ${r.url}`;
  if (r.ok) return `${head}: ok: ${r.detail ?? `plugin '${r.plugin}' is ${r.state}`}\n`;
  return `${head}: FAILED (${r.error?.code}): ${r.error?.message}\n`;
}
