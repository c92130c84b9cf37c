/**
 * The machine-wide registry of VM uid ranges: one claim file per running
 * hostd in {@link UID_CLAIMS_DIR}, naming its host id, state directory,
 * socket, pid and range, and flock'ed by that hostd for its life. A claim
 * whose lock nobody holds is a dead hostd's and is pruned. Every change and
 * every read happens under the registry's own lock (`.lock`), so two hostds
 * starting at once are decided one after the other, never both or neither.
 *
 * Its reach is the files it can see: hostds sharing this directory (one
 * mount namespace, or a bind mount of it into containers). A hostd in a
 * container with a /run of its own cannot see the others' claims; give it an
 * explicit --vm-uid-base from a range of its own (docs/security.md).
 */
import { mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import * as path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { KvmError } from "../sdk/errors";
import { FileLock, probeLock } from "./flock";
import { formatRange, overlaps, slotRange, slotsFrom, UidRange, UidRangePlan, LEGACY_VM_UID_BASE, VM_UID_RANGE_SIZE } from "./uid-range";

/** On tmpfs: claims die with the boot, as the locks that mark them live do. */
export const UID_CLAIMS_DIR = "/run/pulumi-kvm/uid-ranges";

export interface UidClaim {
  hostId: string;
  stateDir: string;
  socket: string;
  pid: number;
  range: UidRange;
  startedAt: string;
}

/** How long a start waits for another hostd's turn at the registry (it holds it for milliseconds). */
const REGISTRY_WAIT_MS = 10_000;

export class UidClaims {
  constructor(readonly dir = UID_CLAIMS_DIR) {}

  private file(hostId: string): string {
    return path.join(this.dir, `${hostId}.json`);
  }

  /** Runs `fn` holding the registry's lock. */
  private async locked<T>(fn: () => T, waitMs = REGISTRY_WAIT_MS): Promise<T> {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const file = path.join(this.dir, ".lock");
    const end = Date.now() + waitMs;
    let lock: FileLock | undefined;
    while (!(lock = FileLock.tryTake(file, 0o600))) {
      if (Date.now() > end) throw new KvmError("conflict", `The uid-range registry ${this.dir} stayed locked for ${waitMs / 1000} s: a hostd holding ${file} seems stuck; find it with "fuser ${file}".`);
      await sleep(10);
    }
    try {
      return fn();
    } finally {
      lock.release();
    }
  }

  /** Claims held by running hostds; with `prune`, dead hostds' claims are removed. Call under the registry lock. */
  private scan(prune: boolean): UidClaim[] {
    const live: UidClaim[] = [];
    for (const name of readdirSync(this.dir)) {
      if (!name.endsWith(".json")) continue;
      const file = path.join(this.dir, name);
      const p = probeLock(file);
      if (p === undefined) continue;
      if (!p.held) {
        // Nobody makes a claim without the registry lock, which this scan holds: the name is still the dead one's.
        if (prune) rmSync(file, { force: true });
        continue;
      }
      try {
        live.push(JSON.parse(p.text) as UidClaim);
      } catch {
        // Its holder writes it whole under the registry lock, so this is no half-written claim.
        throw new KvmError("conflict", `${file} is held by a running process but is not a uid-range claim: find what holds it with "fuser ${file}".`);
      }
    }
    return live;
  }

  /** Claims of running hostds (read-only: `hostd doctor`); none when no hostd ever claimed one since boot. */
  async live(waitMs?: number): Promise<UidClaim[]> {
    try {
      statSync(this.dir);
    } catch (e) {
      // Missing: none; unreadable (not root) is an error, never "no other hostd".
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw e;
    }
    return this.locked(() => this.scan(false), waitMs);
  }

  /**
   * Claims the planned range for this hostd (a movable default moves to the next free slot), or
   * throws `conflict` naming the running hostd whose range overlaps, or that runs the same host id.
   */
  async claim(me: Omit<UidClaim, "range" | "pid" | "startedAt">, plan: UidRangePlan): Promise<{ range: UidRange; release(): void }> {
    return this.locked(() => {
      const others = this.scan(true);
      const twin = others.find((c) => c.hostId === me.hostId);
      if (twin) {
        throw new KvmError(
          "conflict",
          `Host id ${me.hostId} is already run by another hostd (pid ${twin.pid}, state directory ${twin.stateDir}, socket ${twin.socket}): ${me.stateDir} is a copy of its state directory, and a copy is the same host. Run one copy at a time.`,
          { other: twin },
        );
      }
      const taken = (r: UidRange) => others.find((c) => overlaps(c.range, r));
      let range = plan.range;
      const holder = taken(range);
      if (holder) {
        const free = plan.movable ? slotsFrom(slotOf(range)).map(slotRange).find((r) => !taken(r)) : undefined;
        if (!free) {
          throw new KvmError(
            "conflict",
            `VM uid range ${formatRange(range)} (${plan.source}) overlaps ${formatRange(holder.range)} of another hostd (host id ${holder.hostId}, pid ${holder.pid}, state directory ${holder.stateDir}, socket ${holder.socket}): their VMs would run as the same users and could read each other's disks. ${
              plan.source === "explicit"
                ? "Pick a --vm-uid-base outside that range."
                : "Stop that hostd first. To run both, one of them must make its VMs anew: delete them, then start it with a --vm-uid-base outside the other's range."
            }`,
            { range, other: holder },
          );
        }
        range = free;
      }
      const claim: UidClaim = { ...me, range, pid: process.pid, startedAt: new Date().toISOString() };
      const lock = FileLock.tryTake(this.file(me.hostId), 0o600);
      // Nobody else takes a claim's lock outside the registry lock, and a stale one was just pruned.
      if (!lock) throw new Error(`${this.file(me.hostId)} is locked by a process that is not a hostd holding the registry`);
      lock.write(JSON.stringify(claim) + "\n");
      const file = this.file(me.hostId);
      return {
        range,
        release: () => {
          // Removed while still locked: a scan that opened it already reads it through its own descriptor.
          rmSync(file, { force: true });
          lock.release();
        },
      };
    });
  }

  /** Removes the claim of `hostId` if no running hostd holds it (test cleanup after a SIGKILL). */
  async removeStale(hostId: string): Promise<void> {
    await this.locked(() => {
      if (probeLock(this.file(hostId))?.held === false) rmSync(this.file(hostId), { force: true });
    });
  }
}

/** The slot a slot-aligned range starts (for moving a derived default). */
function slotOf(r: UidRange): number {
  return Math.round((r.base - LEGACY_VM_UID_BASE) / VM_UID_RANGE_SIZE);
}
