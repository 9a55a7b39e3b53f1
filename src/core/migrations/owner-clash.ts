import type { Database, Tx } from "../db/connection.js";
import { RoseyError } from "../errors.js";
import { CORE_OWNER } from "./files.js";
import { prefixesOverlap, tablePrefix } from "./validator.js";

/**
 * Table prefixes clashing with data that outlived a plugin's folder.
 *
 * Discovery refuses both plugins of an installed pair whose prefixes overlap (`prefixClashes` in
 * plugins/manifest.ts), but tables stay when a folder goes: remove `vault-keys`, install `vault`, and
 * `vault`'s collection `keys_secrets` is served from `vault-keys`' old table `vault_keys_secrets`, and
 * `vault`'s migrations may name it. The ledger knows whose tables the database holds (only migrations create
 * a plugin's tables), so a plugin is refused while another owner with applied migrations overlaps it, until
 * that owner's data is purged (`rosey migrate <owner> purge`) or rolled back.
 */

/** Plugins (not the core) with applied migrations: the owners whose tables are in the database. */
export async function ownersWithTables(client: Pick<Tx, "pluginSchemaMigration">): Promise<string[]> {
  const rows = await client.pluginSchemaMigration.findMany({
    where: { status: "applied", pluginName: { not: CORE_OWNER } },
    distinct: ["pluginName"],
    select: { pluginName: true },
  });
  return rows.map((r) => r.pluginName).sort();
}

/** The `PLUGIN_PREFIX_CLASH` refusal of `plugin` when another of `owners` overlaps its prefix. */
export function ownerClash(plugin: string, owners: Iterable<string>): RoseyError | undefined {
  const others = [...owners].filter((o) => o !== plugin && o !== CORE_OWNER && prefixesOverlap(plugin, o));
  if (others.length === 0) return undefined;
  const prefix = tablePrefix(plugin);
  const listed = others.map((o) => `'${o}' (prefix '${tablePrefix(o)}')`).join(", ");
  const purge = others.map((o) => `\`rosey migrate ${o} purge\``).join(", ");
  return new RoseyError(
    "PLUGIN_PREFIX_CLASH",
    `Plugin '${plugin}' is refused as its table prefix '${prefix}' overlaps that of ${listed}, whose tables are still in the database (its migrations are recorded as applied, even if its folder is gone): '${plugin}' could read and write them. ` +
      `If it is removed for good, drop its data with ${purge} (it lists what it drops; add --yes to drop it); or put its folder back, roll it back (\`rosey migrate <plugin> rollback --to 0\`) and remove it again`,
    {
      details: {
        plugin,
        prefix,
        clashesWith: others.map((o) => ({ plugin: o, prefix: tablePrefix(o), inDatabase: true })),
      },
    },
  );
}

/**
 * Throws `ownerClash` of `plugin` against the ledger as it is now.
 * @throws {RoseyError} PLUGIN_PREFIX_CLASH
 */
export async function refuseOwnerClash(
  client: Pick<Tx, "pluginSchemaMigration">,
  plugin: string,
): Promise<void> {
  const clash = ownerClash(plugin, await ownersWithTables(client));
  if (clash) throw clash;
}

/**
 * `ownersWithTables` for every storage request, read at most every `ttlMs`. The ledger changes through
 * migrations and purges, which the database service runs itself and follows with `invalidate()`; the TTL
 * covers `rosey migrate` run straight against the database.
 */
export class LedgerOwners {
  readonly #db: Database;
  readonly #ttlMs: number;
  #owners: Promise<string[]> | undefined;
  #loadedAt = 0;

  constructor(db: Database, ttlMs = 5_000) {
    this.#db = db;
    this.#ttlMs = ttlMs;
  }

  /** @throws {RoseyError} PLUGIN_PREFIX_CLASH */
  async refuse(plugin: string): Promise<void> {
    const clash = ownerClash(plugin, await this.#current());
    if (clash) throw clash;
  }

  invalidate(): void {
    this.#owners = undefined;
  }

  #current(): Promise<string[]> {
    if (!this.#owners || Date.now() - this.#loadedAt > this.#ttlMs) {
      const load = ownersWithTables(this.#db.prisma);
      this.#owners = load;
      this.#loadedAt = Date.now();
      // A failed read is the request's error, not a cached answer.
      load.catch(() => {
        if (this.#owners === load) this.#owners = undefined;
      });
    }
    return this.#owners;
  }
}
