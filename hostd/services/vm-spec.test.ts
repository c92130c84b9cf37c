import { VmSpec, VmUpdate } from "../../sdk/protocol";
import { applyUpdate } from "./vm-spec";

test("an update's own settings (stopTimeoutSeconds) never become part of the VM's spec", () => {
  const before = VmSpec.parse({ name: "web", kernel: { path: "/k" } });
  const after = applyUpdate(before, VmUpdate.parse({ name: "web", memoryMiB: 1024, stopTimeoutSeconds: 0 }));
  expect(after).toEqual({ ...before, memoryMiB: 1024 });
  // What hostd writes, it can read back (rows are checked against the spec schema).
  expect(VmSpec.safeParse(after).success).toBe(true);
});
