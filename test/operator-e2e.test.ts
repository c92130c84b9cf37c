/**
 * An operator at the host and the stack that declared the VM, with the real
 * Pulumi CLI: each operator command (`hostd vm set`, `vm stop`, `vm kill`,
 * `vm start`) shows on `pulumi refresh` as exactly that change, `pulumi up`
 * puts the declared state back, and `hostd events` names the operator's uid.
 * A Disk whose file is deleted out of band reads as gone, and `up` makes it
 * again. One booted tiny guest for the whole file.
 */
import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { VM_FIELDS } from "../sdk/protocol";
import { announceAccelerator, HOSTD_CLI, NODE, tinyGuest, waitFor } from "./fixtures/env";
import { HostdFixture } from "./fixtures/hostd";
import { PulumiProject } from "./fixtures/pulumi";

jest.setTimeout(900_000);

const g = tinyGuest();
let hd: HostdFixture;
let p: PulumiProject;

const PROGRAM = `
import * as kvm from "pulumi-kvm";
const disk = new kvm.Disk("data", { sizeGiB: 1 });
new kvm.Vm("app", {
  memoryMiB: 128,
  kernel: { path: ${JSON.stringify(g.kernel)}, initrd: ${JSON.stringify(g.initrd)}, cmdline: ${JSON.stringify(g.cmdline)} },
  disks: [{ disk: disk.name }],
  timeoutSeconds: 120,
});
`;

beforeAll(async () => {
  announceAccelerator();
  hd = await HostdFixture.start();
  p = await PulumiProject.create(PROGRAM, { "kvm:transport": "local", "kvm:socketPath": hd.socketPath });
  await p.up();
});
afterAll(async () => {
  await p?.mustOperation("destroy").catch((e: Error) => console.log(e.message));
  await p?.cleanup();
  await hd?.cleanup();
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

test.each([
  { title: "vm set --memory 160", command: ["vm", "set", "NAME", "--memory", "160", "--timeout", "0"], changes: ["memoryMiB"], event: "vm.updated" },
  { title: "vm set --vcpus 2", command: ["vm", "set", "NAME", "--vcpus", "2", "--timeout", "0"], changes: ["vcpus"], event: "vm.updated" },
  { title: "vm stop", command: ["vm", "stop", "NAME", "--timeout", "0"], changes: ["running"], event: "vm.exited" },
  { title: "vm kill", command: ["vm", "kill", "NAME"], changes: ["running"], event: "vm.exited" },
  // A restart changes no declared field: refresh shows nothing to put back (only the new pid).
  { title: "vm restart", command: ["vm", "restart", "NAME", "--timeout", "0"], changes: [], event: "vm.started" },
])("hostd $title: refresh shows exactly $changes, up puts it back, events name the uid", async ({ command, changes, event }) => {
  const declared = await p.resourceOutputs("app");
  const diskBefore = await p.resourceOutputs("data");
  const name = declared.name as string;
  const { events: before } = await hd.client().events({ object: name, limit: 1 });
  hostd(...command.map((a) => (a === "NAME" ? name : a)));

  const refresh = await p.mustOperation("refresh", { diff: true });
  const refreshed = await p.resourceOutputs("app");
  expect(specChanges(declared, refreshed)).toEqual(changes);
  for (const k of changes) expect(refresh.output).toContain(k);
  // The Disk did not change.
  const diskAfter = await p.resourceOutputs("data");
  expect({ diskId: diskAfter.diskId, sizeGiB: diskAfter.sizeGiB, virtualSizeBytes: diskAfter.virtualSizeBytes }).toEqual({ diskId: diskBefore.diskId, sizeGiB: diskBefore.sizeGiB, virtualSizeBytes: diskBefore.virtualSizeBytes });

  const preview = await p.operation("preview", { expectNoChanges: true, diff: true });
  expect(preview.code === 0).toBe(changes.length === 0);
  await p.up();
  const restored = await p.resourceOutputs("app");
  expect(specChanges(declared, restored)).toEqual([]);
  expect(restored).toMatchObject({ state: "running", running: true });
  expect((await p.operation("preview", { expectNoChanges: true })).code).toBe(0);

  // The operator's call is in the history with the uid that made it (this test's: it runs the CLI).
  const { events } = await hd.client().events({ object: name, after: before.at(-1)?.seq ?? 0 });
  expect(events.find((e) => e.event === event)).toMatchObject({ uid: process.getuid!(), requestId: expect.any(String) });
  expect(hostd("events", "--object", name)).toMatch(new RegExp(`${event === "vm.updated" ? "VM updated" : "VM exited"} +by uid ${process.getuid!()}`));
});

test("a disk unplugged on the operators' QMP socket: refresh shows it gone from disks, up plugs it back", async () => {
  const declared = await p.resourceOutputs("app");
  const disk = await p.resourceOutputs("data");
  const name = declared.name as string;
  const c = hd.client();
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
  expect((await p.operation("preview", { expectNoChanges: true })).code).toBe(0);
});

test("a Disk whose file was deleted out of band: refresh reads it gone, the preview plans to create it, up makes it again", async () => {
  const disk = await p.resourceOutputs("data");
  rmSync(disk.path as string);
  const refresh = await p.mustOperation("refresh", { diff: true });
  expect(refresh.output).toContain(`Disk "${disk.name as string}" is gone from the host: the file of Disk`);
  const preview = await p.mustOperation("preview", { diff: true });
  expect(preview.output).toMatch(/\+ pulumi-nodejs:dynamic\/kvm:Disk: \(create\)\s*\n\s*\[urn=\S+::data\]/);
  expect(preview.output).toMatch(/\+ 1 to create/);
  await p.up();
  const again = await p.resourceOutputs("data");
  expect(again.diskId).not.toBe(disk.diskId);
  expect(again).toMatchObject({ name: disk.name, virtualSizeBytes: 1024 ** 3, attachedTo: (await p.resourceOutputs("app")).name });
  expect((await p.operation("preview", { expectNoChanges: true })).code).toBe(0);
});
