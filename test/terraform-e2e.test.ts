/**
 * terraform-provider-kvm with the real Terraform CLI (built from Go modules
 * by scripts/build-terraform.sh, which bootstrap runs), installed through
 * dev_overrides. Covers the handshake (AutoMTLS, ALPN h2 for Terraform ≥ 1.12),
 * the schema read from the field tables, and validation errors that name the
 * attribute; then a lab (a network, a disk, two VMs) applied over SSH (real
 * sshd on 127.0.0.1) to a real hostd in its own network namespace, planned
 * again with no changes, changed, drifted, imported and destroyed. The CDKTF
 * bindings are checked against the generator run on `terraform providers
 * schema -json`, and the CDKTF example app is synthesized and applied.
 */
import { execFile, spawn } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { announceAccelerator, REPO, terraformBin, tinyGuest, tofuBin, waitFor } from "./fixtures/env";
import { HostdFixture } from "./fixtures/hostd";
import { Netns } from "./fixtures/netns";
import { SshdFixture } from "./fixtures/sshd";
import { HostClient } from "../sdk/client";
import { LocalTransport } from "../sdk/transport/local";
import { DISK_FIELDS, VM_FIELDS } from "../sdk/protocol";
import { secretFields } from "../sdk/protocol/fields";
import { snake } from "../provider/terraform/schema";
import { VM_OUTPUT_FIELDS } from "../provider/outputs";

const CLI = path.join(REPO, "dist", "provider", "terraform", "cli.js");

let dir: string;
let env: NodeJS.ProcessEnv;
const tf = terraformBin();

interface Ran {
  code: number;
  out: string;
  err: string;
}

/** Runs `cmd` to its end (no shell): its exit code, stdout and stderr. */
function run(cmd: string, args: string[], o: { cwd?: string; env?: NodeJS.ProcessEnv }): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(cmd, args, { ...o, maxBuffer: 64 << 20 }, (e, out, err) => resolve({ code: e ? ((e as { code?: number }).code ?? 1) : 0, out, err }));
  });
}

/** The Terraform CLI (or `o.bin`, e.g. OpenTofu's) in `cwd`, with the file's dev_overrides (or `o.env`). */
function terraform(args: string[], cwd: string, o: { bin?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Ran> {
  return run(o.bin ?? tf, args, { cwd, env: o.env ?? env });
}

function workspace(name: string, hcl: string, provider = `transport = "local"`): string {
  const w = path.join(dir, name);
  mkdirSync(w);
  writeFileSync(
    path.join(w, "main.tf"),
    `terraform {\n  required_providers {\n    kvm = { source = "example.net/pulumi-kvm/kvm" }\n  }\n}\nprovider "kvm" {\n  ${provider}\n}\n${hcl}`,
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

jest.setTimeout(900_000);

let ns: Netns | undefined;
let hd: HostdFixture | undefined;
let sshd: SshdFixture | undefined;

/** One hostd (in its own network namespace) and one sshd for the file's tests that reach a host. */
beforeAll(async () => {
  announceAccelerator();
  ns = Netns.create();
  hd = await HostdFixture.start({ netns: ns.host });
  sshd = await SshdFixture.start();
});

afterAll(async () => {
  await hd?.cleanup();
  await sshd?.stop();
  ns?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

/** The provider block that reaches the test's hostd through the test's sshd. */
function overSsh(): string {
  const q = JSON.stringify;
  return [
    `host = ${q(sshd!.host)}`,
    `port = ${sshd!.port}`,
    `user = ${q(sshd!.user)}`,
    `private_key_path = ${q(sshd!.userKeys.ed25519.path)}`,
    `known_hosts = ${q(sshd!.knownHostsLine() + "\n")}`,
    `socket_path = ${q(hd!.socketPath)}`,
  ].join("\n  ");
}

/** What hostd has, by kind: the host's inventory. */
async function inventory(): Promise<{ vms: string[]; disks: string[]; networks: string[] }> {
  const c = new HostClient(new LocalTransport(hd!.socketPath));
  const [vms, disks, networks] = await Promise.all([c.vm.list(), c.disk.list(), c.network.list()]);
  return { vms: vms.vms.map((v) => v.name).sort(), disks: disks.disks.map((d) => d.name).sort(), networks: networks.networks.map((n) => n.name).sort() };
}

function lab(o: { memory?: number; sizeGiB?: number; source?: string } = {}): string {
  const memory = o.memory ?? 128;
  const g = tinyGuest();
  const q = JSON.stringify;
  const kernel = `kernel = { path = ${q(g.kernel)}, initrd = ${q(g.initrd)}, cmdline = ${q(g.cmdline)} }`;
  return `
resource "kvm_network" "lab" {
  name = "tflab"
  mode = "isolated"
  ipv4 = { cidr = "10.77.0.0/24" }
}
resource "kvm_disk" "data" {
  name = "tfdata"
  size_gib = ${o.sizeGiB ?? 1}
  ${o.source ?? ""}
}
resource "kvm_vm" "a" {
  name = "tfa"
  memory_mib = ${memory}
  ${kernel}
  disks = [{ disk = kvm_disk.data.name }]
  network_interfaces = [{ network = kvm_network.lab.name }]
}
resource "kvm_vm" "b" {
  name = "tfb"
  memory_mib = 128
  ${kernel}
  network_interfaces = [{ network = kvm_network.lab.name }]
  cloud_init = { user_data = "#cloud-config\\n# SECRET-MARKER-7f3a\\n" }
}
`;
}

test("a lab over SSH: apply, no changes on the next plan, secrets hidden, import, drift, destroy leaves nothing", async () => {
  const before = await inventory();
  const hello = await new HostClient(new LocalTransport(hd!.socketPath)).helloOnce();

  // The kvm_host data source: host.hello over the provider block's connection.
  const host = workspace("host", `data "kvm_host" "h" {}\noutput "id" { value = data.kvm_host.h.id }\noutput "accelerator" { value = data.kvm_host.h.accelerator }\noutput "capabilities" { value = data.kvm_host.h.capabilities }\n`, overSsh());
  const hr = await terraform(["apply", "-no-color", "-auto-approve", "-json"], host);
  expect(hr.err).toBe("");
  const outs = JSON.parse((await terraform(["output", "-json"], host)).out) as Record<string, { value: unknown }>;
  expect([outs.id?.value, outs.accelerator?.value, outs.capabilities?.value]).toEqual([hello.hostId, hello.accelerator.kind, hello.capabilities]);
  const w = workspace("lab", lab(), overSsh());
  const rewrite = (hcl: string) => writeFileSync(path.join(w, "main.tf"), readFileSync(path.join(w, "main.tf"), "utf8").replace(/\nresource[\s\S]*$/, hcl));

  // 1. apply boots both VMs; the next plan is empty.
  const plan0 = await terraform(["plan", "-no-color", "-out=p0"], w);
  expect(plan0.err).toBe("");
  // 6. the cloud-init user-data is sensitive: not in the plan's output.
  expect(plan0.out).toMatch(/cloud_init\s+= \(sensitive value\)/);
  expect(plan0.out).not.toContain("SECRET-MARKER");
  const up = await terraform(["apply", "-no-color", "-auto-approve", "p0"], w);
  expect(up.err).toBe("");
  expect(up.out).toMatch(/Apply complete! Resources: 4 added, 0 changed, 0 destroyed/);
  const c = new HostClient(new LocalTransport(hd!.socketPath));
  for (const n of ["tfa", "tfb"]) {
    const vm = await c.vm.get(n);
    expect(vm.state).toBe("running");
    // The owner is the Terraform face's, as the Pulumi face records its own.
    expect(vm.owner).toBe(`terraform:kvm_vm/${n}`);
  }
  expect((await c.disk.get("tfdata")).attachedTo).toBe("tfa");
  const again = await terraform(["plan", "-no-color", "-detailed-exitcode"], w);
  expect(again.err).toBe("");
  expect(again.code).toBe(0);
  // The outputs are attributes, as the host reports them. The disk was made before its VM took it:
  // a refresh (a plan's refresh is not saved) reads what changed since, such as attached_to.
  expect((await terraform(["apply", "-refresh-only", "-auto-approve", "-no-color"], w)).err).toBe("");
  const shown = JSON.parse((await terraform(["show", "-json"], w)).out) as { values: { root_module: { resources: { address: string; values: Record<string, unknown> }[] } } };
  const attrs = (address: string) => shown.values.root_module.resources.find((r) => r.address === address)!.values;
  const vmA = await c.vm.get("tfa");
  expect(attrs("kvm_vm.a")).toMatchObject({ state: "running", pid: vmA.pid, accelerator: vmA.accelerator, mac_addresses: vmA.nics.map((n) => n.mac) });
  expect(attrs("kvm_disk.data")).toMatchObject({ attached_to: "tfa", path: (await c.disk.get("tfdata")).path, virtual_size_bytes: 1024 ** 3 });
  expect(attrs("kvm_network.lab")).toMatchObject({ state: "active", gateway: "10.77.0.1", bridge_name: (await c.network.get("tflab")).bridge });

  // 3. a VM deleted out of band: the next plan creates it again.
  const b = await c.vm.get("tfb");
  await c.vm.delete({ name: "tfb", id: b.id });
  const drift = await terraform(["plan", "-no-color", "-detailed-exitcode"], w);
  expect(drift.code).toBe(2);
  expect(drift.out).toMatch(/kvm_vm\.b will be created/);
  expect(drift.out).toMatch(/Plan: 1 to add, 0 to change, 0 to destroy/);
  const fix = await terraform(["apply", "-no-color", "-auto-approve"], w);
  expect(fix.err).toBe("");

  // 2. memory: an in-place update that says the running VM restarts (the Pulumi preview's sentence); same VM after.
  const aId = (await c.vm.get("tfa")).id;
  rewrite(lab({ memory: 256 }));
  const mem = await terraform(["plan", "-no-color", "-out=p1"], w);
  expect(mem.err).toBe("");
  expect(mem.out).toMatch(/kvm_vm\.a will be updated in-place/);
  expect(mem.out).toMatch(/memory_mib\s+= 128 -> 256/);
  expect(mem.out).toMatch(/Warning: Vm "tfa": changing memoryMiB restarts the running VM in place/);
  expect(mem.out).toMatch(/Plan: 0 to add, 1 to change, 0 to destroy/);
  expect((await terraform(["apply", "-no-color", "-auto-approve", "p1"], w)).err).toBe("");
  const a = await c.vm.get("tfa");
  expect([a.id, a.spec.memoryMiB, a.state]).toEqual([aId, 256, "running"]);

  // 2. a disk's source: a replacement, and the plan says the data is lost (planned only).
  rewrite(lab({ memory: 256, source: `source = { kind = "hostPath", path = ${JSON.stringify(tinyGuest().initrd)} }` }));
  const src = await terraform(["plan", "-no-color"], w);
  expect(src.err).toBe("");
  expect(src.out).toMatch(/kvm_disk\.data must be replaced/);
  expect(src.out).toMatch(/# forces replacement/);
  expect(src.out).toMatch(/Warning: Disk "tfdata": changing source REPLACES the disk: its data is lost/);

  // 2. growing a disk is in place, online: the VM using it keeps running in the same QEMU.
  rewrite(lab({ memory: 256, sizeGiB: 2 }));
  const grow = await terraform(["plan", "-no-color", "-out=p2"], w);
  expect(grow.err).toBe("");
  expect(grow.out).toMatch(/kvm_disk\.data will be updated in-place/);
  expect(grow.out).toMatch(/Warning: Disk "tfdata": grows in place to 2 GiB/);
  expect((await terraform(["apply", "-no-color", "-auto-approve", "p2"], w)).err).toBe("");
  expect((await c.disk.get("tfdata")).virtualSizeBytes).toBe(2 * 1024 ** 3);
  expect((await c.vm.get("tfa")).pid).toBe(a.pid);
  expect((await terraform(["plan", "-no-color", "-detailed-exitcode"], w)).code).toBe(0);

  // Drift: memory changed on the host (hostd's API, as its CLI does) reads into state; the plan puts it back.
  await c.vm.update({ name: "tfb", memoryMiB: 192 });
  const drifted = await terraform(["plan", "-no-color", "-detailed-exitcode"], w);
  expect(drifted.code).toBe(2);
  expect(drifted.out).toMatch(/kvm_vm\.b will be updated in-place/);
  expect(drifted.out).toMatch(/memory_mib\s+= 192 -> 128/);
  expect((await terraform(["apply", "-no-color", "-auto-approve"], w)).err).toBe("");
  expect((await c.vm.get("tfb")).spec.memoryMiB).toBe(128);

  // 3. import: forget the network, disk and a VM, import them by name; the next plan is empty.
  for (const r of ["kvm_vm.a", "kvm_disk.data", "kvm_network.lab"]) expect((await terraform(["state", "rm", r], w)).code).toBe(0);
  for (const [r, n] of [["kvm_network.lab", "tflab"], ["kvm_disk.data", "tfdata"], ["kvm_vm.a", "tfa"]] as const) {
    const imp = await terraform(["import", "-no-color", r, n], w);
    expect(imp.err).toBe("");
    expect(imp.out).toMatch(/Import successful/);
  }
  const afterImport = await terraform(["plan", "-no-color", "-detailed-exitcode"], w);
  expect(afterImport.err).toBe("");
  expect(afterImport.code).toBe(0);
  const missing = await terraform(["import", "-no-color", "kvm_vm.b", "no-such-vm"], w);
  expect(missing.code).not.toBe(0);
  expect(missing.err).toMatch(/There is no VM named "no-such-vm" on/);

  // 8. destroy leaves the host as it was.
  const down = await terraform(["destroy", "-no-color", "-auto-approve"], w);
  expect(down.err).toBe("");
  expect(down.out).toMatch(/Destroy complete! Resources: 4 destroyed/);
  expect(await inventory()).toEqual(before);
});

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
  expect(Object.keys(vm).length).toBe(Object.keys(VM_FIELDS).length + 3 + Object.keys(VM_OUTPUT_FIELDS).length); // + id, host_id, host and the outputs
  for (const k of Object.keys(VM_OUTPUT_FIELDS)) expect(vm[snake(k)]).toMatchObject({ computed: true });
  for (const k of Object.keys(VM_OUTPUT_FIELDS)) expect(vm[snake(k)].optional).toBeUndefined();
  for (const k of secretFields(VM_FIELDS)) expect(vm[snake(k)].sensitive).toBe(true);
  expect(p.resource_schemas.kvm_disk.block.attributes[snake("sizeGiB")]).toBeDefined();
  expect(Object.keys(DISK_FIELDS)).toContain("sizeGiB");
  expect(p.resource_schemas.kvm_vm.block.block_types.timeouts).toBeDefined();
  expect(p.provider.block.attributes.private_key.sensitive).toBe(true);
});

test("bad input fails terraform validate naming the attribute", async () => {
  const w = workspace("bad", `resource "kvm_disk" "d" {\n  name = "../etc"\n  size_gib = 1\n  timeouts { create = "10x" }\n}\nresource "kvm_disk" "e" {\n  nmae = "x"\n}\nresource "kvm_vm" "v" {\n  name = "v"\n  memory_mib = 0\n  network_interfaces = [{ network = "n", mac = "zz" }]\n}\n`);
  const r = await terraform(["validate", "-no-color"], w);
  expect(r.code).not.toBe(0);
  const all = r.out + r.err;
  expect(all).toMatch(/Error: Invalid name[\s\S]*kvm_disk\.d[\s\S]*name = "\.\.\/etc"/);
  expect(all).toMatch(/Error: Invalid timeouts\.create[\s\S]*not a duration/);
  expect(all).toMatch(/An argument named "nmae" is not expected here/);
  expect(all).toMatch(/Error: Invalid memory_mib[\s\S]*kvm_vm\.v[\s\S]*memory_mib = 0/);
  // A nested value is named down to its list element.
  expect(all).toMatch(/Error: Invalid network_interfaces\.\[0\]\.mac[\s\S]*must be a MAC address/);
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

/** A VM that waits for an IP address it can never get: it has no NIC. */
function waiting(name: string, create: string): string {
  const g = tinyGuest();
  const q = JSON.stringify;
  return `
resource "kvm_vm" "w" {
  name = "${name}"
  memory_mib = 128
  kernel = { path = ${q(g.kernel)}, initrd = ${q(g.initrd)}, cmdline = ${q(g.cmdline)} }
  wait_for = "ip"
  timeouts { create = "${create}" }
}
`;
}

test("timeouts { create } bounds the wait for an IP, names the VM and leaves nothing; Ctrl-C during a create stops cleanly", async () => {
  const before = await inventory();

  // 4. create = "10s": the apply fails naming the VM, and the VM is deleted again.
  const w = workspace("timeout", waiting("tfwait", "10s"), overSsh());
  const t0 = Date.now();
  const r = await terraform(["apply", "-no-color", "-auto-approve"], w);
  // eslint-disable-next-line no-console
  console.log(`[terraform-e2e] timeouts.create = 10s: apply failed after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  expect(r.code).not.toBe(0);
  // Terraform wraps diagnostics at 78 columns.
  const err = r.err.replace(/\s+/g, " ");
  expect(err).toMatch(/Error creating kvm_vm "tfwait"/);
  expect(err).toMatch(/VM "tfwait" got no IP address within 10 s/);
  expect(err).toMatch(/The VM was deleted again/);
  expect(await inventory()).toEqual(before);
  expect((await terraform(["state", "list"], w)).out.trim()).toBe("");

  // 4. SIGINT to terraform while it waits: StopProvider stops the wait, the VM is deleted again.
  const w2 = workspace("sigint", waiting("tfint", "10m"), overSsh());
  const c = new HostClient(new LocalTransport(hd!.socketPath));
  const p = spawn(tf, ["apply", "-no-color", "-auto-approve"], { cwd: w2, env });
  let out = "";
  p.stdout.on("data", (d: Buffer) => (out += d.toString()));
  p.stderr.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => p.on("close", resolve));
  await waitFor("the VM tfint on the host", async () => (await c.vm.list()).vms.some((v) => v.name === "tfint" && v.state === "running"), 120_000);
  p.kill("SIGINT");
  const code = await exited;
  expect(code).not.toBe(0);
  const said = out.replace(/\s+/g, " ");
  expect(said).toMatch(/Interrupt received/);
  expect(said).toMatch(/VM "tfint": stopped while waiting for it to be reporting an IP address/);
  expect(said).toMatch(/The VM was deleted again/);
  expect(await inventory()).toEqual(before);
  expect((await terraform(["state", "list"], w2)).out.trim()).toBe("");
});

/**
 * Terraform's environment with the provider installed as a user installs it: a filesystem mirror
 * holding the README's wrapper (pointing at this checkout's build instead of a global install).
 * Made once per file.
 */
let mirrorEnvMade: NodeJS.ProcessEnv | undefined;
function mirrorEnv(): { env: NodeJS.ProcessEnv; version: string } {
  const version = (JSON.parse(readFileSync(path.join(REPO, "package.json"), "utf8")) as { version: string }).version;
  if (!mirrorEnvMade) {
    const mirror = path.join(dir, "plugin-mirror");
    const bin = path.join(mirror, "example.net", "pulumi-kvm", "kvm", version, "linux_amd64");
    mkdirSync(bin, { recursive: true });
    writeFileSync(path.join(bin, `terraform-provider-kvm_v${version}`), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} "$@"\n`, { mode: 0o755 });
    writeFileSync(path.join(dir, "mirrorrc"), `provider_installation {\n  filesystem_mirror {\n    path = "${mirror}"\n    include = ["example.net/*/*"]\n  }\n}\n`);
    mirrorEnvMade = { ...env, TF_CLI_CONFIG_FILE: path.join(dir, "mirrorrc") };
  }
  return { env: mirrorEnvMade, version };
}

test("installed like a user: a filesystem mirror, terraform init records the provider in the lock file", async () => {
  const { env: viaMirror, version } = mirrorEnv();
  const w = workspace("mirror", `data "kvm_host" "h" {}\n`);
  const init = await terraform(["init", "-no-color"], w, { env: viaMirror });
  expect(init.err).toBe("");
  expect(init.out).toMatch(new RegExp(`Installed example.net/pulumi-kvm/kvm v${version.replace(/\./g, "\\.")}`));
  expect(readFileSync(path.join(w, ".terraform.lock.hcl"), "utf8")).toContain(`provider "example.net/pulumi-kvm/kvm"`);
  const v = await terraform(["validate", "-no-color"], w, { env: viaMirror });
  expect(v.code).toBe(0);
});

/** scripts/cdktf-bindings.js, as this file uses it. */
interface CdktfBindings {
  schemaFromTerraform(): { provider_schemas: Record<string, { resource_schemas: Record<string, { block: { attributes: Record<string, unknown> } }> }> };
  generate(schema: unknown, dir: string): Promise<void>;
  differences(a: string, b: string): string[];
  OUT: string;
}

test("the CDKTF bindings in provider/cdktf/ are what the generator makes of `terraform providers schema -json`, and a field the schema gains makes the check fail", async () => {
  const cdk = require(path.join(REPO, "scripts", "cdktf-bindings.js")) as CdktfBindings;
  const schema = cdk.schemaFromTerraform();
  const fresh = path.join(dir, "cdktf-fresh");
  await cdk.generate(schema, fresh);
  expect(cdk.differences(fresh, cdk.OUT)).toEqual([]);
  // The command the docs name agrees.
  const check = await run(process.execPath, [path.join(REPO, "scripts", "cdktf-bindings.js"), "--check"], { env });
  expect([check.code, check.err]).toEqual([0, ""]);
  // A row added to VM_FIELDS reaches Terraform's schema as one more attribute (schema.test.ts shows
  // that path); with it, the committed bindings are stale and the check names the file.
  const grown = structuredClone(schema);
  grown.provider_schemas["example.net/pulumi-kvm/kvm"]!.resource_schemas.kvm_vm!.block.attributes.added_in_a_test = { type: "string", optional: true, description: "A field the tables gained.", description_kind: "markdown" };
  const stale = path.join(dir, "cdktf-stale");
  await cdk.generate(grown, stale);
  expect(cdk.differences(stale, cdk.OUT)).toEqual(["vm/index.ts"]);
});

test("a CDK for Terraform app made with the generated bindings synthesizes, and terraform applies it over SSH; the next plan is empty; destroy leaves nothing", async () => {
  const before = await inventory();
  const app = path.join(dir, "cdktf-app");
  mkdirSync(app);
  const knownHosts = path.join(dir, "cdktf-known_hosts");
  writeFileSync(knownHosts, sshd!.knownHostsLine() + "\n");
  const g = tinyGuest();
  // The example exactly as a user runs it (compiled by npm run build): `node main.js` writes cdktf.out/.
  const synth = await run(process.execPath, [path.join(REPO, "dist", "examples", "cdktf", "main.js")], {
    cwd: app,
    env: {
      ...env,
      PKVM_HOST: sshd!.host,
      PKVM_PORT: String(sshd!.port),
      PKVM_USER: sshd!.user,
      PKVM_KEY: sshd!.userKeys.ed25519.path,
      PKVM_KNOWN_HOSTS: knownHosts,
      PKVM_SOCKET: hd!.socketPath,
      PKVM_KERNEL: g.kernel,
      PKVM_INITRD: g.initrd,
      PKVM_CMDLINE: g.cmdline,
    },
  });
  expect(synth.code === 0 ? "ok" : synth.err).toBe("ok");
  const stack = path.join(app, "cdktf.out", "stacks", "lab");
  const json = JSON.parse(readFileSync(path.join(stack, "cdk.tf.json"), "utf8")) as { terraform: { required_providers: Record<string, { source: string }> }; resource: Record<string, unknown> };
  expect(json.terraform.required_providers.kvm?.source).toBe("example.net/pulumi-kvm/kvm");
  expect(Object.keys(json.resource).sort()).toEqual(["kvm_disk", "kvm_network", "kvm_vm"]);

  // CDKTF writes a local backend into the stack, so this is a user's `terraform init && terraform apply`,
  // with the provider installed from a filesystem mirror (dev_overrides skip init; init refuses them).
  const { env: viaMirror } = mirrorEnv();
  const tfm = (args: string[]) => terraform(args, stack, { env: viaMirror });
  const init = await tfm(["init", "-no-color"]);
  expect(init.code === 0 ? "ok" : init.err).toBe("ok");
  const up = await tfm(["apply", "-no-color", "-auto-approve"]);
  expect(up.err).toBe("");
  expect(up.out).toMatch(/Apply complete! Resources: 4 added, 0 changed, 0 destroyed/);
  const c = new HostClient(new LocalTransport(hd!.socketPath));
  const outs = JSON.parse((await tfm(["output", "-json"])).out) as { vm_ids: { value: Record<string, string> }; host_id: { value: string } };
  for (const n of ["a", "b"]) {
    const vm = await c.vm.get(`cdk-${n}`);
    expect([vm.state, vm.owner]).toEqual(["running", `terraform:kvm_vm/cdk-${n}`]);
    expect(outs.vm_ids.value[n]).toBe(vm.id);
  }
  expect(outs.host_id.value).toBe(hd!.hostId);
  expect((await c.disk.get("cdk-data")).attachedTo).toBe("cdk-a");
  const again = await tfm(["plan", "-no-color", "-detailed-exitcode"]);
  expect(again.err).toBe("");
  expect(again.code).toBe(0);
  const down = await tfm(["destroy", "-no-color", "-auto-approve"]);
  expect(down.err).toBe("");
  expect(down.out).toMatch(/Destroy complete! Resources: 4 destroyed/);
  expect(await inventory()).toEqual(before);
});

test.each([
  ["Terraform", () => tf],
  ["OpenTofu", tofuBin],
])("the HCL quick-start lab (examples/terraform-quickstart/main.tf) applies as it is with %s: its VM runs, its outputs are the host's, the next plan is empty, destroy leaves nothing", async (cli, bin) => {
  const cliIn = (args: string[], cwd: string) => terraform(args, cwd, { bin: bin() });
  const before = await inventory();
  const w = path.join(dir, `quickstart-${cli}`);
  mkdirSync(w);
  writeFileSync(path.join(w, "main.tf"), readFileSync(path.join(REPO, "examples", "terraform-quickstart", "main.tf")));
  const vars = ["-var", `socket_path=${hd!.socketPath}`, "-var", `guest_dir=${path.dirname(tinyGuest().kernel)}`];
  const up = await cliIn(["apply", "-no-color", "-auto-approve", ...vars], w);
  expect(up.err).toBe("");
  expect(up.out).toMatch(/Apply complete! Resources: 1 added, 0 changed, 0 destroyed/);
  const c = new HostClient(new LocalTransport(hd!.socketPath));
  const vm = await c.vm.get("hello");
  const outs = JSON.parse((await cliIn(["output", "-json"], w)).out) as Record<string, { value: unknown }>;
  expect([outs.state?.value, outs.accelerator?.value, outs.vm_id?.value]).toEqual(["running", vm.accelerator, vm.id]);
  await waitFor("the quick-start VM's READY line", () => /READY/.test(hd!.serialLog(vm.id)), 180_000);
  const again = await cliIn(["plan", "-no-color", "-detailed-exitcode", ...vars], w);
  expect(again.err).toBe("");
  expect(again.code).toBe(0);
  const down = await cliIn(["destroy", "-no-color", "-auto-approve", ...vars], w);
  expect(down.err).toBe("");
  expect(down.out).toMatch(/Destroy complete! Resources: 1 destroyed/);
  expect(await inventory()).toEqual(before);
});
