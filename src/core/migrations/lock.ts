import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { Database } from "../db/connection.js";
import { RoseyError } from "../errors.js";

/**
 * One owner's row in `migration_locks`: whatever changes an owner's tables or ledger rows (applying, rolling
 * back, purging) holds it, so two of them never interleave, whether they run in the database service or in
 * `rosey migrate` beside it.
 */

/** How long a runner waits for another's lock, and when a held lock counts as a crashed runner's. */
export const LOCK_DEFAULTS = Object.freeze({ timeoutMs: 10_000, ttlMs: 300_000 });

export interface MigrationLockOptions {
  /** Recorded as the holder, with a random suffix. */
  actor: string;
  /** How long to wait for another holder. */
  timeoutMs: number;
  /** A lock older than this belongs to a crashed runner and is taken over. */
  ttlMs: number;
}

/**
 * Runs `work` holding `owner`'s lock.
 * @throws {RoseyError} LOCK_TIMEOUT when another holder keeps it past `timeoutMs`.
 */
export async function withMigrationLock<T>(
  db: Database,
  owner: string,
  options: MigrationLockOptions,
  work: () => Promise<T>,
): Promise<T> {
  const holder = `${options.actor}#${randomUUID()}`;
  const deadline = Date.now() + options.timeoutMs;
  const locks = db.prisma.migrationLock;
  for (;;) {
    const now = new Date();
    await locks.deleteMany({ where: { pluginName: owner, expiresAt: { lt: now } } });
    try {
      await locks.create({
        data: {
          pluginName: owner,
          holder,
          acquiredAt: now,
          expiresAt: new Date(now.getTime() + options.ttlMs),
        },
      });
      break;
    } catch (err) {
      if ((err as { code?: string }).code !== "P2002") throw err;
    }
    if (Date.now() >= deadline) {
      const current = await locks.findUnique({ where: { pluginName: owner } });
      throw new RoseyError(
        "LOCK_TIMEOUT",
        `Cannot migrate '${owner}' as another runner holds its lock${current ? ` (${current.holder} since ${current.acquiredAt.toISOString()})` : ""}: waited ${options.timeoutMs} ms`,
        { details: { plugin: owner, holder: current?.holder } },
      );
    }
    await sleep(100);
  }
  try {
    return await work();
  } finally {
    await locks.deleteMany({ where: { pluginName: owner, holder } }).catch(() => {});
  }
}
