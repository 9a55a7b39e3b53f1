import { z } from "zod";
import type { ErrorCode } from "../errors.js";
import { PLUGIN_NAME } from "../subjects.js";

/**
 * Plugin storage protocol: `ctx.storage` in the sandbox ↔ the database service, through the gate.
 * Request/reply on `rosey.db.kv.<op>`. The namespace is the envelope's `source` (`plugin:<name>`), which
 * the gate stamps: nothing in the request names a plugin, and a request that tries is refused.
 *
 * | op | request data | reply data |
 * |---|---|---|
 * | get | `{collection, key}` | the value, or `null` |
 * | set | `{collection, key, value}` | `{key}` |
 * | delete | `{collection, key}` | `{key, deleted: true}`; NOT_FOUND when absent |
 * | query | `{collection, filter?, limit?, offset?, order?}` | `[{key, value}]`; the reply has `truncated: true` when records were left out to fit one bus message (ask again with `offset` + the records received) |
 * | count | `{collection, filter?}` | number |
 */

export const KV_OPERATIONS = ["get", "set", "delete", "query", "count"] as const;
export type KvOperation = (typeof KV_OPERATIONS)[number];

export const KV_SUBJECT_PREFIX = "rosey.db.kv";

/** Collections as the manifest schema names them. */
export const COLLECTION_NAME = /^[a-z][a-z0-9_]{0,63}$/;
/** Top-level JSON fields usable in `filter` and `order`. */
export const FIELD_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
export const KEY_MAX_LENGTH = 256;
export const QUERY_MAX_LIMIT = 1000;
export const QUERY_DEFAULT_LIMIT = 100;
/** As many records as `database.maxQuota.records` may allow: an offset past it can match nothing. */
export const QUERY_MAX_OFFSET = 100_000_000;
/** Largest single value, as UTF-8 JSON. */
export const VALUE_MAX_BYTES = 256 * 1024;

const collection = z.string().regex(COLLECTION_NAME, "must match ^[a-z][a-z0-9_]{0,63}$");
const key = z.string().min(1).max(KEY_MAX_LENGTH);
const jsonValue = z
  .unknown()
  .refine((v) => v !== undefined && v !== null, "is required (use delete to remove a record)");
const filter = z
  .record(z.string().regex(FIELD_NAME, "filter fields must be top-level field names"), z.unknown())
  .refine((f) => Object.keys(f).length <= 16, "may have at most 16 fields");
const order = z.strictObject({
  field: z.string().regex(FIELD_NAME, "must be a top-level field name"),
  direction: z.enum(["asc", "desc"]).default("asc"),
});

export const kvRequestSchemas = {
  get: z.strictObject({ collection, key }),
  set: z.strictObject({ collection, key, value: jsonValue }),
  delete: z.strictObject({ collection, key }),
  query: z.strictObject({
    collection,
    filter: filter.optional(),
    limit: z.number().int().min(1).max(QUERY_MAX_LIMIT).default(QUERY_DEFAULT_LIMIT),
    /** Records of the ordering to skip: the next page of a long or `truncated` answer. */
    offset: z.number().int().min(0).max(QUERY_MAX_OFFSET).default(0),
    order: order.optional(),
  }),
  count: z.strictObject({ collection, filter: filter.optional() }),
} as const satisfies Record<KvOperation, z.ZodType>;

export type KvRequest<Op extends KvOperation> = z.infer<(typeof kvRequestSchemas)[Op]>;

export interface KvRecord {
  key: string;
  value: unknown;
}

export interface KvResults {
  get: unknown;
  set: { key: string };
  delete: { key: string; deleted: true };
  query: KvRecord[];
  count: number;
}

export interface WireError {
  code: ErrorCode;
  message: string;
}

/**
 * Every reply of the database service (kv, query, migrate): `{success: true, data} | {success: false, error}`.
 * `truncated` (kv `query` only): `data` holds fewer records than matched within `limit`, as the rest would
 * not fit in one bus message (NATS `max_payload`). A reply that cannot be sent at all is answered
 * `PAYLOAD_TOO_LARGE` instead.
 */
export type DbReply<T> = { success: true; data: T; truncated?: true } | { success: false; error: WireError };

/** Field names a request could use to name another plugin's namespace; any of them is refused. */
export const NAMESPACE_FIELDS = ["plugin", "namespace", "source", "owner"] as const;

const PLUGIN_SOURCE_PREFIX = "plugin:";

/** `plugin:<name>` → `<name>`; anything else → undefined. */
export function pluginOfSource(source: string): string | undefined {
  if (!source.startsWith(PLUGIN_SOURCE_PREFIX)) return undefined;
  const name = source.slice(PLUGIN_SOURCE_PREFIX.length);
  return PLUGIN_NAME.test(name) ? name : undefined;
}
