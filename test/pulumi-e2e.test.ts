/**
 * End to end with the real Pulumi CLI: `pulumi up` → provider → SSH (real
 * sshd on 127.0.0.1) → hostd → QEMU, then preview, in-place update, drift
 * on refresh, recovery, destroy, and bad input at preview time.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { QmpClient } from "../hostd/drivers/qmp";
import { procState } from "../hostd/drivers/process";
import { announceAccelerator, queryDb, REPO, tinyGuest, waitFor } from "./fixtures/env";
import { HostdFixture } from "./fixtures/hostd";
import { PulumiProject } from "./fixtures/pulumi";
import { SshdFixture } from "./fixtures/sshd";

jest.setTimeout(900_000);

const g = tinyGuest();
let hd: HostdFixture;
let sshd: SshdFixture;

/** The example program users read is the one under test. */
const PROGRAM = readFileSync(path.join(REPO, "examples", "remote-host", "index.ts"), "utf8");

beforeAll(async () => {
  announceAccelerator();
  hd = await HostdFixture.start();
  sshd = await SshdFixture.start();
});
afterAll(async () => {
  await hd?.cleanup();
  await sshd?.stop();
});

function alive(pid: number): boolean {
  const st = procState(pid);
  return st !== undefined && st !== "Z";
}

async function memoryFromQmp(vmId: string): Promise<number> {
  const q = await QmpClient.connect(path.join(hd.stateDir, "vms", vmId, "qmp-ops.sock"));
  try {
    const m = (await q.execute("query-memory-size-summary")) as { "base-memory": number };
    return m["base-memory"] / (1024 * 1024);
  } finally {
    q.close();
  }
}

test("pulumi up / preview / update / refresh / up / destroy over SSH", async () => {
  const p = await PulumiProject.create(PROGRAM, {
    "kvm:host": sshd.host,
    "kvm:port": String(sshd.port),
    "kvm:user": sshd.user,
    "kvm:privateKey": { secret: sshd.userKeys.ed25519.privateKey },
    "kvm:knownHosts": sshd.knownHostsLine(),
    "kvm:socketPath": hd.socketPath,
    memoryMiB: "128",
    kernel: g.kernel,
    initrd: g.initrd,
    cmdline: g.cmdline,
  });
  try {
    // 1. up: the VM is created and its guest prints the readiness line.
    await p.up();
    let out = await p.outputs();
    expect(out).toMatchObject({ state: "running", running: true, memoryMiB: 128, host: `${sshd.user}@${sshd.host}:${sshd.port}:${hd.socketPath}` });
    expect(out.accelerator).toMatch(/^(tcg|kvm)$/);
    const vmId = out.vmId as string;
    const firstPid = out.pid as number;
    expect(alive(firstPid)).toBe(true);
    await waitFor("the guest's READY line", () => /READY ip=/.test(hd.serialLog(vmId)), 120_000);
    // The private key is in state only encrypted.
    const keyBody = sshd.userKeys.ed25519.privateKey.split("\n")[1]!;
    expect(await p.exportState()).not.toContain(keyBody);

    // 2. preview right after: no changes.
    const pv = await p.operation("preview", { expectNoChanges: true, diff: true });
    expect(pv.code).toBe(0);
    // And a refresh of the untouched stack reads back exactly what up recorded (no perpetual diff).
    const rf = await p.operation("refresh", { expectNoChanges: true, diff: true });
    if (rf.code !== 0) console.log(rf.output);
    expect(rf.code).toBe(0);

    // 3. memory 128 → 256: an in-place update of the same VM, visible in QMP.
    await p.setConfig("memoryMiB", "256");
    const preview = await p.mustOperation("preview", { diff: true });
    expect(preview.output).toMatch(/~\s*1 to update/);
    expect(preview.output).not.toMatch(/replace/);
    expect(preview.output).toContain("restarts the running VM in place");
    const upd = await p.up();
    expect(upd.output).toMatch(/1 updated/);
    out = await p.outputs();
    expect(out).toMatchObject({ vmId, state: "running", memoryMiB: 256 });
    expect(await memoryFromQmp(vmId)).toBe(256);
    const secondPid = out.pid as number;

    // 4. QEMU killed out of band: refresh reports the VM not running.
    process.kill(secondPid, "SIGKILL");
    await waitFor("QEMU to die", () => !alive(secondPid), 10_000);
    await p.mustOperation("refresh");
    expect(await p.resourceOutputs("app")).toMatchObject({ vmId, running: false, state: "crashed", pid: null, lastExit: { reason: "killed" } });
    const drift = await p.operation("preview", { expectNoChanges: true });
    expect(drift.code).not.toBe(0); // running: false → true is a change

    // 5. up starts it again (same VM, new process).
    await p.up();
    out = await p.outputs();
    expect(out).toMatchObject({ vmId, state: "running", running: true });
    expect(out.pid).not.toBe(secondPid);
    expect(alive(out.pid as number)).toBe(true);

    // 6. destroy leaves no process, socket, pidfile, directory or row behind.
    await p.mustOperation("destroy");
    expect(alive(out.pid as number)).toBe(false);
    expect(hd.qemuPids()).toEqual([]);
    expect(existsSync(path.join(hd.stateDir, "vms", vmId))).toBe(false);
    expect(readdirSync(path.join(hd.stateDir, "vms"))).toEqual([]);
    expect(queryDb(path.join(hd.stateDir, "hostd.db"), "SELECT id FROM vms")).toEqual([]);
  } finally {
    await p.cleanup();
  }
});

test("bad input, and inputs a resource does not have, fail at preview with a stable code naming the field, no stack trace, and nothing on the host", async () => {
  // One resource per preview: the engine stops a preview at the first resource that fails its check.
  const cases: Array<{ program: string; fields: string[]; unknown?: boolean }> = [
    { program: `new kvm.Vm("bad", { name: "Bad_Name;rm -rf /", memoryMiB: -5, vcpus: 100000, kernel: { path: "../etc/passwd" } });`, fields: ["name", "memoryMiB", "vcpus", "kernel.path"] },
    // Inputs these resources do not have (typos, or fields of a newer version): refused by name, never ignored.
    { program: `new kvm.Vm("typo", { kernel: { path: "/k" }, cpuModle: "host" } as any);`, fields: ["cpuModle"], unknown: true },
    { program: `new kvm.Disk("typo", { sizeGiB: 1, sizeGB: 1 } as any);`, fields: ["sizeGB"], unknown: true },
    { program: `new kvm.Network("typo", { ipv4: { cidr: "10.9.0.0/24" }, dns: "lab" } as any);`, fields: ["dns"], unknown: true },
  ];
  const p = await PulumiProject.create(`import * as kvm from "pulumi-kvm";\n`, { "kvm:transport": "local", "kvm:socketPath": hd.socketPath });
  try {
    for (const c of cases) {
      writeFileSync(path.join(p.projectDir, "index.ts"), `import * as kvm from "pulumi-kvm";\n${c.program}\n`);
      const r = await p.operation("preview");
      expect(r.code).not.toBe(0);
      expect(r.output).toContain("[invalid_params]");
      for (const field of c.fields) expect(r.output).toContain(c.unknown ? `${field}: is not an input of this resource` : `${field}:`);
      expect(r.output).not.toMatch(/\n\s+at .*\.js:\d+/); // no JS stack trace
    }
    expect((await hd.client().vm.list()).vms).toEqual([]);
    expect((await hd.client().disk.list()).disks).toEqual([]);
    expect((await hd.client().network.list()).networks).toEqual([]);
  } finally {
    await p.cleanup();
  }
});

test("a per-resource connection with a secret key never reaches state in plain text", async () => {
  const program = `
import * as pulumi from "@pulumi/pulumi";
import * as kvm from "pulumi-kvm";
const cfg = new pulumi.Config();
const vm = new kvm.Vm("scoped", {
  memoryMiB: 96,
  kernel: { path: cfg.require("kernel"), initrd: cfg.require("initrd"), cmdline: cfg.require("cmdline") },
  connection: {
    host: cfg.require("sshHost"),
    port: cfg.requireNumber("sshPort"),
    user: cfg.require("sshUser"),
    privateKey: cfg.requireSecret("sshKey"),
    knownHosts: cfg.require("knownHosts"),
    socketPath: cfg.require("socketPath"),
  },
});
export const state = vm.state;
`;
  const p = await PulumiProject.create(program, {
    kernel: g.kernel,
    initrd: g.initrd,
    cmdline: g.cmdline,
    sshHost: sshd.host,
    sshPort: String(sshd.port),
    sshUser: sshd.user,
    sshKey: { secret: sshd.userKeys.rsa.privateKey },
    knownHosts: sshd.knownHostsLine(),
    socketPath: hd.socketPath,
  });
  try {
    await p.up();
    expect((await p.outputs()).state).toBe("running");
    const state = await p.exportState();
    for (const line of sshd.userKeys.rsa.privateKey.split("\n").slice(1, 4)) expect(state).not.toContain(line);
    // Delete works from state alone (the key comes back decrypted from the secret output).
    await p.mustOperation("destroy");
    expect(hd.qemuPids()).toEqual([]);
  } finally {
    await p.cleanup();
  }
});
