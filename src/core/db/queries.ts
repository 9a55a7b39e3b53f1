import { z } from "zod";
import { RoseyError } from "../errors.js";
import { describeProblem } from "../validation.js";
import type { Database } from "./connection.js";

/**
 * Read (and the few write) queries other services ask the database service, request/reply under
 * `rosey.db.query.<name>`; each request's data is validated by the schema of the same name.
 */

const limit = (max: number, def: number) => z.number().int().min(1).max(max).default(def);
const name = z.string().min(1).max(100);

export const querySchemas = {
  user_stats: z.strictObject({ username: name }),
  recent_chat: z.strictObject({
    channel: z.string().min(1).max(128).optional(),
    username: name.optional(),
    limit: limit(500, 50),
  }),
  outbound: z.strictObject({ recipient: name.optional(), limit: limit(500, 50) }),
  outbound_queue: z.strictObject({
    recipient: name,
    sender: name.optional(),
    platform: z.string().min(1).max(64),
    channel: z.string().min(1).max(128),
    content: z.string().min(1).max(10_000),
  }),
  outbound_mark_sent: z.strictObject({ ids: z.array(z.number().int().positive()).min(1).max(1000) }),
  status: z.strictObject({}),
  audit: z.strictObject({
    plugin: z.string().max(64).optional(),
    kind: z.enum(["violation", "audit"]).optional(),
    limit: limit(500, 50),
  }),
} as const;

export type QueryName = keyof typeof querySchemas;

export function isQueryName(s: string): s is QueryName {
  return Object.hasOwn(querySchemas, s);
}

export async function runQuery(db: Database, query: QueryName, input: unknown): Promise<unknown> {
  const parsed = querySchemas[query].safeParse(input ?? {});
  if (!parsed.success) {
    throw new RoseyError(
      "VALIDATION_FAILED",
      `Query '${query}' is invalid: ${describeProblem(parsed.error)}`,
    );
  }
  const p = db.prisma;
  switch (query) {
    case "user_stats": {
      const { username } = parsed.data as z.infer<(typeof querySchemas)["user_stats"]>;
      const u = await p.user.findUnique({ where: { username } });
      if (!u) throw new RoseyError("NOT_FOUND", `No user named '${username}' has been seen`);
      return {
        username: u.username,
        rank: u.rank,
        firstSeen: u.firstSeen.toISOString(),
        lastSeen: u.lastSeen.toISOString(),
        online: u.joinedAt !== null,
        chatLines: u.chatLines,
        timePresentMs:
          Number(u.timePresentMs) + (u.joinedAt ? Math.max(0, Date.now() - u.joinedAt.getTime()) : 0),
      };
    }
    case "recent_chat": {
      const q = parsed.data as z.infer<(typeof querySchemas)["recent_chat"]>;
      const rows = await p.chatMessage.findMany({
        where: {
          ...(q.channel ? { channel: q.channel } : {}),
          ...(q.username ? { username: q.username } : {}),
        },
        orderBy: [{ sentAt: "desc" }, { id: "desc" }],
        take: q.limit,
      });
      return rows.map((r) => ({
        id: r.id,
        platform: r.platform,
        channel: r.channel,
        username: r.username,
        content: r.content,
        sentAt: r.sentAt.toISOString(),
      }));
    }
    case "outbound": {
      const q = parsed.data as z.infer<(typeof querySchemas)["outbound"]>;
      const rows = await p.outboundMessage.findMany({
        where: { sent: false, ...(q.recipient ? { recipient: q.recipient } : {}) },
        orderBy: { id: "asc" },
        take: q.limit,
      });
      return rows.map((r) => ({
        ...r,
        createdAt: r.createdAt.toISOString(),
        sentAt: r.sentAt?.toISOString() ?? null,
      }));
    }
    case "outbound_queue": {
      const q = parsed.data as z.infer<(typeof querySchemas)["outbound_queue"]>;
      const row = await p.outboundMessage.create({
        data: { ...q, sender: q.sender ?? null, createdAt: new Date() },
      });
      return { id: row.id };
    }
    case "outbound_mark_sent": {
      const { ids } = parsed.data as z.infer<(typeof querySchemas)["outbound_mark_sent"]>;
      const { count } = await p.outboundMessage.updateMany({
        where: { id: { in: ids }, sent: false },
        data: { sent: true, sentAt: new Date() },
      });
      return { updated: count };
    }
    case "status": {
      const [statuses, marks, latest] = await Promise.all([
        p.botStatus.findMany({ orderBy: { id: "asc" } }),
        p.highWaterMark.findMany({ orderBy: { kind: "asc" } }),
        p.userCountStat.findFirst({ orderBy: [{ recordedAt: "desc" }, { id: "desc" }] }),
      ]);
      return {
        statuses: statuses.map((s) => ({
          id: s.id,
          status: s.status,
          details: s.details,
          updatedAt: s.updatedAt.toISOString(),
        })),
        highWater: Object.fromEntries(
          marks.map((m) => [m.kind, { value: m.value, reachedAt: m.reachedAt.toISOString() }]),
        ),
        userCount: latest
          ? {
              count: latest.userCount,
              chatCount: latest.chatCount,
              recordedAt: latest.recordedAt.toISOString(),
            }
          : null,
      };
    }
    case "audit": {
      const q = parsed.data as z.infer<(typeof querySchemas)["audit"]>;
      const rows = await p.auditLog.findMany({
        where: { ...(q.plugin ? { plugin: q.plugin } : {}), ...(q.kind ? { kind: q.kind } : {}) },
        orderBy: [{ createdAt: "desc" }, { id: "desc" }],
        take: q.limit,
      });
      return rows.map((r) => ({ ...r, createdAt: r.createdAt.toISOString() }));
    }
  }
}
