import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { z } from "zod";
import { VM_FIELDS } from "../../sdk/protocol";
import { attributesOf, RESOURCES } from "./schema";
import { terraformDocs } from "./docs";

const DIR = path.join(__dirname, "..", "..", "docs", "terraform");

test("docs/terraform is the schema read from the field tables (run `npm run build && node scripts/docs-terraform.js` after changing a field)", () => {
  for (const [file, text] of Object.entries(terraformDocs())) {
    const p = path.join(DIR, file);
    expect(existsSync(p) ? readFileSync(p, "utf8") : `(missing ${p})`).toBe(text);
  }
});

test("a field added to a table changes the page (so the check above fails until it is regenerated)", () => {
  const before = terraformDocs()["resources/vm.md"];
  const vm = RESOURCES.kvm_vm!;
  const more = { ...VM_FIELDS, cpuModel: { schema: z.string(), doc: "A CPU model.", effect: "restart" as const } };
  const saved = vm.schema.attributes;
  try {
    vm.schema.attributes = [...saved, ...attributesOf({ cpuModel: more.cpuModel })];
    expect(terraformDocs()["resources/vm.md"]).not.toBe(before);
    expect(terraformDocs()["resources/vm.md"]).toContain("`cpu_model`");
  } finally {
    vm.schema.attributes = saved;
  }
});
