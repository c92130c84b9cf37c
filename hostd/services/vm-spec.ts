/**
 * The VM spec's update rules, read from the field table (sdk/protocol/vm.ts
 * VM_FIELDS): which fields restart a running VM, and how an update merges
 * into a spec. A field added to the table is updated and compared here
 * without a line changing.
 */
import { KvmError } from "../../sdk/errors";
import { changedFields, specFields, stableJson, VM_FIELDS, type VmSpec, type VmUpdate } from "../../sdk/protocol";

export { stableJson };

/**
 * What an update does to a running VM, by the table: the fields that need a
 * restart, and those it takes live (vCPUs and memory within their room; disks
 * and NICs are planned by the hot-plug code).
 */
export function updateEffects(before: VmSpec, after: VmSpec): { restartFor: (keyof VmSpec)[]; live: (keyof VmSpec)[] } {
  const changes = changedFields(VM_FIELDS, before, after);
  const of = (e: string) => changes.filter((c) => c.effect === e).map((c) => c.field as keyof VmSpec);
  return { restartFor: of("restart"), live: of("hotplug").filter((k) => k === "vcpus" || k === "memoryMiB") };
}

/** The spec after an update: given fields replace, `null` removes optional ones. */
export function applyUpdate(before: VmSpec, u: VmUpdate): VmSpec {
  const out: Record<string, unknown> = { ...before };
  // Only the fields hostd keeps: an update's own settings (stopTimeoutSeconds) are not the VM's.
  for (const k of specFields(VM_FIELDS)) {
    const v = (u as Record<string, unknown>)[k];
    if (k === "name" || v === undefined) continue;
    if (v === null) delete out[k];
    else out[k] = v;
  }
  const spec = out as VmSpec;
  // The room to grow bounds what it is grown to (VmSpec's rules, said for an update).
  if (spec.maxVcpus !== undefined && spec.vcpus > spec.maxVcpus) {
    throw new KvmError("invalid_params", `VM "${before.name}": vcpus ${spec.vcpus} is above its maxVcpus ${spec.maxVcpus}: raise maxVcpus too (that restarts it) or remove it.`);
  }
  if (spec.maxMemoryMiB !== undefined && spec.memoryMiB > spec.maxMemoryMiB) {
    throw new KvmError("invalid_params", `VM "${before.name}": memoryMiB ${spec.memoryMiB} is above its maxMemoryMiB ${spec.maxMemoryMiB}: raise maxMemoryMiB too (that restarts it) or remove it.`);
  }
  if (spec.kernel === undefined && spec.disks.length === 0 && spec.cdrom === undefined) {
    throw new KvmError("invalid_params", `VM "${before.name}" would have no boot source left: keep a kernel, a disk or a cdrom.`);
  }
  return spec;
}
