#!/usr/bin/env node
// Writes schemas/config.schema.json and docs/configuration.md from the zod config schema. Run through
// `npm run docs:config`, which builds first: this script reads the compiled renderer from dist/.
import { writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { renderConfigDoc, renderConfigSchemaJson } from "../dist/core/config/config-doc.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
for (const [target, text] of [
  [path.join(root, "schemas", "config.schema.json"), renderConfigSchemaJson()],
  [path.join(root, "docs", "configuration.md"), renderConfigDoc()],
]) {
  writeFileSync(target, text);
  process.stdout.write(`wrote ${path.relative(root, target)}\n`);
}
