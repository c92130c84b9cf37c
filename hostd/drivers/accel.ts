/**
 * Choosing the accelerator. "Is KVM usable?" is not "does /dev/kvm open?":
 * some hosts expose /dev/kvm from a module that cannot run ordinary guests
 * (kvm_pvm, software nested virtualisation), where a stock kernel dies with
 * a KVM internal error. KVM needs CPU virtualisation flags (vmx/svm) and a
 * hardware KVM module (kvm_intel/kvm_amd); anything else gets TCG with a
 * warning.
 */
import { accessSync, constants, existsSync, readFileSync } from "node:fs";

export type AcceleratorKind = "kvm" | "tcg";

export interface HostFacts {
  /** /dev/kvm exists and is read-write for us. */
  kvmDevice: boolean;
  /** CPU flags from /proc/cpuinfo include vmx (Intel) or svm (AMD). */
  cpuFlags: { vmx: boolean; svm: boolean };
  /** Loaded modules relevant to KVM, from /sys/module. */
  modules: { kvm_intel: boolean; kvm_amd: boolean; kvm_pvm: boolean };
}

export interface AcceleratorChoice {
  kind: AcceleratorKind;
  reason: string;
  warning?: string;
}

/** Pure decision from host facts and the operator's preference. */
export function chooseAccelerator(facts: HostFacts, want: "auto" | "kvm" | "tcg" = "auto"): AcceleratorChoice {
  const hw = facts.cpuFlags.vmx || facts.cpuFlags.svm;
  const hwModule = facts.modules.kvm_intel || facts.modules.kvm_amd;
  const usable = facts.kvmDevice && hw && hwModule;
  let why: string;
  if (!facts.kvmDevice) why = "/dev/kvm is missing or not accessible";
  else if (!hw) why = `the CPU has no vmx/svm flag${facts.modules.kvm_pvm ? " and /dev/kvm comes from kvm_pvm, which cannot run ordinary guests" : ""}`;
  else if (!hwModule) why = "neither kvm_intel nor kvm_amd is loaded";
  else why = "";

  if (want === "tcg") return { kind: "tcg", reason: "TCG was requested (--accel tcg)" };
  if (usable) {
    return { kind: "kvm", reason: `KVM is usable (${facts.cpuFlags.vmx ? "vmx" : "svm"}, ${facts.modules.kvm_intel ? "kvm_intel" : "kvm_amd"})` };
  }
  if (want === "kvm") {
    // The operator insisted; honour it but say what will likely happen.
    return { kind: "kvm", reason: "KVM was requested (--accel kvm)", warning: `KVM does not look usable here: ${why}. Guests may fail to start.` };
  }
  return {
    kind: "tcg",
    reason: `KVM is not usable: ${why}`,
    warning: `VMs run under TCG software emulation (much slower than KVM) because ${why}.`,
  };
}

/** Reads the facts from this host. */
export function probeHost(root = "/"): HostFacts {
  const p = (s: string) => (root === "/" ? s : root + s);
  let kvmDevice = false;
  try {
    accessSync(p("/dev/kvm"), constants.R_OK | constants.W_OK);
    kvmDevice = true;
  } catch {
    kvmDevice = false;
  }
  let flags = "";
  try {
    const cpuinfo = readFileSync(p("/proc/cpuinfo"), "utf8");
    flags = cpuinfo.split("\n").find((l) => l.startsWith("flags")) ?? "";
  } catch {
    flags = "";
  }
  const words = new Set(flags.split(/\s+/));
  return {
    kvmDevice,
    cpuFlags: { vmx: words.has("vmx"), svm: words.has("svm") },
    modules: {
      kvm_intel: existsSync(p("/sys/module/kvm_intel")),
      kvm_amd: existsSync(p("/sys/module/kvm_amd")),
      kvm_pvm: existsSync(p("/sys/module/kvm_pvm")),
    },
  };
}
