import { z } from "zod";
import { DISK_SLOTS, MAX_NICS } from "../../hostd/drivers/qemu-argv";
import { changedFields, effectOf, fieldsWithEffect, VM_FIELDS, VM_LIMITS, VM_RESTART_FIELDS, VmSpec, VmUpdate, DISK_FIELDS, DiskSpec, NETWORK_FIELDS, NetworkUpdate, wellFormedText } from ".";

test("a restart field's liveWhen makes a change a hot-plug, read by preview and hostd alike", () => {
  const b = { vcpus: 1, maxVcpus: 2, memoryMiB: 256, maxMemoryMiB: 512 };
  expect(effectOf(VM_FIELDS, "vcpus", b, { ...b, vcpus: 2 })).toBe("hotplug");
  expect(effectOf(VM_FIELDS, "vcpus", b, { ...b, vcpus: 3, maxVcpus: 3 })).toBe("restart"); // the room itself changes
  expect(effectOf(VM_FIELDS, "vcpus", { ...b, maxVcpus: undefined }, { ...b, vcpus: 2, maxVcpus: undefined })).toBe("restart"); // no room
  expect(effectOf(VM_FIELDS, "memoryMiB", b, { ...b, memoryMiB: 384 })).toBe("hotplug");
  expect(effectOf(VM_FIELDS, "memoryMiB", b, { ...b, memoryMiB: 300 })).toBe("restart"); // not whole blocks
  expect(effectOf(VM_FIELDS, "memoryMiB", b, { ...b, memoryMiB: 128 })).toBe("restart"); // lowered
  expect(changedFields(VM_FIELDS, b, { ...b, vcpus: 2 })).toEqual([{ field: "vcpus", effect: "hotplug" }]);
  expect(VmSpec.safeParse({ name: "x", kernel: { path: "/k" }, vcpus: 4, maxVcpus: 2 }).error?.issues[0]?.path).toEqual(["maxVcpus"]);
});

test("the wire's create schema is the table's spec fields, strict", () => {
  const specFields = Object.entries(VM_FIELDS).filter(([, f]) => (f as { where?: string }).where !== "provider").map(([k]) => k);
  const parsed = VmSpec.parse({ name: "x", kernel: { path: "/k" } });
  expect(Object.keys(parsed).sort()).toEqual(specFields.filter((k) => k in parsed).sort());
  // Provider-only settings never reach hostd; unknown fields are errors.
  expect(VmSpec.safeParse({ name: "x", kernel: { path: "/k" }, waitFor: "ip" }).success).toBe(false);
  expect(VmSpec.safeParse({ name: "x", kernel: { path: "/k" }, cpuFlavor: "host" }).success).toBe(false);
  expect(Object.keys(DiskSpec.parse({ name: "d", sizeGiB: 1 })).sort()).toEqual(["format", "name", "sizeGiB", "source"]);
  expect(Object.keys(DISK_FIELDS)).toContain("timeoutSeconds");
});

test("an update accepts exactly the fields that do not replace the object", () => {
  const inPlace = (t: Record<string, { effect: string; where?: string }>) =>
    Object.entries(t).filter(([, f]) => f.effect !== "replace" && f.where !== "provider").map(([k]) => k).sort();
  expect(Object.keys(VmUpdate.shape).filter((k) => k !== "name" && k !== "stopTimeoutSeconds").sort()).toEqual(inPlace(VM_FIELDS));
  expect(Object.keys(NetworkUpdate.shape).filter((k) => k !== "name").sort()).toEqual(inPlace(NETWORK_FIELDS));
  // Removable fields may be cleared with null; others may not.
  expect(VmUpdate.safeParse({ name: "x", kernel: null }).success).toBe(true);
  expect(VmUpdate.safeParse({ name: "x", vcpus: null }).success).toBe(false);
  // A mode an update cannot switch to is refused there (the provider replaces instead).
  expect(NetworkUpdate.safeParse({ name: "n", mode: "bridge" }).success).toBe(false);
});

test("the restart rule is read from the table", () => {
  expect(VM_RESTART_FIELDS).toEqual(fieldsWithEffect(VM_FIELDS, "restart"));
  expect(VM_RESTART_FIELDS).toEqual(expect.arrayContaining(["vcpus", "memoryMiB", "kernel", "firmware", "cdrom", "bootOrder", "guestAgent"]));
  // Hot-plugged, where liveWhen says: NICs always, disks unless sata or a reorder (hostd plugs by the same rule).
  expect(VM_RESTART_FIELDS).not.toContain("networkInterfaces");
  const disks = (...d: { disk: string; bus: "virtio" | "scsi" | "sata" }[]) => ({ disks: d });
  const a = { disk: "a", bus: "virtio" as const };
  expect(effectOf(VM_FIELDS, "disks", disks(a), disks(a, { disk: "b", bus: "scsi" }))).toBe("hotplug");
  expect(effectOf(VM_FIELDS, "disks", disks(a), disks(a, { disk: "b", bus: "sata" }))).toBe("restart");
});

test("the disk and NIC limits are one number each, shared by the schema and hostd's device plan", () => {
  expect(DISK_SLOTS).toBe(VM_LIMITS.maxDisks);
  expect(MAX_NICS).toBe(VM_LIMITS.maxNics);
  const disks = Array.from({ length: VM_LIMITS.maxDisks + 1 }, (_, i) => ({ disk: `d${i}` }));
  expect(VmSpec.safeParse({ name: "x", disks }).success).toBe(false);
  expect(VmSpec.safeParse({ name: "x", disks: disks.slice(1) }).success).toBe(true);
});

test("changes are classified by effect, with a field's own replace rule", () => {
  expect(changedFields(NETWORK_FIELDS, { mode: "nat" }, { mode: "isolated" })).toEqual([{ field: "mode", effect: "in-place" }]);
  expect(changedFields(NETWORK_FIELDS, { mode: "nat" }, { mode: "bridge" })).toEqual([{ field: "mode", effect: "replace" }]);
  // Key order is not a change.
  expect(changedFields(VM_FIELDS, { kernel: { path: "/k", cmdline: "a" } }, { kernel: { cmdline: "a", path: "/k" } })).toEqual([]);
});

test("text that is not valid UTF-8 is refused, never rewritten", () => {
  const t = wellFormedText(100);
  expect(t.safeParse("héllo ✓ 🐧").success).toBe(true);
  expect(t.safeParse("bad \uD800 surrogate").success).toBe(false);
  expect(t.safeParse("bad \uDC00").success).toBe(false);
  expect(z.toJSONSchema(VM_FIELDS.vcpus.schema)).toMatchObject({ minimum: 1, maximum: 128 });
});
