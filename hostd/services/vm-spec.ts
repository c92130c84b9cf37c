/**
 * The VM spec's update rules, read from the field table (sdk/protocol/vm.ts
 * VM_FIELDS): which fields restart a running VM, and how an update merges
 * into a spec. A field added to the table is updated and compared here
 * without a line changing.
 */
import { KvmError } from "../../sdk/errors";
import { stableJson, VM_FIELDS, VM_RESTART_FIELDS, type VmSpec, type VmUpdate } from "../../sdk/protocol";

export { stableJson };

/** Fields QEMU cannot change on a running VM: changing them restarts it (NICs and disks hot-plug). */
export const RESTART_FIELDS = VM_RESTART_FIELDS as readonly (keyof VmSpec)[];

/** The spec after an update: given fields replace, `null` removes optional ones. */
export function applyUpdate(before: VmSpec, u: VmUpdate): VmSpec {
  const out: Record<string, unknown> = { ...before };
  for (const k of Object.keys(VM_FIELDS)) {
    const v = (u as Record<string, unknown>)[k];
    if (k === "name" || v === undefined) continue;
    if (v === null) delete out[k];
    else out[k] = v;
  }
  const spec = out as VmSpec;
  if (spec.kernel === undefined && spec.disks.length === 0 && spec.cdrom === undefined) {
    throw new KvmError("invalid_params", `VM "${before.name}" would have no boot source left: keep a kernel, a disk or a cdrom.`);
  }
  return spec;
}
