import type { Database } from "../src/core/db/connection.js";

/**
 * Fills a plugin's collection with records shaped for full scans (a JSON field to filter on, one to order
 * by), straight into `plugin_records`: through the database service it would take minutes. Used by the
 * storage-fairness bench and its integration test, so both measure the same work.
 */
export async function fillScanRecords(
  db: Pick<Database, "prisma">,
  options: { plugin: string; collection: string; count: number },
): Promise<void> {
  const now = new Date();
  const width = String(options.count).length;
  // In chunks: a statement may bind at most 65,535 parameters on PostgreSQL.
  for (let from = 0; from < options.count; from += 1_000) {
    await db.prisma.pluginRecord.createMany({
      data: Array.from({ length: Math.min(1_000, options.count - from) }, (_, j) => {
        const i = from + j;
        const value = {
          kind: i % 2 === 0 ? "a" : "b",
          score: (i * 7919) % 10_007,
          name: `user${i}`,
          text: "lorem ipsum dolor sit amet ".repeat(3),
        };
        return {
          plugin: options.plugin,
          collection: options.collection,
          key: `k${String(i).padStart(width, "0")}`,
          value,
          size: Buffer.byteLength(JSON.stringify(value)),
          createdAt: now,
          updatedAt: now,
        };
      }),
    });
  }
}
