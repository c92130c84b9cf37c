#!/usr/bin/env node
/**
 * Writes docs/terraform/ (registry layout) from the Terraform schema, which is
 * read from the field tables. Run after `npm run build` whenever a field
 * changes; provider/terraform/docs.test.ts fails until you do.
 */
"use strict";
const { mkdirSync, writeFileSync } = require("node:fs");
const path = require("node:path");
const root = path.resolve(__dirname, "..");
const { terraformDocs } = require(path.join(root, "dist/provider/terraform/docs.js"));
for (const [file, text] of Object.entries(terraformDocs())) {
  const out = path.join(root, "docs", "terraform", file);
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, text);
}
