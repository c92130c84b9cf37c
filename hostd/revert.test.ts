import { isKvmError } from "../sdk/errors";
import { Logger } from "./log";
import { injectStepFaults, parseStepFaults, withRevert } from "./revert";

const lines: string[] = [];
const log = new Logger({}, "debug", (l) => lines.push(l));
afterEach(() => {
  injectStepFaults(new Map());
  lines.length = 0;
});

test("a failure undoes the steps done so far, newest first, and rethrows", async () => {
  const undone: string[] = [];
  const err = await withRevert(log, "vm.create", async (r) => {
    r.add("a", () => undone.push("a"));
    r.add("b", () => undone.push("b"));
    throw new Error("step c failed");
  }).catch((e: unknown) => e);
  expect((err as Error).message).toBe("step c failed");
  expect(undone).toEqual(["b", "a"]);
});

test("success forgets the undo steps", async () => {
  const undone: string[] = [];
  expect(await withRevert(log, "vm.create", async (r) => (r.add("a", () => undone.push("a")), 7))).toBe(7);
  expect(undone).toEqual([]);
});

test("an undo that fails is logged, the rest still run, and the caller is told which", async () => {
  const undone: string[] = [];
  const err = await withRevert(log, "vm.update", async (r) => {
    r.add("a", () => undone.push("a"));
    r.add("kill QEMU", () => {
      throw new Error("EPERM");
    });
    throw new Error("boom.");
  }).catch((e: unknown) => e);
  expect(undone).toEqual(["a"]);
  expect(isKvmError(err, "internal")).toBe(true);
  expect((err as Error).message).toBe('boom. Undoing it failed too ("kill QEMU": EPERM); see hostd\'s log.');
  expect(lines.some((l) => l.includes('"msg":"undo step failed"') && l.includes('"step":"kill QEMU"'))).toBe(true);
});

test("fault injection fails step N of the named operation only, after doing it, so its undo runs", async () => {
  injectStepFaults(parseStepFaults("vm.create=2"));
  const undone: string[] = [];
  const run = (op: string) =>
    withRevert(log, op, async (r) => {
      for (const s of ["row", "dir", "qemu"]) r.add(s, () => undone.push(s));
      return "done";
    });
  const err = await run("vm.create").catch((e: unknown) => e);
  expect(isKvmError(err, "internal")).toBe(true);
  expect((err as Error).message).toMatch(/FAULT INJECTION: step 2 of vm.create \("dir"\)/);
  expect(undone).toEqual(["dir", "row"]);
  undone.length = 0;
  expect(await run("vm.update")).toBe("done");
  expect(undone).toEqual([]);
});

test("HOSTD_FAULT_FAIL_STEP is op=step[,op=step]; anything else is refused", () => {
  expect([...parseStepFaults("vm.create=3, disk.update=1")]).toEqual([["vm.create", 3], ["disk.update", 1]]);
  for (const bad of ["vm.create", "vm.create=0", "create=1", "vm.create=x"]) expect(() => parseStepFaults(bad)).toThrow(/not op=step/);
});
