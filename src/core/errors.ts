/**
 * Typed errors with stable codes. Callers branch on `code`, never on message text; the `ErrorCode`
 * type admits only the codes listed (and described) in `ERROR_CODES`.
 */

export const ERROR_CODES = {
  VALIDATION_FAILED: "Input (config, manifest, envelope, command) does not match its schema",
  CONFIG_INVALID: "The configuration file cannot be read or does not match the config schema",
  MANIFEST_INVALID: "A plugin's plugin.json does not match schemas/plugin-manifest.schema.json",
  PLUGIN_LOAD_FAILED: "A plugin's code could not be loaded into its sandbox",
  PLUGIN_PREFIX_CLASH:
    "A plugin's table prefix overlaps (one starts with the other) that of another plugin, installed or with tables still in the database, so each could reach the other's tables; refused until one is renamed or the other's data is purged",
  PLUGIN_ENABLED:
    "The operation needs the plugin disabled or removed: its data cannot be purged while it is installed and enabled",
  PLUGIN_NOT_RUNNING: "The plugin is not in a state where it can take work",
  PLUGIN_ERROR: "A plugin's handler threw or rejected",
  PERMISSION_DENIED: "The gate refused an operation the plugin has no grant for",
  INVALID_SUBJECT: "A subject does not match the gate's subject grammar",
  PAYLOAD_TOO_LARGE: "A message is larger than the allowed size",
  RATE_LIMITED: "The plugin exceeded its publish rate",
  BUSY: "The plugin has too many commands, or storage requests at the database service, waiting; new ones are refused until it catches up",
  TIMEOUT: "An operation did not finish within its deadline",
  QUERY_TIMEOUT:
    "The database cancelled a statement that ran past 'database.statementTimeoutMs' (PostgreSQL); nothing it would have written was kept",
  NO_RESPONDERS: "A request found no service listening on its subject",
  NATS_SERVER_MISSING: "nats-server is not installed or not on PATH",
  NATS_START_FAILED: "The embedded nats-server did not start",
  BUS_CLOSED: "The bus is closed or draining",
  UNKNOWN_COMMAND: "No plugin provides the command",
  COOLDOWN: "The command is cooling down for this user",
  CHECKSUM_MISMATCH: "An applied migration file was changed after it was applied",
  MIGRATION_FAILED: "A migration statement failed and was rolled back",
  LOCK_TIMEOUT: "Another runner holds the migration lock",
  DATABASE_NOT_EMPTY:
    "The database has tables Rosey's schema would create but no record of Rosey's migrations (another program's database); nothing was changed",
  QUOTA_EXCEEDED: "A plugin's storage quota is used up",
  NOT_FOUND: "The requested record does not exist",
  ALREADY_EXISTS: "A file or folder the command would create already exists; nothing is overwritten",
  DATA_DIR_IN_USE:
    "Another running `rosey start` holds the data dir (its lock file names the pid); two platforms cannot share one JetStream store and SQLite file",
  INTERNAL: "An unexpected internal failure",
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class RoseyError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options?: { cause?: unknown; details?: Record<string, unknown> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "RoseyError";
    this.code = code;
    this.details = options?.details;
  }

  /** Plain data for the wire: `{ code, message }` is what replies carry. */
  toJSON(): { code: ErrorCode; message: string; details?: Record<string, unknown> } {
    return this.details
      ? { code: this.code, message: this.message, details: this.details }
      : { code: this.code, message: this.message };
  }
}

export function isRoseyError(err: unknown, code?: ErrorCode): err is RoseyError {
  return err instanceof RoseyError && (code === undefined || err.code === code);
}

/** Message of anything thrown, for logs and chat replies. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (typeof err === "string") return err;
  try {
    return JSON.stringify(err);
  } catch {
    return String(err);
  }
}
