/**
 * An operator at the host and the stack that declared the VMs, with the real
 * Pulumi CLI: each operator command (`hostd vm set`, `vm stop`, `vm kill`,
 * `vm start`, `vm restart`, `disk resize`) shows on `pulumi refresh` as exactly
 * that change, `pulumi up` puts the declared state back (a grown disk cannot
 * shrink: the preview refuses, loses nothing), and `hostd events` names the
 * operator's uid. Each change an operator can make under a running QEMU (on its
 * operators' QMP socket, or to its tap) shows the same way. A VM or a Disk's
 * file deleted out of band reads as gone, and `up` makes it again.
 * One booted tiny guest for the whole file, beside a stopped one and a VM that
 * boots nothing (a blank disk and an empty ISO: only its devices matter).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { VM_FIELDS } from "../sdk/protocol";
import { announceAccelerator, HOSTD_CLI, NODE, REPO, tinyGuest, waitFor } from "./fixtures/env";
import { HostdFixture } from "./fixtures/hostd";
import { PulumiProject } from "./fixtures/pulumi";

jest.setTimeout(900_000);

const g = tinyGuest();
let hd: HostdFixture;
let p: PulumiProject;
// Two ISOs the VMs' users may read (QEMU opens a cdrom as the VM's own uid).
const isoDir = mkdtempSync(path.join(tmpdir(), "pkvm-operator-iso-"));
const ISO_A = path.join(isoDir, "a.iso");
const ISO_B = path.join(isoDir, "b.iso");

const kernel = `{ path: ${JSON.stringify(g.kernel)}, initrd: ${JSON.stringify(g.initrd)}, cmdline: ${JSON.stringify(g.cmdline)} }`;
const PROGRAM = `
import * as pulumi from "@pulumi/pulumi";
import * as kvm from "pulumi-kvm";
const cfg = new pulumi.Config();
const disk = new kvm.Disk("data", { sizeGiB: cfg.getNumber("dataGiB") ?? 1 });
new kvm.Disk("spare", { sizeGiB: cfg.getNumber("spareGiB") ?? 1 });
const lan = new kvm.Network("lan", { mode: "isolated", ipv4: { cidr: "10.83.0.0/24" } });
new kvm.Vm("app", { memoryMiB: 128, kernel: ${kernel}, disks: [{ disk: disk.name }], networkInterfaces: [{ network: lan.name }], timeoutSeconds: 120 });
// Declared stopped: an operator's "vm start" is the change.
new kvm.Vm("idle", { running: false, memoryMiB: 64, kernel: ${kernel}, stopTimeoutSeconds: 0 });
const blank = new kvm.Disk("blank", { sizeGiB: 1 });
new kvm.Vm("firm", {
  memoryMiB: 64,
  disks: [{ disk: blank.name }],
  cdrom: { path: ${JSON.stringify(ISO_A)} },
  networkInterfaces: [{ network: lan.name }],
  guestAgent: false,
  // Nothing in it answers ACPI: a restart powers it off at once.
  stopTimeoutSeconds: 0,
  timeoutSeconds: 120,
});
`;

beforeAll(async () => {
  announceAccelerator();
  chmodSync(isoDir, 0o755);
  for (const f of [ISO_A, ISO_B]) writeFileSync(f, Buffer.alloc(1024 * 1024), { mode: 0o644 });
  hd = await HostdFixture.start();
  p = await PulumiProject.create(PROGRAM, { "kvm:transport": "local", "kvm:socketPath": hd.socketPath });
  await p.up();
});
afterAll(async () => {
  await p?.mustOperation("destroy").catch((e: Error) => console.log(e.message));
  await p?.cleanup();
  await hd?.cleanup();
  rmSync(isoDir, { recursive: true, force: true });
});

function hostd(...args: string[]): string {
  const r = spawnSync(NODE, [HOSTD_CLI, ...args, "--socket", hd.socketPath], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`hostd ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/** The VM's spec fields (its inputs as the host has them) that differ between two readings of its state. */
function specChanges(before: Record<string, unknown>, after: Record<string, unknown>): string[] {
  return Object.keys(VM_FIELDS).filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]));
}

/**
 * The tiny guest's latest boot is up (its serial log keeps every boot: READY after the last kernel
 * banner). An unplug completes only when the guest's kernel lets the device go.
 */
async function guestUp(vm: Record<string, unknown>): Promise<void> {
  await waitFor(`the guest of ${vm.name as string} to be up`, () => {
    const log = hd.serialLog(vm.vmId as string);
    return log.lastIndexOf("READY ip=") > log.lastIndexOf("Linux version");
  }, 120_000);
}

/** Every VM's declared spec fields that differ between the state now and `before` (by resource). */
async function changesOfEveryVm(before: Record<string, Record<string, unknown>>): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const [r, outs] of Object.entries(before)) out[r] = specChanges(outs, await p.resourceOutputs(r));
  return out;
}

async function vmOutputs(): Promise<Record<string, Record<string, unknown>>> {
  return { app: await p.resourceOutputs("app"), idle: await p.resourceOutputs("idle"), firm: await p.resourceOutputs("firm") };
}

const none = { app: [], idle: [], firm: [] };

test.each([
  { title: "vm set --memory 160", vm: "app", command: ["vm", "set", "NAME", "--memory", "160", "--timeout", "0"], changes: ["memoryMiB"], event: "vm.updated" },
  { title: "vm set --vcpus 2", vm: "app", command: ["vm", "set", "NAME", "--vcpus", "2", "--timeout", "0"], changes: ["vcpus"], event: "vm.updated" },
  { title: "vm set --running false", vm: "app", command: ["vm", "set", "NAME", "--running", "false", "--timeout", "0"], changes: ["running"], event: "vm.updated" },
  { title: "vm stop", vm: "app", command: ["vm", "stop", "NAME", "--timeout", "0"], changes: ["running"], event: "vm.exited" },
  { title: "vm kill", vm: "app", command: ["vm", "kill", "NAME"], changes: ["running"], event: "vm.exited" },
  { title: "vm start", vm: "idle", command: ["vm", "start", "NAME"], changes: ["running"], event: "vm.started" },
  // A restart changes no declared field: refresh shows nothing to put back (only the new pid).
  { title: "vm restart", vm: "app", command: ["vm", "restart", "NAME", "--timeout", "0"], changes: [], event: "vm.started" },
])("hostd $title: refresh shows exactly $changes, up puts it back, events name the uid", async ({ vm, command, changes, event }) => {
  const vmsBefore = await vmOutputs();
  const declared = vmsBefore[vm]!;
  const diskBefore = await p.resourceOutputs("data");
  const name = declared.name as string;
  const { events: before } = await hd.client().events({ object: name, limit: 1 });
  hostd(...command.map((a) => (a === "NAME" ? name : a)));

  const refresh = await p.mustOperation("refresh", { diff: true });
  // That one change, on that VM, and nothing on the others.
  expect(await changesOfEveryVm(vmsBefore)).toEqual({ ...none, [vm]: changes });
  for (const k of changes) expect(refresh.output).toContain(k);
  // The Disk did not change.
  const diskAfter = await p.resourceOutputs("data");
  expect({ diskId: diskAfter.diskId, sizeGiB: diskAfter.sizeGiB, virtualSizeBytes: diskAfter.virtualSizeBytes }).toEqual({ diskId: diskBefore.diskId, sizeGiB: diskBefore.sizeGiB, virtualSizeBytes: diskBefore.virtualSizeBytes });

  const preview = await p.operation("preview", { expectNoChanges: true, diff: true });
  expect(preview.code === 0).toBe(changes.length === 0);
  await p.up();
  expect(await changesOfEveryVm(vmsBefore)).toEqual(none);
  expect(await p.resourceOutputs(vm)).toMatchObject({ state: declared.state, running: declared.running });
  await p.mustOperation("preview", { expectNoChanges: true, diff: true });

  // The operator's call is in the history with the uid that made it (this test's: it runs the CLI).
  const { events } = await hd.client().events({ object: name, after: before.at(-1)?.seq ?? 0 });
  expect(events.find((e) => e.event === event)).toMatchObject({ uid: process.getuid!(), requestId: expect.any(String) });
  expect(hostd("events", "--object", name)).toMatch(new RegExp(`${{ "vm.updated": "VM updated", "vm.exited": "VM exited", "vm.started": "VM started" }[event]} +by uid ${process.getuid!()}`));
});

test("a disk unplugged on the operators' QMP socket: refresh shows it gone from disks, up plugs it back", async () => {
  const declared = await p.resourceOutputs("app");
  const disk = await p.resourceOutputs("data");
  const name = declared.name as string;
  const c = hd.client();
  await guestUp(declared);
  await hd.opsQmp(declared.vmId as string, "device_del", { id: `disk-${(disk.diskId as string).slice(0, 8)}` });
  await waitFor("hostd to see the disk unplugged", async () => (await c.vm.get(name)).spec.disks.length === 0, 60_000);
  expect((await c.vm.get(name)).drift).toEqual([{ field: "disks", detail: `QEMU no longer has disk "${disk.name as string}" (unplugged outside hostd)` }]);

  await p.mustOperation("refresh", { diff: true });
  const refreshed = await p.resourceOutputs("app");
  expect(specChanges(declared, refreshed)).toEqual(["disks"]);
  expect(refreshed.disks).toEqual([]);
  await p.up();
  const restored = await p.resourceOutputs("app");
  expect(specChanges(declared, restored)).toEqual([]);
  const vm = await c.vm.get(name);
  expect(vm.drift).toEqual([]);
  // Put back by starting QEMU again from the spec.
  expect(vm.pid).not.toBe(declared.pid);
  await p.mustOperation("preview", { expectNoChanges: true, diff: true });
});

/**
 * How an operator changes a running VM under hostd: on its operators' QMP socket, or its tap. "firm" boots
 * nothing (so it needs no guest), "app" is a Linux guest (an unplug completes when the guest lets go).
 */
const UNDER_QEMU: { title: string; vm: "app" | "firm"; field: string; change: (vm: Record<string, unknown>) => Promise<unknown> }[] = [
  { title: "the cdrom ejected (QMP eject)", vm: "firm", field: "cdrom", change: (vm) => hd.opsQmp(vm.vmId as string, "eject", { id: "cdrom0", force: true }) },
  {
    title: "another ISO in the cdrom (QMP blockdev-change-medium)",
    vm: "firm",
    field: "cdrom",
    change: (vm) => hd.opsQmp(vm.vmId as string, "blockdev-change-medium", { id: "cdrom0", filename: ISO_B, format: "raw" }),
  },
  {
    title: "the boot order (QMP qom-set bootindex)",
    vm: "firm",
    field: "bootOrder",
    change: (vm) => hd.opsQmp(vm.vmId as string, "qom-set", { path: "/machine/peripheral/cdrom0", property: "bootindex", value: 9 }),
  },
  { title: "the NIC unplugged (QMP device_del)", vm: "app", field: "networkInterfaces", change: (vm) => hd.opsQmp(vm.vmId as string, "device_del", { id: "nic0" }) },
  {
    title: "the tap taken off its network's bridge (ip link set nomaster)",
    vm: "app",
    field: "networkInterfaces",
    change: async (vm) => execFileSync("ip", ["link", "set", "dev", (vm.nics as { tap: string }[])[0]!.tap, "nomaster"]),
  },
];

test.each(UNDER_QEMU)("$title: vm.get reads it from QEMU, refresh shows exactly $field, up puts it back", async ({ vm: which, field, change }) => {
  const vmsBefore = await vmOutputs();
  const declared = vmsBefore[which]!;
  const c = hd.client();
  expect((await c.vm.get(declared.name as string)).drift).toEqual([]);
  if (which === "app") await guestUp(declared);
  await change(declared);
  // device_del completes when the guest lets go; the others at once.
  const vm = await waitFor("hostd to read the change", async () => {
    const v = await c.vm.get(declared.name as string);
    return v.drift?.length ? v : undefined;
  }, 60_000);
  expect(vm.drift).toEqual([{ field, detail: expect.stringContaining("outside hostd") }]);

  await p.mustOperation("refresh", { diff: true });
  expect(await changesOfEveryVm(vmsBefore)).toEqual({ ...none, [which]: [field] });
  expect((await p.operation("preview", { expectNoChanges: true })).code).not.toBe(0);
  await p.up();
  expect(await changesOfEveryVm(vmsBefore)).toEqual(none);
  const after = await c.vm.get(declared.name as string);
  expect(after.drift).toEqual([]);
  // Put back by starting QEMU again from the spec.
  expect(after.pid).not.toBe(declared.pid);
  await p.mustOperation("preview", { expectNoChanges: true, diff: true });
});

test.each([
  { field: "restartPolicy", update: () => ({ restartPolicy: "on-crash" as const }) },
  { field: "kernel", update: (vm: Record<string, unknown>) => ({ kernel: { ...(vm.kernel as { path: string }), cmdline: `${(vm.kernel as { cmdline: string }).cmdline} pkvm.drift=1` } }) },
])("$field changed through hostd's API by another tool: refresh shows exactly it, up puts it back", async ({ field, update }) => {
  const vmsBefore = await vmOutputs();
  const app = vmsBefore.app!;
  await hd.client().vm.update({ name: app.name as string, ...update(app), stopTimeoutSeconds: 0 });
  await p.mustOperation("refresh", { diff: true });
  expect(await changesOfEveryVm(vmsBefore)).toEqual({ ...none, app: [field] });
  await p.up();
  expect(await changesOfEveryVm(vmsBefore)).toEqual(none);
  await p.mustOperation("preview", { expectNoChanges: true, diff: true });
});

test("a VM deleted out of band: refresh drops it from state, up creates it again (a new vmId)", async () => {
  const idle = await p.resourceOutputs("idle");
  await hd.client().vm.delete({ name: idle.name as string });
  await p.mustOperation("refresh");
  expect(await p.stateHas("idle")).toBe(false);
  const preview = await p.mustOperation("preview", { diff: true });
  expect(preview.output).toMatch(/\+ 1 to create/);
  await p.up();
  const again = await p.resourceOutputs("idle");
  expect(again).toMatchObject({ name: idle.name, state: "stopped" });
  expect(again.vmId).not.toBe(idle.vmId);
  await p.mustOperation("preview", { expectNoChanges: true, diff: true });
});

test("Disks whose files were deleted out of band (one attached, one not): refresh reads them gone, the preview plans to create them, up makes them again", async () => {
  const disks = { data: await p.resourceOutputs("data"), spare: await p.resourceOutputs("spare") };
  for (const d of Object.values(disks)) rmSync(d.path as string);
  // hostd's own list goes on: the rest list, these two are marked.
  expect(hostd("disk", "list")).toMatch(new RegExp(`${disks.data.name as string} +MISSING FILE`));
  const refresh = await p.mustOperation("refresh", { diff: true });
  for (const d of Object.values(disks)) expect(refresh.output).toContain(`Disk "${d.name as string}" is gone from the host: the file of Disk`);
  const preview = await p.mustOperation("preview", { diff: true });
  for (const r of Object.keys(disks)) expect(preview.output).toMatch(new RegExp(`\\+ pulumi-nodejs:dynamic/kvm:Disk: \\(create\\)\\s*\\n\\s*\\[urn=\\S+::${r}\\]`));
  expect(preview.output).toMatch(/\+ 2 to create/);
  const app = await hd.client().vm.get((await p.resourceOutputs("app")).name as string);
  await p.up();
  // The same up put the VM that held the deleted file onto the new one: started again, nothing drifts.
  const appAfter = await hd.client().vm.get(app.name);
  expect({ drift: appAfter.drift, restarted: appAfter.pid !== app.pid }).toEqual({ drift: [], restarted: true });
  for (const [r, d] of Object.entries(disks)) {
    const again = await p.resourceOutputs(r);
    expect(again.diskId).not.toBe(d.diskId);
    expect(again).toMatchObject({ name: d.name, virtualSizeBytes: 1024 ** 3, attachedTo: r === "data" ? (await p.resourceOutputs("app")).name : null });
  }
  await p.mustOperation("preview", { expectNoChanges: true, diff: true });
});

test("Disks grown outside the program (hostd disk resize; qemu-img resize): refresh shows the size, the preview refuses to shrink and loses nothing", async () => {
  const before = { data: await p.resourceOutputs("data"), spare: await p.resourceOutputs("spare") };
  const vms = await vmOutputs();
  hostd("disk", "resize", before.data.name as string, "2");
  execFileSync("qemu-img", ["resize", "-f", "qcow2", before.spare.path as string, "3G"]);
  await p.mustOperation("refresh", { diff: true });
  for (const [r, gib] of [["data", 2], ["spare", 3]] as const) {
    const now = await p.resourceOutputs(r);
    expect({ r, sizeGiB: now.sizeGiB, virtualSizeBytes: now.virtualSizeBytes, diskId: now.diskId }).toEqual({ r, sizeGiB: gib, virtualSizeBytes: gib * 1024 ** 3, diskId: before[r].diskId });
  }
  expect(await changesOfEveryVm(vms)).toEqual(none);
  const refused = await p.operation("preview");
  expect(refused.code).not.toBe(0);
  expect(refused.output).toMatch(/is ([23]) GiB; shrinking it to 1 GiB would destroy data, so it is refused\. Disks only grow: declare \1 GiB or more\./);
  // The program catches up with the host: nothing left to do.
  await p.setConfig("dataGiB", "2");
  await p.setConfig("spareGiB", "3");
  await p.mustOperation("preview", { expectNoChanges: true, diff: true });
});

test("examples/quickstart as it is: up, then refreshed untouched it previews with zero changes; destroy leaves nothing", async () => {
  const program = readFileSync(path.join(REPO, "examples", "quickstart", "index.ts"), "utf8");
  const q = await PulumiProject.create(program, { "kvm:transport": "local", "kvm:socketPath": hd.socketPath, guestDir: path.dirname(g.kernel) });
  try {
    await q.up();
    const vm = await q.resourceOutputs("hello");
    expect(vm).toMatchObject({ state: "running" });
    await q.mustOperation("refresh", { diff: true });
    await q.mustOperation("preview", { expectNoChanges: true, diff: true });
    expect((await q.resourceOutputs("hello")).pid).toBe(vm.pid);
    await q.mustOperation("destroy");
    expect((await hd.client().vm.list()).vms.map((v) => v.name)).not.toContain(vm.name);
  } finally {
    await q.cleanup();
  }
});
