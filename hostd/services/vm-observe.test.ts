import { VmSpec, VmSpecInput, VmSpec as VmSpecSchema } from "../../sdk/protocol";
import { CDROM_ID } from "../drivers/qemu-argv";
import { qemuNics } from "./vm-devices";
import { Expected, observeSpec, Seen } from "./vm-observe";

const ID = "0b7c7b6e-3c1f-4d39-9d0b-6a1f7e0c2a11";
const spec = (s: Partial<VmSpecInput> = {}): VmSpec =>
  VmSpecSchema.parse({ name: "web", disks: [{ disk: "root" }, { disk: "data", bus: "scsi" }], cdrom: { path: "/iso/a.iso" }, networkInterfaces: [{ network: "lan" }], ...s });

const base = spec();
const nics = qemuNics(ID, base, [{ mac: "52:54:00:00:00:01", slot: 10 }], false);
const tap = (nics[0]!.netdev as { ifname: string }).ifname;
const expected: Expected = {
  disks: [
    { id: "disk-root", file: "/d/root.qcow2" },
    { id: "disk-data", file: "/d/data.qcow2" },
  ],
  nics,
  cdromFile: "/iso/a.iso",
  networkOnBridge: (b) => ({ "kvbr-lan": "lan", "kvbr-other": "other" })[b],
};
/** What QEMU reports when nothing was touched. */
const untouched = (): Required<Seen> => ({
  devices: new Map([
    ["disk-root", "virtio-blk-pci"],
    ["disk-data", "scsi-hd"],
    [CDROM_ID, "ide-cd"],
    ["nic0", "virtio-net-pci"],
  ]),
  media: new Map([
    ["disk-root", "/d/root.qcow2"],
    ["disk-data", "/d/data.qcow2"],
    [CDROM_ID, "/iso/a.iso"],
  ]),
  bootIndex: new Map([
    [CDROM_ID, 1],
    ["disk-root", 2],
    ["disk-data", 3],
  ]),
  macs: new Map([["nic0", "52:54:00:00:00:01"]]),
  tapBridge: new Map([[tap, "kvbr-lan"]]),
});

test("an untouched QEMU is the spec, unchanged, with no drift", () => {
  const r = observeSpec(base, expected, untouched());
  expect(r.drift).toEqual([]);
  expect(r.spec).toBe(base);
});

test("each change made under QEMU shows in the spec, and only there, with a sentence saying what changed", () => {
  const cases: { what: string; touch: (s: Required<Seen>) => void; field: string; spec: Partial<VmSpec> }[] = [
    { what: "disk unplugged", touch: (s) => s.devices.delete("disk-data"), field: "disks", spec: { disks: [base.disks[0]!] } },
    { what: "disk's file swapped", touch: (s) => s.media.set("disk-root", "/tmp/other.qcow2"), field: "disks", spec: { disks: [base.disks[1]!] } },
    { what: "Disk file deleted", touch: () => (expected.disks[1]!.gone = "the file of Disk \"data\" is gone: it was deleted outside hostd"), field: "disks", spec: { disks: [base.disks[0]!] } },
    { what: "disk re-plugged on sata", touch: (s) => s.devices.set("disk-data", "ide-hd"), field: "disks", spec: { disks: [base.disks[0]!, { disk: "data", bus: "sata" }] } },
    { what: "NIC unplugged", touch: (s) => s.devices.delete("nic0"), field: "networkInterfaces", spec: { networkInterfaces: [] } },
    { what: "NIC re-plugged as e1000e", touch: (s) => s.devices.set("nic0", "e1000e"), field: "networkInterfaces", spec: { networkInterfaces: [{ network: "lan", model: "e1000e" }] } },
    { what: "NIC re-plugged with another MAC", touch: (s) => s.macs.set("nic0", "52:54:00:00:00:99"), field: "networkInterfaces", spec: { networkInterfaces: [{ network: "lan", model: "virtio", mac: "52:54:00:00:00:99" }] } },
    { what: "tap taken off its bridge", touch: (s) => s.tapBridge.set(tap, null), field: "networkInterfaces", spec: { networkInterfaces: [] } },
    { what: "tap moved to another Network's bridge", touch: (s) => s.tapBridge.set(tap, "kvbr-other"), field: "networkInterfaces", spec: { networkInterfaces: [{ network: "other", model: "virtio" }] } },
    { what: "tap moved to a bridge of no Network", touch: (s) => s.tapBridge.set(tap, "docker0"), field: "networkInterfaces", spec: { networkInterfaces: [] } },
    { what: "cdrom ejected", touch: (s) => s.media.set(CDROM_ID, null), field: "cdrom", spec: { cdrom: undefined } },
    { what: "cdrom changed", touch: (s) => s.media.set(CDROM_ID, "/iso/b.iso"), field: "cdrom", spec: { cdrom: { path: "/iso/b.iso" } } },
    { what: "boot order changed", touch: (s) => s.bootIndex.set(CDROM_ID, 9), field: "bootOrder", spec: { bootOrder: ["disk", "cdrom"] } },
  ];
  for (const c of cases) {
    const seen = untouched();
    c.touch(seen);
    const r = observeSpec(base, expected, seen);
    delete expected.disks[1]!.gone;
    expect({ what: c.what, fields: r.drift.map((d) => d.field) }).toEqual({ what: c.what, fields: [c.field] });
    expect(r.drift[0]!.detail).toMatch(/outside hostd/);
    const want = { ...base, ...c.spec };
    if (!("cdrom" in c.spec) || c.spec.cdrom !== undefined) expect(r.spec).toEqual(want);
    else expect(r.spec).toEqual(Object.fromEntries(Object.entries(want).filter(([k]) => k !== "cdrom")));
  }
});

test("boot order: a declared disk-first order is drift only when QEMU boots the cdrom first; direct kernel boot has none", () => {
  const diskFirst = spec({ bootOrder: ["disk", "cdrom"] });
  const seen = untouched();
  seen.bootIndex.set(CDROM_ID, 4);
  expect(observeSpec(diskFirst, expected, seen).drift).toEqual([]);
  expect(observeSpec(diskFirst, expected, untouched()).drift.map((d) => d.field)).toEqual(["bootOrder"]);
  const kernel = spec({ kernel: { path: "/k/vmlinuz" } });
  const noIndexes = untouched();
  for (const k of noIndexes.bootIndex.keys()) noIndexes.bootIndex.set(k, -1);
  expect(observeSpec(kernel, expected, noIndexes).drift).toEqual([]);
});

test("devices known only by id (vm.list: no types, files or indexes read) compare presence alone", () => {
  const seen: Seen = { devices: new Map([["disk-root", ""], [CDROM_ID, ""], ["nic0", ""]]) };
  const r = observeSpec(base, expected, seen);
  expect(r.drift.map((d) => d.detail)).toEqual([expect.stringContaining(`no longer has disk "data"`)]);
  expect(r.spec.disks).toEqual([base.disks[0]]);
});
