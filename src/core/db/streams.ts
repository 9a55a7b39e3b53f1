/**
 * The names of the database service's JetStream store, apart from the code that uses them, so that the
 * core can name them (the database service's NATS permissions, nats/component-users.ts) without loading
 * the database layer.
 */

export const INGEST_SUBJECTS = {
  userJoined: "rosey.db.user.joined",
  userLeft: "rosey.db.user.left",
  messageLog: "rosey.db.message.log",
  userCount: "rosey.db.stats.user_count",
  highWater: "rosey.db.stats.high_water",
  statusUpdate: "rosey.db.status.update",
  /** The gate's violations and the manager's audit events are persisted to `audit_log` the same way. */
  securityViolation: "rosey.security.violation",
  securityAudit: "rosey.security.audit",
} as const;

/** Keeps the ingestion subjects until the database service has written them (ingestion.ts). */
export const STREAM_NAME = "ROSEY_DB";
export const CONSUMER_NAME = "rosey-db-ingest";

/** Where ingestion sets aside an event it cannot write (dead-letter.ts). */
export const DEAD_LETTER_STREAM = "ROSEY_DB_DEADLETTER";
