#!/usr/bin/env node
/**
 * CDK for Terraform bindings of terraform-provider-kvm, in provider/cdktf/.
 *
 *   node scripts/cdktf-bindings.js          regenerate (after `npm run build`, when a field changes)
 *   node scripts/cdktf-bindings.js --check  exit 1, naming the files, if provider/cdktf/ is stale
 *
 * The input is what Terraform itself reports: `terraform providers schema -json`, run against
 * this checkout's built provider through dev_overrides. So the bindings follow the field tables
 * by the same path as a Terraform user's plan does. The generator is HashiCorp's
 * @cdktf/provider-generator 0.21.0. Its bindings import `cdktf`, the construct library that
 * existing CDKTF apps use. The community fork (@cdktn/provider-generator 0.24.0) emits bindings
 * for its renamed `cdktn` library instead. Both reject the same input.
 * test/terraform-e2e.test.ts runs the check and applies an app made with the bindings.
 */
"use strict";
const { execFileSync } = require("node:child_process");
const { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } = require("node:fs");
const { tmpdir } = require("node:os");
const path = require("node:path");

const ROOT = path.resolve(__dirname, "..");
const OUT = path.join(ROOT, "provider", "cdktf");
const SOURCE = "example.net/pulumi-kvm/kvm";

function terraformBin() {
  if (process.env.TERRAFORM) return process.env.TERRAFORM;
  const v = process.env.TF_VERSION ?? "1.13.3";
  const built = path.join(ROOT, ".cache", "terraform", v, "terraform");
  if (!existsSync(built)) throw new Error(`Terraform ${v} missing: run scripts/build-terraform.sh (looked for ${built})`);
  return built;
}

/** `terraform providers schema -json` of this checkout's built provider (dist/), through dev_overrides. */
function schemaFromTerraform() {
  const cli = path.join(ROOT, "dist", "provider", "terraform", "cli.js");
  if (!existsSync(cli)) throw new Error(`${cli} missing: run npm run build`);
  const dir = mkdtempSync(path.join(tmpdir(), "cdktf-schema-"));
  try {
    mkdirSync(path.join(dir, "plugins"));
    symlinkSync(cli, path.join(dir, "plugins", "terraform-provider-kvm"));
    writeFileSync(path.join(dir, "terraformrc"), `provider_installation {\n  dev_overrides { "${SOURCE}" = "${path.join(dir, "plugins")}" }\n  direct {}\n}\n`);
    writeFileSync(path.join(dir, "main.tf"), `terraform {\n  required_providers {\n    kvm = { source = "${SOURCE}" }\n  }\n}\n`);
    const out = execFileSync(terraformBin(), ["providers", "schema", "-json"], {
      cwd: dir,
      env: { ...process.env, TF_CLI_CONFIG_FILE: path.join(dir, "terraformrc"), CHECKPOINT_DISABLE: "1" },
      maxBuffer: 64 << 20,
      stdio: ["ignore", "pipe", "pipe"],
    });
    return JSON.parse(out.toString("utf8"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The schema as the generator reads it. Our object attributes carry cty's list of optional
 * members (`["object", {…}, ["bus", …]]`, what Terraform reports for them), and both generators
 * stop on a three-element type ("unexpected array"). The same attributes written as nested
 * attributes (`nested_type`, nesting single or list) say the same thing, each member optional or
 * required, in the form the generator knows. Only the generator's input changes, never the wire.
 */
function forGenerator(schema) {
  const copy = structuredClone(schema);
  const nested = (members, optional, mode) => ({
    nesting_mode: mode,
    attributes: Object.fromEntries(Object.entries(members).map(([n, t]) => [n, { ...attributeOf(t), ...(optional.includes(n) ? { optional: true } : { required: true }) }])),
  });
  const attributeOf = (t) => {
    if (Array.isArray(t) && t[0] === "object") return { nested_type: nested(t[1], t[2] ?? [], "single") };
    if (Array.isArray(t) && (t[0] === "list" || t[0] === "set") && Array.isArray(t[1]) && t[1][0] === "object") return { nested_type: nested(t[1][1], t[1][2] ?? [], t[0]) };
    return { type: t };
  };
  const block = (b) => {
    for (const a of Object.values(b.attributes ?? {})) {
      const as = attributeOf(a.type);
      if (as.nested_type) {
        delete a.type;
        a.nested_type = as.nested_type;
      }
    }
    for (const bt of Object.values(b.block_types ?? {})) block(bt.block);
  };
  for (const p of Object.values(copy.provider_schemas)) {
    block(p.provider.block);
    for (const r of Object.values(p.resource_schemas ?? {})) block(r.block);
    for (const r of Object.values(p.data_source_schemas ?? {})) block(r.block);
  }
  return copy;
}

/** Writes the bindings of `schema` into `dir` (its TypeScript only: the generator's READMEs point at a registry page that does not exist). */
async function generate(schema, dir) {
  const tmp = mkdtempSync(path.join(tmpdir(), "cdktf-gen-"));
  // The generator asks the terraform on the PATH for its version; an empty CLI config keeps it
  // from warning that ~/.terraformrc does not exist.
  const rc = process.env.TF_CLI_CONFIG_FILE;
  writeFileSync(path.join(tmp, "terraformrc"), "");
  process.env.TF_CLI_CONFIG_FILE = path.join(tmp, "terraformrc");
  try {
    const { generateProviderBindingsFromSchema } = require("@cdktf/provider-generator");
    await generateProviderBindingsFromSchema(path.join(tmp, "out"), forGenerator(schema));
    const from = path.join(tmp, "out", "providers", "kvm");
    rmSync(dir, { recursive: true, force: true });
    for (const f of listFiles(from).filter((f) => f.endsWith(".ts"))) {
      mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
      writeFileSync(path.join(dir, f), readFileSync(path.join(from, f)));
    }
  } finally {
    if (rc === undefined) delete process.env.TF_CLI_CONFIG_FILE;
    else process.env.TF_CLI_CONFIG_FILE = rc;
    rmSync(tmp, { recursive: true, force: true });
  }
}

function listFiles(dir, prefix = "") {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? listFiles(path.join(dir, e.name), path.join(prefix, e.name)) : [path.join(prefix, e.name)]));
}

/** The files that differ between two binding folders (added, removed or changed), relative to them. */
function differences(a, b) {
  const names = [...new Set([...listFiles(a), ...listFiles(b)])].sort();
  return names.filter((f) => !existsSync(path.join(a, f)) || !existsSync(path.join(b, f)) || !readFileSync(path.join(a, f)).equals(readFileSync(path.join(b, f))));
}

async function main() {
  const check = process.argv.includes("--check");
  const schema = schemaFromTerraform();
  if (!check) {
    await generate(schema, OUT);
    process.stdout.write(`wrote ${path.relative(ROOT, OUT)}/ (${listFiles(OUT).length} files)\n`);
    return 0;
  }
  const fresh = mkdtempSync(path.join(tmpdir(), "cdktf-check-"));
  try {
    await generate(schema, fresh);
    const stale = differences(fresh, OUT);
    if (stale.length === 0) return 0;
    process.stderr.write(`provider/cdktf/ is stale (${stale.join(", ")}): run npm run build && node scripts/cdktf-bindings.js\n`);
    return 1;
  } finally {
    rmSync(fresh, { recursive: true, force: true });
  }
}

module.exports = { schemaFromTerraform, forGenerator, generate, differences, OUT };

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write(`${e.stack ?? e}\n`);
      process.exit(1);
    },
  );
}
