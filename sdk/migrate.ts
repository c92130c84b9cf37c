/**
 * PLACEHOLDER — the integrator replaces this file with the migrate helper's
 * `sdk/migrate.ts` (worktree wt-migrate), which owns this interface.
 *
 * The provider (provider/moves.ts, vm-provider.ts, disk-provider.ts) codes
 * against these declarations only. Until the real module is merged every
 * function refuses with `unsupported` before anything is touched, so a
 * preview that would move something fails saying so instead of promising a
 * move this build cannot make.
 *
 * `planDiskMove` / `moveDisk` (a detached Disk whose host changes) are the
 * provider's request to the migrate helper: the same shape as the VM pair.
 */
import { HostClient } from "./client";
import { KvmError } from "./errors";
import type { DiskInfo, VmInfo } from "./protocol";

/** The SDK's client of one hostd. */
export type HostdClient = HostClient;

export interface MigrationProgress {
  phase: string;
  bytesSent: number;
  bytesTotal: number;
}

export interface MigrationResult {
  vmId: string;
  fromHostId: string;
  toHostId: string;
  mode: "live" | "offline";
  downtimeMs?: number;
  bytesSent: number;
  disksCopied: Array<{ name: string; bytes: number }>;
  /** The VM as the destination reports it. */
  vm: VmInfo;
}

export interface MigrationPlan {
  vmId: string;
  fromHostId: string;
  toHostId: string;
  mode: "live" | "offline";
  /** Each disk and the bytes that would travel. */
  disks: Array<{ name: string; bytes: number; backing: "none" | "base-on-destination" }>;
  /** Guest RAM that a live move copies at least once. */
  memoryBytes: number;
  totalBytes: number;
}

export interface MigrateOptions {
  /** The VM's name on the source. */
  vm: string;
  owner: string;
  bandwidthMiBps?: number;
  downtimeLimitMs?: number;
  timeoutMs?: number;
  signal?: AbortSignal;
  onProgress?: (p: MigrationProgress) => void;
}

/** What moving a detached disk would copy. */
export interface DiskMovePlan {
  diskId: string;
  fromHostId: string;
  toHostId: string;
  bytes: number;
}

export interface DiskMoveOptions {
  /** The disk's name on the source. */
  disk: string;
  owner: string;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface DiskMoveResult {
  diskId: string;
  fromHostId: string;
  toHostId: string;
  bytesSent: number;
  /** The disk as the destination reports it. */
  disk: DiskInfo;
}

function notInThisBuild(what: string): KvmError {
  return new KvmError("unsupported", `${what}: live migration is not available in this build (placeholder sdk/migrate.ts): nothing was moved.`);
}

export async function planMigration(_src: HostdClient, _dst: HostdClient, vm: string): Promise<MigrationPlan> {
  throw notInThisBuild(`Moving VM "${vm}"`);
}

export async function migrateVm(_src: HostdClient, _dst: HostdClient, o: MigrateOptions): Promise<MigrationResult> {
  throw notInThisBuild(`Moving VM "${o.vm}"`);
}

export async function planDiskMove(_src: HostdClient, _dst: HostdClient, disk: string): Promise<DiskMovePlan> {
  throw notInThisBuild(`Moving disk "${disk}"`);
}

export async function moveDisk(_src: HostdClient, _dst: HostdClient, o: DiskMoveOptions): Promise<DiskMoveResult> {
  throw notInThisBuild(`Moving disk "${o.disk}"`);
}
