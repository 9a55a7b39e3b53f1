import pino, { type Logger, type LoggerOptions } from "pino";

export type { Logger } from "pino";

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LoggerSettings {
  level: LogLevel;
  /** Pretty output; defaults to whether the log destination is a terminal. */
  pretty?: boolean | undefined;
  /** File descriptor logs go to. The console connector owns stdout, so the platform logs to stderr. */
  destination?: number | undefined;
}

/**
 * Structured pino logger: pretty in a terminal, JSON otherwise. Children carry `plugin`,
 * `component` and `correlationId` bindings so every line can be traced to its message.
 */
export function createLogger(settings: LoggerSettings): Logger {
  const fd = settings.destination ?? 2;
  const pretty = settings.pretty ?? Boolean(fd === 2 ? process.stderr.isTTY : process.stdout.isTTY);
  const options: LoggerOptions = {
    level: settings.level,
    base: { pid: process.pid },
    redact: {
      paths: ["password", "*.password", "*.*.password", "channel_password", "*.channel_password"],
      censor: "[redacted]",
    },
  };
  if (pretty) {
    return pino({
      ...options,
      transport: {
        target: "pino-pretty",
        options: { destination: fd, colorize: true, ignore: "pid,hostname" },
      },
    });
  }
  return pino(options, pino.destination({ fd, sync: false }));
}

/** A logger that writes nothing: for tests and library use without a configured logger. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
