import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { KvmError } from "../sdk/errors";
import { derivedSlot, formatRange, LEGACY_VM_UID_BASE, overlaps, planUidRange, readRecordedRange, recordRange, slotRange, slotsFrom, UID_SLOTS, VM_UID_RANGE_SIZE } from "./uid-range";

const HOST = "3f2a9c1e-7b4d-4e2a-9c1e-7b4d4e2a9c1e";

test("slots: 65536 uids each from the legacy base, all below 2^31; slot 0 is the legacy range", () => {
  expect(slotRange(0)).toEqual({ base: LEGACY_VM_UID_BASE, count: VM_UID_RANGE_SIZE });
  const last = slotRange(UID_SLOTS - 1);
  expect(last.base + last.count).toBeLessThanOrEqual(2 ** 31);
  expect(overlaps(slotRange(1), slotRange(2))).toBe(false);
  expect(overlaps(slotRange(1), { base: slotRange(2).base - 1, count: 2 })).toBe(true);
  expect(formatRange(slotRange(0))).toBe("1900000000-1900065535");
});

test("the derived default: stable per host id, never slot 0; moving on walks every other slot once", () => {
  expect(derivedSlot(HOST)).toBe(derivedSlot(HOST));
  const slots = new Set(Array.from({ length: 2000 }, (_, i) => derivedSlot(`${HOST.slice(0, -4)}${String(i).padStart(4, "0")}`)));
  expect(slots.has(0)).toBe(false);
  // Spread over the space: 2000 host ids land in well over a thousand distinct slots.
  expect(slots.size).toBeGreaterThan(1000);
  const walk = slotsFrom(UID_SLOTS - 2);
  expect(walk.slice(0, 3)).toEqual([UID_SLOTS - 2, UID_SLOTS - 1, 1]);
  expect(new Set(walk).size).toBe(UID_SLOTS - 1);
  expect(walk).not.toContain(0);
});

test("plan: explicit wins, then recorded; a new state directory gets its movable derived slot", () => {
  expect(planUidRange({ hostId: HOST, vmUids: [] })).toEqual({ range: slotRange(derivedSlot(HOST)), source: "derived", movable: true });
  const recorded = slotRange(7);
  expect(planUidRange({ hostId: HOST, recorded, vmUids: [recorded.base + 3] })).toEqual({ range: recorded, source: "recorded", movable: false });
  expect(planUidRange({ hostId: HOST, explicitBase: 3_000_000_000, recorded, vmUids: [] })).toEqual({ range: { base: 3_000_000_000, count: VM_UID_RANGE_SIZE }, source: "explicit", movable: false });
});

test("plan: a state directory from before ranges keeps the range its VMs' uids are in", () => {
  expect(planUidRange({ hostId: HOST, vmUids: [LEGACY_VM_UID_BASE, LEGACY_VM_UID_BASE + 4] })).toEqual({ range: slotRange(0), source: "legacy", movable: false });
  // An older hostd that ran with --vm-uid-base 3000000000: the range starts at its lowest VM uid.
  expect(planUidRange({ hostId: HOST, vmUids: [3_000_000_002, 3_000_000_005] }).range).toEqual({ base: 3_000_000_002, count: VM_UID_RANGE_SIZE });
});

test("plan: a range that leaves out a recorded VM uid is refused, saying which --vm-uid-base keeps them", () => {
  const refused = (o: Parameters<typeof planUidRange>[0]) => {
    try {
      planUidRange(o);
    } catch (e) {
      expect(e).toBeInstanceOf(KvmError);
      expect((e as KvmError).code).toBe("conflict");
      return (e as KvmError).message;
    }
    throw new Error("not refused");
  };
  const recorded = slotRange(7);
  expect(refused({ hostId: HOST, explicitBase: 3_000_000_000, recorded, vmUids: [recorded.base + 1] })).toMatch(
    new RegExp(`uids ${recorded.base + 1}, outside the VM uid range 3000000000-3000065535 that --vm-uid-base asks for \\(recorded: ${formatRange(recorded)}\\): start hostd with --vm-uid-base ${recorded.base}`),
  );
  expect(refused({ hostId: HOST, vmUids: [3_000_000_000, 3_000_100_000] })).toMatch(/uids 3000100000, outside/);
});

test("the range is recorded in the state directory and read back; a damaged record is an error, not a new range", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "uid-range-"));
  try {
    expect(readRecordedRange(dir)).toBeUndefined();
    recordRange(dir, slotRange(9));
    expect(readRecordedRange(dir)).toEqual(slotRange(9));
    writeFileSync(path.join(dir, "vm-uid-range"), "garbage");
    expect(() => readRecordedRange(dir)).toThrow();
    writeFileSync(path.join(dir, "vm-uid-range"), '{"base":"x","count":1}');
    expect(() => readRecordedRange(dir)).toThrow(/does not hold a uid range/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
