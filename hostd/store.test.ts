import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { DatabaseSync } from "node:sqlite";
import { Store, VmRecord } from "./store";

function vm(id: string, name: string): VmRecord<{ name: string }> {
  const now = new Date().toISOString();
  return { id, name, spec: { name }, pid: null, accelerator: null, stopRequested: false, lastExit: null, devices: {}, uid: null, owner: null, createdAt: now, updatedAt: now };
}

test("a corrupt VM row is reported once and left out; the other rows are served, and asking for it says what to do", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "store-test-"));
  try {
    const file = path.join(dir, "hostd.db");
    const store = new Store(file);
    const reported: unknown[] = [];
    store.onCorrupt = (row) => reported.push(row);
    store.insertVm(vm("00000000-0000-0000-0000-000000000001", "good"));
    store.insertVm(vm("00000000-0000-0000-0000-000000000002", "broken"));
    const raw = new DatabaseSync(file);
    raw.prepare("UPDATE vms SET spec = ? WHERE name = ?").run("{not json", "broken");
    raw.close();
    expect(store.listVms().map((r) => r.name)).toEqual(["good"]);
    expect(store.listVms().map((r) => r.name)).toEqual(["good"]);
    expect(reported).toEqual([{ table: "vms", id: "00000000-0000-0000-0000-000000000002", name: "broken", why: expect.any(String) }]);
    expect(() => store.getVmByName("broken")).toThrow(/The record of VM "broken" .* cannot be read .* serves the other VMs/);
    expect(store.getVmByName("good")?.name).toBe("good");
    store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
