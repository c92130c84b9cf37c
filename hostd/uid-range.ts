/**
 * Which uids this hostd gives its VMs' QEMUs: a range of its own, so that two
 * hostds on one machine (containers, network namespaces, tests) never run
 * VMs as the same user, which would let one hostd's guests read the other's
 * disks. The range is chosen once per state directory and recorded there
 * (`vm-uid-range`), so a restart keeps every VM's recorded uid inside it;
 * uid-claims.ts checks it against the ranges of the other hostds running.
 *
 * The space is cut into slots of {@link VM_UID_RANGE_SIZE} uids from
 * {@link LEGACY_VM_UID_BASE} up to 2^31 (some tools still take uids for
 * signed 32-bit numbers). Slot 0 is the range every hostd used before ranges
 * were claimed, and no derived default ever takes it, so a new hostd never
 * collides with an older hostd that claims nothing.
 */
import { createHash } from "node:crypto";
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { KvmError } from "../sdk/errors";

/** uids per hostd: far more VMs than one host runs. */
export const VM_UID_RANGE_SIZE = 65_536;
/** The base every hostd used before ranges were claimed (slot 0). */
export const LEGACY_VM_UID_BASE = 1_900_000_000;
/** Slots from the legacy base that end below 2^31. */
export const UID_SLOTS = Math.floor((2 ** 31 - LEGACY_VM_UID_BASE) / VM_UID_RANGE_SIZE);

export interface UidRange {
  /** The first uid. */
  base: number;
  count: number;
}

export type UidRangeSource = "explicit" | "recorded" | "legacy" | "derived";

export interface UidRangePlan {
  range: UidRange;
  source: UidRangeSource;
  /** A default no VM uses yet: when another hostd holds it, the next free slot will do. */
  movable: boolean;
}

export function slotRange(slot: number): UidRange {
  return { base: LEGACY_VM_UID_BASE + slot * VM_UID_RANGE_SIZE, count: VM_UID_RANGE_SIZE };
}

/** The default slot of a host: from a hash of its host id, never slot 0. */
export function derivedSlot(hostId: string): number {
  return 1 + (createHash("sha256").update(hostId).digest().readUInt32BE(0) % (UID_SLOTS - 1));
}

/** The slots to try for a movable default: its own, then the next ones round the space, never slot 0. */
export function slotsFrom(first: number): number[] {
  return Array.from({ length: UID_SLOTS - 1 }, (_, i) => 1 + ((first - 1 + i) % (UID_SLOTS - 1)));
}

export function overlaps(a: UidRange, b: UidRange): boolean {
  return a.base < b.base + b.count && b.base < a.base + a.count;
}

export function contains(r: UidRange, uid: number): boolean {
  return uid >= r.base && uid < r.base + r.count;
}

export function formatRange(r: UidRange): string {
  return `${r.base}-${r.base + r.count - 1}`;
}

/**
 * Pure: the range for this start. An explicit `--vm-uid-base` wins, then the
 * recorded range; a state directory from before ranges (VM uids but no
 * record) keeps the range its VMs are in; otherwise the host's derived slot.
 * Any range must hold every uid already recorded with a VM.
 */
export function planUidRange(o: { hostId: string; explicitBase?: number; recorded?: UidRange; vmUids: number[] }): UidRangePlan {
  let plan: UidRangePlan;
  if (o.explicitBase !== undefined) plan = { range: { base: o.explicitBase, count: VM_UID_RANGE_SIZE }, source: "explicit", movable: false };
  else if (o.recorded) plan = { range: o.recorded, source: "recorded", movable: false };
  else if (o.vmUids.length > 0) {
    const legacy = slotRange(0);
    const range = o.vmUids.every((u) => contains(legacy, u)) ? legacy : { base: Math.min(...o.vmUids), count: VM_UID_RANGE_SIZE };
    plan = { range, source: "legacy", movable: false };
  } else plan = { range: slotRange(derivedSlot(o.hostId)), source: "derived", movable: true };
  const outside = [...new Set(o.vmUids)].filter((u) => !contains(plan.range, u)).sort((a, b) => a - b);
  if (outside.length > 0) {
    const was = o.recorded ? ` (recorded: ${formatRange(o.recorded)})` : "";
    throw new KvmError(
      "conflict",
      `VMs of this state directory run as uids ${outside.slice(0, 5).join(", ")}${outside.length > 5 ? ", ..." : ""}, outside the VM uid range ${formatRange(plan.range)}${plan.source === "explicit" ? " that --vm-uid-base asks for" : ""}${was}: start hostd with --vm-uid-base ${o.recorded?.base ?? Math.min(...outside)}, or delete those VMs first.`,
      { range: plan.range, outside },
    );
  }
  return plan;
}

const RECORD = "vm-uid-range";

/** The range recorded in the state directory, if any. */
export function readRecordedRange(stateDir: string): UidRange | undefined {
  let text: string;
  try {
    text = readFileSync(path.join(stateDir, RECORD), "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
  const r = JSON.parse(text) as Partial<UidRange>;
  if (!Number.isInteger(r.base) || !Number.isInteger(r.count) || r.count! <= 0) {
    throw new Error(`${path.join(stateDir, RECORD)} does not hold a uid range ({"base":N,"count":N}): ${JSON.stringify(text.slice(0, 80))}`);
  }
  return { base: r.base!, count: r.count! };
}

export function recordRange(stateDir: string, r: UidRange): void {
  const file = path.join(stateDir, RECORD);
  writeFileSync(`${file}.tmp`, JSON.stringify({ base: r.base, count: r.count }) + "\n", { mode: 0o644 });
  renameSync(`${file}.tmp`, file);
}
