import { accessSync, constants } from "node:fs";
import path from "node:path";

/** Resolves a binary name against PATH (or checks an explicit path); `undefined` when not executable. */
export function findExecutable(name: string, envPath = process.env.PATH ?? ""): string | undefined {
  const candidates = name.includes("/")
    ? [name]
    : envPath
        .split(path.delimiter)
        .filter(Boolean)
        .map((dir) => path.join(dir, name));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; try the next PATH entry
    }
  }
  return undefined;
}

/** The one message both `npm install` and `rosey start` print when nats-server is missing. */
export function natsInstallHint(): string {
  return [
    "nats-server was not found on PATH. Rosey needs it for its embedded message bus.",
    "Install it with:  sudo apt-get install -y nats-server   (Debian/Ubuntu)",
    "or download it from the NATS project and put it on PATH,",
    "or set NATS_URL to connect to an existing NATS server instead.",
  ].join("\n");
}
