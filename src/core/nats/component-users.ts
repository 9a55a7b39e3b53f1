import { CONSUMER_NAME, DEAD_LETTER_STREAM, INGEST_SUBJECTS, STREAM_NAME } from "../db/streams.js";
import { SUBJECTS } from "../subjects.js";

/**
 * The NATS users of the parts of Rosey that hold a connection of their own besides the core: the database
 * service (a process of its own) and each platform's connector (in the core, or outside it for an
 * `external` platform). The gate narrows what plugins do; these narrow what the server lets those parts
 * do, so that a connector (which parses a remote server's frames, or is someone else's program) or the
 * database service cannot send commands, admin or plugin traffic, or read PMs, plugin namespaces or the
 * answers to other parts' requests. The core's own user may do everything.
 *
 * Each part receives answers under an inbox prefix of its own (`_INBOX_<user>`): under the default
 * `_INBOX` prefix it would have to be allowed to subscribe to everyone's answers. Answering a request
 * needs no publish right on the asker's inbox (`allow_responses`).
 */
export interface ComponentUser {
  /** The NATS user; also names its inbox prefix. */
  readonly user: string;
  /** Replies to this part's requests arrive under `<inboxPrefix>.>`. */
  readonly inboxPrefix: string;
  readonly publish: readonly string[];
  readonly subscribe: readonly string[];
}

/** The embedded server's user for the core, which may do everything. */
export const CORE_USER = "rosey";

const inboxOf = (user: string): string => `_INBOX_${user}`;

/**
 * No part may publish where it also listens: `allow_responses` lets a user answer any message delivered to
 * it, its own included, so a user that could publish on a subject it subscribes to could send itself a
 * message whose reply subject is any subject at all, and "answer" it there. tests/unit/component-users.test.ts
 * holds every user to this.
 */

export function databaseUser(): ComponentUser {
  const user = "rosey-db";
  return {
    user,
    inboxPrefix: inboxOf(user),
    publish: [
      // Its store, read only: the core creates the streams and the consumer (db/streams.ts).
      "$JS.API.INFO",
      `$JS.API.STREAM.INFO.${STREAM_NAME}`,
      `$JS.API.STREAM.INFO.${DEAD_LETTER_STREAM}`,
      `$JS.API.CONSUMER.INFO.${STREAM_NAME}.${CONSUMER_NAME}`,
      `$JS.API.CONSUMER.MSG.NEXT.${STREAM_NAME}.${CONSUMER_NAME}`,
      `$JS.ACK.${STREAM_NAME}.${CONSUMER_NAME}.>`,
      "rosey.db.deadletter.>",
      // A plugin's storage request that breaks the storage rules is reported like a gate refusal.
      SUBJECTS.securityViolation,
    ],
    // It answers health and metrics requests, and publishes no periodic metrics (it would have to publish
    // where it listens).
    subscribe: [
      "rosey.db.kv.*",
      "rosey.db.query.*",
      "rosey.db.migrate.*.*",
      "rosey.db.ping.*",
      SUBJECTS.monitoringHealth,
      SUBJECTS.monitoringMetrics,
      `${inboxOf(user)}.>`,
    ],
  };
}

/** What a platform's connector publishes for the database to keep (the security subjects are not its). */
const CONNECTOR_INGEST = Object.values(INGEST_SUBJECTS).filter((s) => !s.startsWith("rosey.security."));

/** One user per platform name, shared by that platform's connectors (several CyTube channels). */
export function connectorUser(platform: string): ComponentUser {
  const user = `rosey-connector-${platform}`;
  return {
    user,
    inboxPrefix: inboxOf(user),
    publish: ["rosey.events.>", `rosey.platform.${platform}.>`, ...CONNECTOR_INGEST],
    // Actions and API requests name their platform in the payload, not the subject. No health or metrics:
    // the core reports on the connectors it runs, and an answer from a connector could speak for the core.
    subscribe: ["rosey.actions.>", "rosey.api.>", `${inboxOf(user)}.>`],
  };
}
