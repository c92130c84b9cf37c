import { readFileSync } from "node:fs";
import * as path from "node:path";
import { z } from "zod";
import { fieldTable } from "../sdk/protocol/fields";
import { renderFieldTable, withFieldTables } from "../sdk/protocol/fields-doc";
import { readmeTables } from "./fields";

const README = path.join(__dirname, "..", "README.md");

test("the README's resource and connection tables are the field tables (run `npm run build && node scripts/docs-tables.js` after changing a field)", () => {
  const readme = readFileSync(README, "utf8");
  expect(withFieldTables(readme, readmeTables())).toBe(readme);
});

test("a field added to a table and not to the README fails the check above", () => {
  const readme = readFileSync(README, "utf8");
  const tables = readmeTables();
  const more = { ...tables, Vm: { ...tables.Vm, cpuModel: { schema: z.string(), doc: "A CPU model.", effect: "restart" as const } } };
  expect(withFieldTables(readme, more)).not.toBe(readme);
});

test("a table row states the limits read from the schema, the default and the effect", () => {
  const t = fieldTable({ n: { schema: z.int().min(1).max(8), default: 2, doc: "N.", effect: "restart" } });
  expect(renderFieldTable(t)).toContain("| `n` (1–8) | N. | `2` | restart of a running VM |");
});
