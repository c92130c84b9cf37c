/**
 * The host's capacity and the one rule about it: a single VM may not have
 * more vCPUs than the host has CPUs, or more memory than the host has in
 * all, because such a VM can never run well here (its vCPUs time-share
 * cores that do not exist, its memory is promised from swap or nowhere).
 * Many VMs whose sum exceeds the host stay allowed: most guests idle, and
 * that is the operator's call. `hostd serve --allow-overcommit` lifts the
 * per-VM rule too.
 */
import { cpus, totalmem } from "node:os";
import { KvmError } from "../../sdk/errors";
import type { HostCapacity, VmSpec } from "../../sdk/protocol";

/** This host's CPUs and total memory, and whether hostd allows a VM beyond them. */
export function hostCapacity(overcommit: boolean): HostCapacity {
  return { cpus: Math.max(1, cpus().length), memoryMiB: Math.floor(totalmem() / (1024 * 1024)), overcommit };
}

/** Refuses a VM larger than the host, with the host's figures, unless hostd allows overcommit. */
export function checkCapacity(spec: Pick<VmSpec, "name" | "vcpus" | "memoryMiB">, cap: HostCapacity): void {
  if (cap.overcommit) return;
  const details = { vcpus: spec.vcpus, memoryMiB: spec.memoryMiB, hostCpus: cap.cpus, hostMemoryMiB: cap.memoryMiB };
  const unless = "or start hostd with --allow-overcommit to allow VMs larger than the host";
  if (spec.vcpus > cap.cpus) {
    throw new KvmError("over_capacity", `VM "${spec.name}" asks for ${spec.vcpus} vCPUs, but this host has ${cap.cpus} CPUs: give it at most ${cap.cpus}, ${unless}.`, details);
  }
  if (spec.memoryMiB > cap.memoryMiB) {
    throw new KvmError(
      "over_capacity",
      `VM "${spec.name}" asks for ${spec.memoryMiB} MiB of memory, but this host has ${cap.memoryMiB} MiB in all: give it at most ${cap.memoryMiB} MiB, ${unless}.`,
      details,
    );
  }
}
