import { Name, VmCreate, VmUpdate } from ".";

test("names follow ^[a-z0-9][a-z0-9-]{0,62}$", () => {
  for (const ok of ["a", "web-1", "0vm", "a".repeat(63)]) expect(Name.safeParse(ok).success).toBe(true);
  for (const bad of ["", "-a", "A", "a_b", "a.b", "a".repeat(64), "a;b", "a b", "ä"]) expect(Name.safeParse(bad).success).toBe(false);
});

test("create fills defaults and rejects unknown fields at every level", () => {
  const v = VmCreate.parse({ name: "x", kernel: { path: "/k" } });
  expect(v).toEqual({ name: "x", vcpus: 1, memoryMiB: 512, running: true, kernel: { path: "/k" } });
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
