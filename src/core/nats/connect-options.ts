import { RoseyError } from "../errors.js";
import { redactUrl } from "../redact-url.js";

/** The part of nats.js's `ConnectionOptions` a Rosey NATS URL decides. */
export interface NatsServerOptions {
  servers: string[];
  user?: string;
  pass?: string;
  token?: string;
}

/**
 * Turns a NATS URL as operators write it (`nats.url`, `NATS_URL`, `--nats`, the embedded server's runtime
 * file) into nats.js options. nats.js reads only the host and port of a server URL and silently drops its
 * userinfo, so the credentials are taken out here, by the rule nats.go and the `nats` CLI follow:
 * - `nats://user:password@host:port`: user and password;
 * - `nats://token@host:port`: a user part with no password is a token;
 * - no userinfo: no credentials.
 * Userinfo is percent-decoded (write a `,` `@` `:` or `/` in a password as `%2C` `%40` `%3A` `%2F`).
 * A cluster is a comma-separated list (`nats://a:4222,nats://b:4222`); its servers share one set of
 * credentials, given on any of them. A server without a scheme (`host:4222`) is taken as `nats://`.
 * @throws {RoseyError} CONFIG_INVALID for a server that is not a URL with a host, or servers of one list
 *   with different credentials. The message shows the URL redacted.
 * @example connect({ ...natsConnectOptions("nats://rosey:s3cret@127.0.0.1:4222"), name: "tool" })
 */
export function natsConnectOptions(url: string): NatsServerOptions {
  const servers: string[] = [];
  let credentials: Credentials | undefined;
  for (const entry of url.split(",")) {
    const trimmed = entry.trim();
    if (trimmed === "") continue;
    const server = parseServer(trimmed, url);
    servers.push(server.address);
    if (!server.credentials) continue;
    if (credentials && !sameCredentials(credentials, server.credentials)) {
      throw new RoseyError(
        "CONFIG_INVALID",
        `Cannot connect to NATS as the servers of one URL must share one set of credentials: current value is ${JSON.stringify(redactUrl(url))}`,
      );
    }
    credentials = server.credentials;
  }
  if (servers.length === 0) throw invalid(url);
  return { servers, ...credentials };
}

type Credentials = { user: string; pass: string } | { token: string };

function parseServer(entry: string, url: string): { address: string; credentials?: Credentials } {
  let parsed: URL;
  try {
    parsed = new URL(entry.includes("://") ? entry : `nats://${entry}`);
  } catch {
    throw invalid(url);
  }
  if (parsed.host === "") throw invalid(url);
  const address = `${parsed.protocol}//${parsed.host}`;
  if (parsed.username === "" && parsed.password === "") return { address };
  // nats.js ignores a password without a user: the connection would go out with no credentials at all.
  if (parsed.username === "") throw invalid(url);
  const user = decode(parsed.username, url);
  // The WHATWG parser cannot tell `user:@host` from `user@host`: both are a token, as in nats.go.
  const credentials: Credentials = parsed.password
    ? { user, pass: decode(parsed.password, url) }
    : { token: user };
  return { address, credentials };
}

function decode(part: string, url: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw invalid(url);
  }
}

function sameCredentials(a: Credentials, b: Credentials): boolean {
  return "token" in a
    ? "token" in b && a.token === b.token
    : "user" in b && a.user === b.user && a.pass === b.pass;
}

function invalid(url: string): RoseyError {
  return new RoseyError(
    "CONFIG_INVALID",
    `Cannot connect to NATS as the URL must be nats://[user:password@]host[:port] (or a comma-separated list of them): current value is ${JSON.stringify(redactUrl(url))}`,
  );
}
