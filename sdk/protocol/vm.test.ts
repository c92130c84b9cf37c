import { Name, VmCreate, VmUpdate } from ".";

test("names follow ^[a-z0-9][a-z0-9-]{0,62}$", () => {
  for (const ok of ["a", "web-1", "0vm", "a".repeat(63)]) expect(Name.safeParse(ok).success).toBe(true);
  for (const bad of ["", "-a", "A", "a_b", "a.b", "a".repeat(64), "a;b", "a b", "ä"]) expect(Name.safeParse(bad).success).toBe(false);
});

test("create fills defaults and rejects unknown fields at every level", () => {
  const v = VmCreate.parse({ name: "x", kernel: { path: "/k" } });
  expect(v).toEqual({
    name: "x",
    vcpus: 1,
    cpuModel: "host",
    memoryMiB: 512,
    running: true,
    kernel: { path: "/k" },
    firmware: "bios",
    disks: [],
    networkInterfaces: [],
    guestAgent: true,
    restartPolicy: "never",
  });
  expect(VmCreate.safeParse({ name: "x", kernel: { path: "/k" }, foo: 1 }).success).toBe(false);
  expect(VmCreate.safeParse({ name: "x", kernel: { path: "/k", foo: 1 } }).success).toBe(false);
});

test("limits", () => {
  const k = { path: "/k" };
  expect(VmCreate.safeParse({ name: "x", memoryMiB: 63, kernel: k }).success).toBe(false);
  expect(VmCreate.safeParse({ name: "x", memoryMiB: 1024 * 1024 + 1, kernel: k }).success).toBe(false);
  expect(VmCreate.safeParse({ name: "x", vcpus: 129, kernel: k }).success).toBe(false);
  expect(VmCreate.safeParse({ name: "x", kernel: { path: "/k", cmdline: "a".repeat(2049) } }).success).toBe(false);
});

test("host paths are absolute, plain, and free of traversal", () => {
  for (const bad of ["k", "/a/../b", "/a,b", "/a b", "/$(x)", "/a\nb", "/a;b"]) {
    expect(VmCreate.safeParse({ name: "x", kernel: { path: bad } }).success).toBe(false);
  }
  expect(VmCreate.safeParse({ name: "x", kernel: { path: "/srv/img/vmlinuz-6.1.0+1@x" } }).success).toBe(true);
});

test("an update must change something", () => {
  expect(VmUpdate.safeParse({ name: "x" }).success).toBe(false);
  expect(VmUpdate.safeParse({ name: "x", stopTimeoutSeconds: 5 }).success).toBe(false);
  expect(VmUpdate.safeParse({ name: "x", memoryMiB: 256 }).success).toBe(true);
});

test("a VM needs a boot source, and a disk is attached once", () => {
  expect(VmCreate.safeParse({ name: "x" }).success).toBe(false);
  expect(VmCreate.safeParse({ name: "x", disks: [{ disk: "root" }] }).success).toBe(true);
  expect(VmCreate.safeParse({ name: "x", cdrom: { path: "/iso/x.iso" } }).success).toBe(true);
  expect(VmCreate.safeParse({ name: "x", disks: [{ disk: "a" }, { disk: "a", bus: "scsi" }] }).success).toBe(false);
});

test("NICs: unicast MACs, loopback port forwards by default", () => {
  const v = VmCreate.parse({ name: "x", kernel: { path: "/k" }, networkInterfaces: [{ type: "user", portForwards: [{ hostPort: 2222, guestPort: 22 }] }] });
  expect(v.networkInterfaces[0]).toEqual({ type: "user", model: "virtio", portForwards: [{ protocol: "tcp", hostAddress: "127.0.0.1", hostPort: 2222, guestPort: 22 }] });
  expect(VmCreate.safeParse({ name: "x", kernel: { path: "/k" }, networkInterfaces: [{ type: "user", mac: "01:00:5e:00:00:01" }] }).success).toBe(false);
  expect(VmCreate.safeParse({ name: "x", kernel: { path: "/k" }, networkInterfaces: [{ type: "user", mac: "52:54:00:AA:00:01" }] }).success).toBe(false);
});

test("disk specs: blank needs a size, clones are qcow2, URLs are http(s) without credentials", () => {
  const { DiskSpec } = require(".") as typeof import(".");
  expect(DiskSpec.safeParse({ name: "d" }).success).toBe(false);
  expect(DiskSpec.parse({ name: "d", sizeGiB: 1 })).toEqual({ name: "d", sizeGiB: 1, format: "qcow2", source: { kind: "blank" } });
  const sha256 = "a".repeat(64);
  expect(DiskSpec.parse({ name: "d", source: { kind: "url", url: "http://127.0.0.1:8080/x.qcow2", sha256 } }).source).toEqual({
    kind: "url",
    url: "http://127.0.0.1:8080/x.qcow2",
    sha256,
    clone: true,
  });
  expect(DiskSpec.safeParse({ name: "d", format: "raw", source: { kind: "url", url: "http://h/x", sha256 } }).success).toBe(false);
  expect(DiskSpec.safeParse({ name: "d", source: { kind: "url", url: "ftp://h/x", sha256 } }).success).toBe(false);
  expect(DiskSpec.safeParse({ name: "d", source: { kind: "url", url: "https://u:p@h/x", sha256 } }).success).toBe(false);
  expect(DiskSpec.safeParse({ name: "d", source: { kind: "url", url: "https://h/x", sha256: "ABC" } }).success).toBe(false);
});
