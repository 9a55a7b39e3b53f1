import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

const SOURCE_FIXTURES = path.resolve(import.meta.dirname, "fixtures");
const SHARED = path.resolve(import.meta.dirname, "shared");
/** Fixture files too large to keep in the repository, written into the copy. */
const GENERATED: Record<string, () => string> = {
  // ~4.5 MB: over the bundle limit, and over the plugin host's frame limit were it sent there.
  "big-bundle/words.js": () => `export const WORDS = "${"word ".repeat(900_000)}";\n`,
};

/**
 * The hostile fixtures as the manager loads them: a temp copy in which every fixture that imports one of
 * the modules in `shared/` (`./probe.js`, `./forged.js`) gets it beside its entry. Plugins cannot import
 * outside their own folder, and one source beats a copy per fixture. The `GENERATED` files are written into
 * it too. Made once per run by the global setup, which removes it at teardown (test workers are killed, so
 * their own exit hooks never ran).
 */
export function materializeSecurityFixtures(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "rosey-security-fixtures-"));
  cpSync(SOURCE_FIXTURES, dir, { recursive: true });
  const shared = readdirSync(SHARED).map((file) => ({
    file,
    text: readFileSync(path.join(SHARED, file), "utf8"),
  }));
  for (const name of readdirSync(dir)) {
    const entry = path.join(dir, name, "index.js");
    if (!existsSync(entry)) continue;
    const code = readFileSync(entry, "utf8");
    for (const { file, text } of shared) {
      if (code.includes(`from "./${file}"`)) writeFileSync(path.join(dir, name, file), text);
    }
  }
  for (const [file, text] of Object.entries(GENERATED)) writeFileSync(path.join(dir, file), text());
  return dir;
}
