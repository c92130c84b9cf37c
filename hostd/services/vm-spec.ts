/**
 * The VM spec's update rules: which fields restart a running VM, how an
 * update merges into a spec, and how two specs are compared.
 */
import { KvmError } from "../../sdk/errors";
import type { VmSpec, VmUpdate } from "../../sdk/protocol";

/** Fields QEMU cannot change on a running VM here: changing them restarts it. (NICs and disks hot-plug.) */
export const RESTART_FIELDS = ["vcpus", "memoryMiB", "kernel", "firmware", "cdrom", "bootOrder", "guestAgent"] as const;

/** The spec after an update: given fields replace, `null` removes optional ones. */
export function applyUpdate(before: VmSpec, u: VmUpdate): VmSpec {
  const out: VmSpec = { ...before };
  if (u.vcpus !== undefined) out.vcpus = u.vcpus;
  if (u.memoryMiB !== undefined) out.memoryMiB = u.memoryMiB;
  if (u.running !== undefined) out.running = u.running;
  if (u.firmware !== undefined) out.firmware = u.firmware;
  if (u.disks !== undefined) out.disks = u.disks;
  if (u.networkInterfaces !== undefined) out.networkInterfaces = u.networkInterfaces;
  if (u.guestAgent !== undefined) out.guestAgent = u.guestAgent;
  if (u.restartPolicy !== undefined) out.restartPolicy = u.restartPolicy;
  for (const k of ["kernel", "cdrom", "bootOrder", "cloudInit"] as const) {
    const v = u[k];
    if (v === null) delete out[k];
    else if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  }
  if (out.kernel === undefined && out.disks.length === 0 && out.cdrom === undefined) {
    throw new KvmError("invalid_params", `VM "${before.name}" would have no boot source left: keep a kernel, a disk or a cdrom.`);
  }
  return out;
}

/** JSON with sorted keys, for comparing specs regardless of key order. */
export function stableJson(v: unknown): string {
  return JSON.stringify(v, (_k, val: unknown) =>
    val && typeof val === "object" && !Array.isArray(val)
      ? Object.fromEntries(Object.entries(val as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)))
      : val,
  );
}
