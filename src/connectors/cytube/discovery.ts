import { RoseyError } from "../../core/errors.js";
import { foreignText } from "./foreign-text.js";

/**
 * `GET <server>/socketconfig/<channel>.json` → the socket.io URL to use (cytube-protocol.md §1, §10.1).
 */

export interface SocketServerEntry {
  url: string;
  secure: boolean;
  ipv6?: boolean;
}

export type FetchLike = (
  url: string,
  init?: { signal?: AbortSignal },
) => Promise<{
  ok: boolean;
  status: number;
  json(): Promise<unknown>;
}>;

/** Picks a server the way the web client does: a secure entry first, IPv4-capable before IPv6-only. */
export function pickServer(servers: readonly SocketServerEntry[]): SocketServerEntry | undefined {
  const score = (s: SocketServerEntry): number => (s.secure ? 2 : 0) + (s.ipv6 ? 0 : 1);
  return [...servers].sort((a, b) => score(b) - score(a))[0];
}

function parseServers(body: unknown): SocketServerEntry[] {
  const servers = (body as { servers?: unknown })?.servers;
  if (!Array.isArray(servers)) return [];
  return servers
    .filter((s): s is Record<string, unknown> => s !== null && typeof s === "object")
    .filter((s) => typeof s.url === "string" && s.url.length > 0)
    .map((s) => ({
      url: s.url as string,
      secure: s.secure === true,
      ...(s.ipv6 === true ? { ipv6: true } : {}),
    }));
}

/**
 * Asks the site which socket.io server serves `channel`.
 * @throws RoseyError `VALIDATION_FAILED` when the site refuses the channel (404), answers without servers, or
 *   (an `https` site) lists only plain-text ones; `TIMEOUT` / `INTERNAL` for network failures (callers retry).
 */
export async function discoverSocketUrl(
  server: string,
  channel: string,
  options: { fetch?: FetchLike; timeoutMs?: number } = {},
): Promise<string> {
  const doFetch: FetchLike = options.fetch ?? (globalThis.fetch as unknown as FetchLike);
  const url = new URL(`/socketconfig/${encodeURIComponent(channel)}.json`, server).toString();
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), options.timeoutMs ?? 10_000);
  let response: Awaited<ReturnType<FetchLike>>;
  let body: unknown;
  try {
    response = await doFetch(url, { signal: controller.signal });
    body = await response.json().catch(() => undefined);
  } catch (err) {
    const aborted = controller.signal.aborted;
    throw new RoseyError(
      aborted ? "TIMEOUT" : "INTERNAL",
      `Cannot discover the CyTube socket server at ${url}: ${aborted ? "no answer in time" : (err as Error).message}`,
      { cause: err },
    );
  } finally {
    clearTimeout(timer);
  }
  if (!response.ok) {
    const detail = (body as { error?: unknown })?.error;
    throw new RoseyError(
      response.status === 404 ? "VALIDATION_FAILED" : "INTERNAL",
      `Cannot discover the CyTube socket server for channel '${channel}': ${url} answered ${response.status}${typeof detail === "string" ? ` (${foreignText(detail)})` : ""}`,
    );
  }
  const chosen = pickServer(parseServers(body));
  if (!chosen) {
    throw new RoseyError(
      "VALIDATION_FAILED",
      `Cannot discover the CyTube socket server: ${url} listed no servers`,
    );
  }
  // The login (password included) goes over this socket: a secure site must not send us to a plain one.
  if (new URL(server).protocol === "https:" && !/^(https|wss):/i.test(chosen.url)) {
    throw new RoseyError(
      "VALIDATION_FAILED",
      `Cannot use the CyTube socket server '${foreignText(chosen.url, 200)}': ${url} is https but lists no secure server, and the login would travel in clear text`,
    );
  }
  return chosen.url;
}
