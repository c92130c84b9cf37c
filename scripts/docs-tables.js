#!/usr/bin/env node
/**
 * Rewrites the README's resource and connection tables from the field tables
 * (sdk/protocol/*.ts VM_FIELDS, DISK_FIELDS, NETWORK_FIELDS; provider/connection.ts).
 * Run after `npm run build` whenever a field changes; provider/docs.test.ts
 * fails until you do.
 */
"use strict";
const { readFileSync, writeFileSync } = require("node:fs");
const path = require("node:path");
const root = path.resolve(__dirname, "..");
const { withFieldTables } = require(path.join(root, "dist/sdk/protocol/fields-doc.js"));
const { readmeTables } = require(path.join(root, "dist/provider/fields.js"));
const file = path.join(root, "README.md");
writeFileSync(file, withFieldTables(readFileSync(file, "utf8"), readmeTables()));
