/**
 * Moving a VM or a detached Disk to another host, as the provider's updates
 * do it (the model is in docs/architecture.md, "Moving between hosts").
 *
 * Pulumi updates a VM's Disks before the VM (the VM depends on them), and
 * the Disks of one VM in parallel. Whichever of them runs first moves the VM
 * with all its disks (a disk in use cannot move without its VM); the others
 * find the move under way here and wait for it, or find themselves already on
 * the destination and only record it. So one `up` moves everything, every
 * resource's outputs are read from where it is afterwards, and an `up` that
 * failed half-way is finished by the next one, which finds what already moved.
 */
import type { HostClient } from "../sdk/client";
import { KvmError } from "../sdk/errors";
import type { ConnectionSettings, HostRef } from "./connection";
import { clientFor } from "./connection";
import { hostRefOf, ownedOrGone, same, settingsFor } from "./common";
import { hostIdOf, mustBeOnHost } from "./placement";
import { migrateVm, MigrateOptions, MigrationPlan, MigrationResult, moveDisk, planDiskMove, planMigration } from "../sdk/migrate";

/** Moves under way in this provider process, by source host id and VM name. */
const moving = new Map<string, Promise<MigrationResult>>();

/** Moves the VM `o.vm` from `src` (host `srcHostId`) to `dst`, once however many of its resources ask at the same time. */
export function moveVmOnce(src: HostClient, dst: HostClient, srcHostId: string, o: MigrateOptions): Promise<MigrationResult> {
  const key = `${srcHostId}/${o.vm}`;
  let m = moving.get(key);
  if (!m) {
    m = migrateVm(src, dst, o);
    moving.set(key, m);
    // Kept while it runs only: a later up (or a retry) moves afresh.
    void m.then(
      () => moving.delete(key),
      () => moving.delete(key),
    );
  }
  return m;
}

/** The object on `dst` when it is this resource's own (same id): the move already happened. */
export async function alreadyThere<T extends { id: string }>(id: string, get: () => Promise<T>): Promise<T | undefined> {
  const found = await ownedOrGone(id, get);
  // A twin still being received (a move that failed half-way) is not there yet: the move starts over.
  return found && !(found as { migration?: unknown }).migration ? found : undefined;
}


/**
 * An update's first step when the `host` input names another host than the
 * one the resource is on: `move` it there unless it is there already (moved
 * with its VM by a sibling's update, or by an `up` that failed after the
 * move). Returns the destination's id; undefined when nothing moves.
 */
export async function moveIfAsked<T extends { id: string }>(
  kind: "VM" | "Disk",
  id: string,
  olds: { name: string; hostId?: string; hostRef?: HostRef; connection?: ConnectionSettings },
  news: { host?: HostRef; timeoutSeconds: number },
  dst: HostClient,
  get: (c: HostClient, name: string) => Promise<T>,
  move: (src: HostClient, fromHostId: string) => Promise<unknown>,
): Promise<string | undefined> {
  if (same(olds.hostRef, hostRefOf(news)) || olds.hostId === undefined) return undefined;
  const to = await hostIdOf(dst);
  if (to === olds.hostId) return undefined;
  const src = clientFor(settingsFor(olds), news.timeoutSeconds * 1000 + 120_000);
  if (await alreadyThere(id, () => get(dst, olds.name))) {
    // Moved by a sibling's update, or by an up that failed after the move; a VM's source may still hold
    // its paused copy (the release failed): the move, run again, finds the earlier one and releases it.
    if (kind === "VM" && (await ownedOrGone(id, () => get(src, olds.name)))) await move(src, olds.hostId);
    return to;
  }
  await mustBeOnHost(kind, olds.name, src, olds.hostId);
  await move(src, olds.hostId);
  return to;
}

function bytesText(n: number): string {
  const MiB = 1024 * 1024;
  return n >= MiB ? `${n} bytes, ${(n / MiB).toFixed(1)} MiB` : `${n} bytes`;
}

/** The preview's sentence for a VM's move, from the SDK's plan. */
export function vmMoveText(vm: string, to: string, plan: MigrationPlan): string {
  const diskBytes = plan.disks.reduce((s, d) => s + d.bytes, 0);
  const disks = plan.disks.length > 0 ? `copies disks ${plan.disks.map((d) => d.name).join(", ")}: ${bytesText(diskBytes)}` : "no disks to copy";
  const how = plan.mode === "live" ? `live-migrates to ${to} (${disks}; and ${bytesText(plan.memoryBytes)} of memory at least)` : `moves offline to ${to} (${disks})`;
  return `kvm: Vm "${vm}": ${how}: an update in place — same VM id, name, MACs, NVRAM and cloud-init seed; nothing of it is left on host ${plan.fromHostId}.`;
}

/** Asks the SDK what moving the VM would copy; a refusal fails the preview, naming both hosts. */
export async function planVmMove(vm: string, src: HostClient, dst: HostClient, toLabel: string, fromHostId: string): Promise<MigrationPlan> {
  try {
    return await planMigration(src, dst, vm);
  } catch (e) {
    if (!(e instanceof KvmError)) throw e;
    throw new KvmError(e.code, `VM "${vm}" cannot move from host ${fromHostId} to ${toLabel}: ${e.message}`, e.details, e.requestId);
  }
}

/** The preview's sentence for a detached Disk's move. */
export async function diskMoveText(disk: string, src: HostClient, dst: HostClient, toLabel: string, fromHostId: string): Promise<string> {
  const plan = await planDiskMove(src, dst, disk);
  return `kvm: Disk "${disk}": is copied to ${toLabel} (${bytesText(plan.bytes)}), then removed from host ${fromHostId}: an update in place, same disk id.`;
}

export { moveDisk };
