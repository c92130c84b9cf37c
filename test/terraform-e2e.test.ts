/**
 * terraform-provider-kvm with the real Terraform CLI (built from Go modules
 * by scripts/build-terraform.sh, which bootstrap runs), installed through
 * dev_overrides. Covers the handshake (AutoMTLS, ALPN h2 for Terraform ≥ 1.12),
 * the schema read from the field tables, and validation errors that name the
 * attribute. Resource CRUD is not served yet (see the README's Terraform section).
 */
import { execFile, spawn } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { CACHE, REPO } from "./fixtures/env";
import { DISK_FIELDS, VM_FIELDS } from "../sdk/protocol";
import { secretFields } from "../sdk/protocol/fields";
import { snake } from "../provider/terraform/schema";

const TF_VERSION = process.env.TF_VERSION ?? "1.13.3";
const CLI = path.join(REPO, "dist", "provider", "terraform", "cli.js");

function terraformBin(): string {
  if (process.env.TERRAFORM) return process.env.TERRAFORM;
  const built = path.join(CACHE, "terraform", TF_VERSION, "terraform");
  if (existsSync(built)) return built;
  throw new Error(`Terraform ${TF_VERSION} missing: run scripts/build-terraform.sh (looked for ${built})`);
}

let dir: string;
let env: NodeJS.ProcessEnv;
const tf = terraformBin();

function terraform(args: string[], cwd: string): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(tf, args, { cwd, env, maxBuffer: 64 << 20 }, (e, out, err) => resolve({ code: e ? ((e as { code?: number }).code ?? 1) : 0, out, err }));
  });
}

function workspace(name: string, hcl: string): string {
  const w = path.join(dir, name);
  mkdirSync(w);
  writeFileSync(
    path.join(w, "main.tf"),
    `terraform {\n  required_providers {\n    kvm = { source = "example.net/pulumi-kvm/kvm" }\n  }\n}\nprovider "kvm" {\n  transport = "local"\n}\n${hcl}`,
  );
  return w;
}

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} missing: run npm run build`);
  dir = mkdtempSync(path.join(tmpdir(), "tf-e2e-"));
  const overrides = path.join(dir, "plugins");
  mkdirSync(overrides);
  symlinkSync(CLI, path.join(overrides, "terraform-provider-kvm"));
  chmodSync(CLI, 0o755);
  writeFileSync(path.join(dir, "terraformrc"), `provider_installation {\n  dev_overrides { "example.net/pulumi-kvm/kvm" = "${overrides}" }\n  direct {}\n}\n`);
  env = { ...process.env, TF_CLI_CONFIG_FILE: path.join(dir, "terraformrc"), CHECKPOINT_DISABLE: "1", NO_COLOR: "1", TF_IN_AUTOMATION: "1" };
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("the provider refuses to run without Terraform's cookie and says what it is", async () => {
  const r = await new Promise<{ code: number | null; err: string }>((resolve) => {
    const p = spawn(process.execPath, [CLI], { env: { PATH: process.env.PATH } });
    let err = "";
    p.stderr.on("data", (d: Buffer) => (err += d.toString()));
    p.on("close", (code) => resolve({ code, err }));
  });
  expect(r.code).toBe(1);
  expect(r.err).toMatch(/Terraform provider: Terraform runs it/);
});

test("terraform reads the schema over mTLS: snake_case names from the field tables, secrets sensitive", async () => {
  const w = workspace("schema", "");
  const r = await terraform(["providers", "schema", "-json"], w);
  expect(r.err).not.toMatch(/Error/);
  // The schema document is checked field by field below: read it untyped.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const doc: any = JSON.parse(r.out);
  const p = doc.provider_schemas["example.net/pulumi-kvm/kvm"];
  expect(Object.keys(p.resource_schemas).sort()).toEqual(["kvm_disk", "kvm_network", "kvm_vm"]);
  expect(Object.keys(p.data_source_schemas)).toEqual(["kvm_host"]);
  const vm = p.resource_schemas.kvm_vm.block.attributes;
  for (const k of Object.keys(VM_FIELDS)) expect(vm[snake(k)]).toBeDefined();
  expect(Object.keys(vm).length).toBe(Object.keys(VM_FIELDS).length + 3); // + id, host_id, host
  for (const k of secretFields(VM_FIELDS)) expect(vm[snake(k)].sensitive).toBe(true);
  expect(p.resource_schemas.kvm_disk.block.attributes[snake("sizeGiB")]).toBeDefined();
  expect(Object.keys(DISK_FIELDS)).toContain("sizeGiB");
  expect(p.resource_schemas.kvm_vm.block.block_types.timeouts).toBeDefined();
  expect(p.provider.block.attributes.private_key.sensitive).toBe(true);
});

test("bad input fails terraform validate naming the attribute", async () => {
  const w = workspace("bad", `resource "kvm_disk" "d" {\n  name = "../etc"\n  size_gib = 1\n  timeouts { create = "10x" }\n}\nresource "kvm_disk" "e" {\n  nmae = "x"\n}\n`);
  const r = await terraform(["validate", "-no-color"], w);
  expect(r.code).not.toBe(0);
  const all = r.out + r.err;
  expect(all).toMatch(/Error: Invalid name[\s\S]*kvm_disk\.d[\s\S]*name = "\.\.\/etc"/);
  expect(all).toMatch(/Error: Invalid timeouts\.create[\s\S]*not a duration/);
  expect(all).toMatch(/An argument named "nmae" is not expected here/);
});

test("a plan of a new disk shows computed values as known after apply", async () => {
  const w = workspace("plan", `resource "kvm_disk" "d" {\n  name = "d1"\n  size_gib = 1\n}\n`);
  const r = await terraform(["plan", "-no-color", "-detailed-exitcode"], w);
  expect(r.err).not.toMatch(/Error/);
  expect(r.code).toBe(2);
  expect(r.out).toMatch(/kvm_disk\.d will be created/);
  expect(r.out).toMatch(/id\s+= \(known after apply\)/);
  expect(r.out).toMatch(/host_id\s+= \(known after apply\)/);
});
