/**
 * Rules for a VM's guest CPU (its cpuModel) on this host, from the probe of
 * this host's QEMU (drivers/qemu-caps.ts): whether a VM may start here, and
 * whether a running one may move here live. Why: a guest reads its CPU's
 * features once, at boot; a live move to a host whose CPU lacks one of them
 * can crash it later, when it uses the missing instruction.
 */
import type { QemuCaps } from "../drivers/qemu-caps";

/** How many feature names an error lists before "…" (models: more, they are what the user picks from). */
const LISTED = 12;

/** Named models this host has all of (hello, and the errors' suggestions). */
export function usableModels(cpu: QemuCaps): string[] {
  return [...cpu.models].filter(([, lacks]) => lacks.length === 0).map(([name]) => name).sort();
}

/** The usable models without QEMU's `-v1` aliases (`Nehalem-v1` is `Nehalem`), for an error to list. */
function suggestions(cpu: QemuCaps): string {
  const usable = usableModels(cpu);
  const names = usable.filter((m) => !(m.endsWith("-v1") && usable.includes(m.slice(0, -3))));
  return list(names, 40);
}

/** Why this host cannot start a VM with `model`, or undefined. */
export function cpuModelProblem(vm: string, model: string | undefined, cpu: QemuCaps): string | undefined {
  if (model === undefined || model === "host") return undefined;
  const lacks = cpu.models.get(model);
  const choose = `pick a model this host has all of (${suggestions(cpu)}), or "host"`;
  if (lacks === undefined) {
    return cpu.error
      ? `VM "${vm}" asks for CPU model "${model}", but this host's QEMU could not be asked which models it has (${cpu.error}): use "host", or fix QEMU (\`hostd doctor\`)`
      : `VM "${vm}" asks for CPU model "${model}", which this host's QEMU does not know: ${choose}`;
  }
  if (lacks.length > 0) return `VM "${vm}" asks for CPU model "${model}", but this host's CPU lacks ${lacks.length} of its features (${list(lacks)}): ${choose}`;
  return undefined;
}

/**
 * Why a running VM with the source host's own CPU (cpuModel `host`; `from`: the
 * features it was started with there) cannot go on running here, or undefined.
 * Only the same features pass, as libvirt asks of host-passthrough: one fewer
 * can crash the guest, and one more changes what its CPUID reads mid-run.
 */
export function liveCpuProblem(vm: string, model: string | undefined, from: string[] | null, cpu: QemuCaps): string | undefined {
  if (model !== undefined && model !== "host") return undefined; // a named model: the same CPU wherever it starts (cpuModelProblem)
  if (from === null) return undefined; // not running: it boots afresh on this host's CPU
  const here = new Set(cpu.features);
  const there = new Set(from);
  const missing = from.filter((f) => !here.has(f));
  const extra = cpu.features.filter((f) => !there.has(f));
  if (missing.length === 0 && extra.length === 0) return undefined;
  const differs = [
    ...(missing.length > 0 ? [`lacks ${missing.length} of the features the guest booted with (${list(missing)})`] : []),
    ...(extra.length > 0 ? [`has ${extra.length} it never saw (${list(extra)})`] : []),
  ].join(" and ");
  return (
    `VM "${vm}" runs with its host's own CPU (cpuModel "host"), and this host's CPU ${differs}: moved live, the guest could crash or misbehave. ` +
    `Give it a named CPU model both hosts have (cpuModel; this host has ${suggestions(cpu)}; a restart), or stop it and move it offline`
  );
}

function list(names: string[], most = LISTED): string {
  return names.length === 0 ? "none" : names.length > most ? `${names.slice(0, most).join(", ")}, … ${names.length - most} more` : names.join(", ");
}
