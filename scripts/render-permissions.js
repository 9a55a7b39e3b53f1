#!/usr/bin/env node
// Writes docs/permissions.md from the capability catalogue. Run through `npm run docs:permissions`,
// which builds first: this script reads the compiled renderer from dist/.
import { writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { renderPermissionsDoc } from "../dist/core/audit/permissions-doc.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const target = path.join(root, "docs", "permissions.md");
writeFileSync(target, renderPermissionsDoc());
process.stdout.write(`wrote ${path.relative(root, target)}\n`);
