import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { DatabaseSync } from "node:sqlite";
import { DiskSpec, NetworkSpec, VmSpec } from "../sdk/protocol";
import { CorruptRow, DiskRecord, NetworkRecord, Store, VmRecord } from "./store";

const now = new Date().toISOString();

function vm(id: string, name: string): VmRecord {
  return { id, name, spec: VmSpec.parse({ name, kernel: { path: "/k" } }), pid: null, accelerator: null, stopRequested: false, lastExit: null, devices: {}, uid: null, owner: null, createdAt: now, updatedAt: now };
}

function disk(id: string, name: string): DiskRecord {
  return { id, name, spec: DiskSpec.parse({ name, sizeGiB: 1 }), path: `/d/${id}.qcow2`, format: "qcow2", backingSha256: null, owner: null, createdAt: now, updatedAt: now };
}

function network(id: string, name: string, bridge: string): NetworkRecord {
  return { id, name, spec: NetworkSpec.parse({ name, mode: "isolated", ipv4: { cidr: "10.77.0.0/24" } }), bridge, owner: null, createdAt: now, updatedAt: now };
}

const ID1 = "00000000-0000-0000-0000-000000000001";
const ID2 = "00000000-0000-0000-0000-000000000002";

let dir: string;
let file: string;
let store: Store;
let reported: CorruptRow[];
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), "store-test-"));
  file = path.join(dir, "hostd.db");
  store = new Store(file);
  reported = [];
  store.onCorrupt = (row) => reported.push(row);
});
afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Writes behind the store's back, as a disk error or a hand edit would. */
function corrupt(sql: string, ...args: (string | number)[]): void {
  const raw = new DatabaseSync(file);
  raw.prepare(sql).run(...args);
  raw.close();
}

test("a corrupt VM row is reported once and left out; the other rows are served, and asking for it says what to do", () => {
  store.insertVm(vm(ID1, "good"));
  store.insertVm(vm(ID2, "broken"));
  corrupt("UPDATE vms SET spec = ? WHERE name = ?", "{not json", "broken");
  expect(store.listVms().map((r) => r.name)).toEqual(["good"]);
  expect(store.listVms().map((r) => r.name)).toEqual(["good"]);
  expect(reported).toEqual([{ table: "vms", id: ID2, name: "broken", why: expect.stringContaining("spec is not JSON") }]);
  expect(() => store.getVmByName("broken")).toThrow(/The record of VM "broken" .* cannot be read .* serves the others/);
  expect(store.getVmByName("good")?.name).toBe("good");
});

test.each([
  ["a spec that is JSON of another shape", "UPDATE vms SET spec = ? WHERE name = ?", JSON.stringify({ name: "broken", memoryMiB: "lots" }), /spec does not have the shape hostd writes.*memoryMiB/s],
  ["a spec that is not an object", "UPDATE vms SET spec = ? WHERE name = ?", "42", /spec does not have the shape/],
  ["devices of another shape", "UPDATE vms SET devices = ? WHERE name = ?", JSON.stringify({ nics: [{ mac: 7 }] }), /devices does not have the shape.*nics/s],
  ["a last exit with an unknown reason", "UPDATE vms SET last_exit = ? WHERE name = ?", JSON.stringify({ reason: "gremlins", at: now }), /last_exit does not have the shape.*reason/s],
  ["an unknown accelerator", "UPDATE vms SET accelerator = ? WHERE name = ?", "xen", /accelerator is "xen"/],
])("a VM row with %s is corrupt, not cast: reported with its table, id and why, and left out", (_what, sql, value, why) => {
  store.insertVm(vm(ID1, "good"));
  store.insertVm(vm(ID2, "broken"));
  corrupt(sql, value, "broken");
  expect(store.listVms().map((r) => r.name)).toEqual(["good"]);
  expect(reported).toEqual([{ table: "vms", id: ID2, name: "broken", why: expect.stringMatching(why) }]);
  expect(() => store.getVmByName("broken")).toThrow(expect.objectContaining({ code: "conflict" }));
});

test("a corrupt Disk row is reported and left out of the list; asking for it is a conflict that says what to do", () => {
  store.insertDisk(disk(ID1, "good"));
  store.insertDisk(disk(ID2, "broken"));
  corrupt("UPDATE disks SET spec = ? WHERE name = ?", JSON.stringify({ name: "broken", sizeGiB: -1 }), "broken");
  expect(store.listDisks().map((d) => d.name)).toEqual(["good"]);
  expect(reported).toEqual([{ table: "disks", id: ID2, name: "broken", why: expect.stringContaining("spec does not have the shape") }]);
  expect(() => store.getDiskByName("broken")).toThrow(/The record of Disk "broken" .* cannot be read .* Restore hostd.db from a backup, or delete the row/);
  corrupt("UPDATE disks SET format = ? WHERE name = ?", "vmdk", "good");
  expect(store.listDisks()).toEqual([]);
  expect(reported[1]).toEqual({ table: "disks", id: ID1, name: "good", why: 'format is "vmdk", not one of qcow2, raw' });
});

test("a corrupt Network row is reported and left out of the list", () => {
  store.insertNetwork(network(ID1, "good", "br-good"));
  store.insertNetwork(network(ID2, "broken", "br-broken"));
  corrupt("UPDATE networks SET spec = ? WHERE name = ?", JSON.stringify({ name: "broken", mode: "wormhole" }), "broken");
  expect(store.listNetworks().map((n) => n.name)).toEqual(["good"]);
  expect(reported).toEqual([{ table: "networks", id: ID2, name: "broken", why: expect.stringContaining("spec does not have the shape") }]);
  expect(() => store.getNetworkByName("broken")).toThrow(expect.objectContaining({ code: "conflict" }));
  expect(store.getNetworkByName("good")?.bridge).toBe("br-good");
});

test("an event whose details are not an object is reported and left out of the history", () => {
  for (const object of ["a", "b", "c"]) store.insertEvent({ at: now, level: "info", kind: "vm", object, message: "m", details: { n: 1 } });
  corrupt("UPDATE events SET details = ? WHERE object = ?", "[1,2]", "b");
  expect(store.listEvents(10).map((e) => e.object)).toEqual(["a", "c"]);
  expect(reported).toEqual([{ table: "events", id: expect.stringMatching(/^\d+$/), name: "b", why: expect.stringContaining("details does not have the shape") }]);
});

test("rows hostd wrote read back as they were written", () => {
  const v = { ...vm(ID1, "full"), lastExit: { reason: "crashed" as const, at: now, detail: "signal 9" }, accelerator: "tcg" as const, devices: { nics: [{ mac: "52:54:00:00:00:01", slot: 3 }], nextNicIndex: 1, diskSlots: { d: 2 }, machine: "pc-q35-7.2" } };
  store.insertVm(v);
  store.insertDisk(disk(ID1, "d"));
  store.insertNetwork(network(ID1, "n", "br-n"));
  expect(store.getVmByName("full")).toEqual(v);
  expect(store.getDiskByName("d")).toEqual(disk(ID1, "d"));
  expect(store.getNetworkByName("n")).toEqual(network(ID1, "n", "br-n"));
  expect(reported).toEqual([]);
});
