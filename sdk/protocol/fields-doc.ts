/**
 * The README's resource tables, rendered from the field tables. The README
 * holds them between `<!-- fields:NAME -->` and `<!-- /fields:NAME -->`;
 * `node scripts/docs-tables.js` rewrites them and a unit test
 * (fields-doc.test.ts) fails when the README disagrees with the tables.
 */
import { CHANGE_EFFECTS, FieldTable, limitsDoc } from "./fields";

function cell(s: string): string {
  return s.replace(/\|/g, "\\|").replace(/\n/g, " ");
}

function defaultOf(f: FieldTable[string]): string {
  if (f.defaultDoc !== undefined) return f.defaultDoc;
  if (f.default === undefined) return "—";
  return `\`${JSON.stringify(f.default)}\``;
}

/** One markdown table: field (with its limits), what it is, default, what a change does. */
export function renderFieldTable(t: FieldTable): string {
  const rows = Object.entries(t).map(([k, f]) => {
    const limits = limitsDoc(f);
    const name = `\`${k}\`${limits ? ` (${limits})` : ""}${f.secret ? " (secret)" : ""}`;
    return `| ${cell(name)} | ${cell(f.doc)} | ${cell(defaultOf(f))} | ${cell(f.effectDoc ?? CHANGE_EFFECTS[f.effect])} |`;
  });
  return ["| input | what it is | default | on change |", "|---|---|---|---|", ...rows].join("\n");
}

/** The README with every marked table replaced by its rendering. */
export function withFieldTables(readme: string, tables: Record<string, FieldTable>): string {
  let out = readme;
  for (const [name, t] of Object.entries(tables)) {
    const open = `<!-- fields:${name} -->`;
    const close = `<!-- /fields:${name} -->`;
    const a = out.indexOf(open);
    const b = out.indexOf(close);
    if (a < 0 || b < a) throw new Error(`README has no ${open} ... ${close} block`);
    out = out.slice(0, a + open.length) + "\n" + renderFieldTable(t) + "\n" + out.slice(b);
  }
  return out;
}
