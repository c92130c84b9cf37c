/**
 * `hostd doctor`: is this machine ready to run hostd? Probing (files, commands)
 * is kept apart from judging: {@link evaluate} is a pure function of
 * {@link DoctorProbes}, so every verdict is unit-tested without the machine.
 *
 * Exit code ({@link doctorExitCode}): 0 when every required check passes
 * (warnings included: e.g. no usable KVM only makes VMs slower, they run under
 * TCG), 1 when a required check fails.
 */
import { existsSync, readFileSync, statfsSync, statSync } from "node:fs";
import * as path from "node:path";
import { chooseAccelerator, HostFacts, probeHost } from "../drivers/accel";
import { probeQemuCaps } from "../drivers/qemu-caps";
import { usableModels } from "../services/vm-cpu";
import { OVMF, ovmfMissing } from "../services/vm-files";
import { TUN } from "../drivers/netlink";
import { cpuHierarchies, hostCgroupFacts } from "../drivers/cgroup";
import { DELEGATE_SUBGROUP_SINCE, parseSystemdVersion } from "./systemd";
import { run } from "../exec";
import { peekHostId } from "../host-id";
import { UidClaim, UidClaims } from "../uid-claims";
import { derivedSlot, formatRange, overlaps, readRecordedRange, slotRange, UidRange } from "../uid-range";

export type CheckStatus = "ok" | "warn" | "fail";

export interface Check {
  id: string;
  title: string;
  status: CheckStatus;
  /** A failing required check makes `hostd doctor` exit 1. */
  required: boolean;
  /** What was found. */
  detail: string;
  /** One sentence on what to do (always there for warn and fail; optional advice for ok). */
  fix?: string;
}

/** A program run with its version flag: found with the first line it printed, or not. */
export type ToolProbe = { found: true; output: string } | { found: false; error: string };

export interface DoctorProbes {
  accel: HostFacts;
  tools: {
    qemu: ToolProbe;
    qemuImg: ToolProbe;
    dnsmasq: ToolProbe;
    nft: ToolProbe;
    ip: ToolProbe;
    setpriv: ToolProbe;
    /** First of xorriso, genisoimage found (cloud-init seeds). */
    iso: ToolProbe;
  };
  /** The QEMU binary looked for (HOSTD_QEMU or qemu-system-x86_64). */
  qemuBinary: string;
  /** What that QEMU can give guests as their CPU under the accelerator hostd would choose (drivers/qemu-caps.ts). */
  guestCpu: { native: string; features: number; usableModels: number } | { error: string };
  /** tun: missing, or its mode bits (unprivileged QEMU needs it world read-writable, Debian's 0666). */
  /** ovmfCode: the UEFI firmware's files are all there (services/vm-files.ts ovmfMissing). */
  files: { ovmfCode: boolean; tun: boolean; tunMode?: number; vhostNet: boolean };
  /** The firmware file that is missing, else its code file. */
  ovmfCodePath: string;
  disk: { stateDir: string; measuredOn: string; freeBytes?: number; error?: string };
  /** Contents of /sys/kernel/mm/ksm/run, undefined when the kernel has no KSM. */
  ksmRun?: string;
  /** Mount points of the cgroup hierarchies that offer the cpu controller (drivers/cgroup.ts). */
  cpuCgroup: { v2?: string; v1?: string };
  /** systemd is PID 1 here, and its version when `systemctl --version` told. */
  systemd: { running: boolean; version?: number };
  /** The state directory's identity (host-id.ts, uid-range.ts) and the uid ranges running hostds hold (uid-claims.ts). */
  identity: {
    /** Undefined: none made yet (hostd makes it at its first start). */
    hostId?: string;
    hostIdError?: string;
    /** The VM uid range recorded in the state directory (undefined: none chosen yet). */
    uidRange?: UidRange;
    uidRangeError?: string;
    /** Claims of running hostds; undefined when they could not be read (`claimsError` says why). */
    claims?: UidClaim[];
    claimsError?: string;
  };
}

export const GiB = 1024 ** 3;
/** Below this much free space in the state directory's file system: warn. */
export const MIN_FREE_BYTES = 10 * GiB;

/** A version number from a program's `--version` output ("QEMU emulator version 7.2.22 (...)" → "7.2.22"). */
export function parseVersion(output: string): string | undefined {
  const first = output.split("\n").find((l) => l.trim() !== "") ?? "";
  return /(\d+\.\d+(?:\.\d+)*)/.exec(first)?.[1];
}

function toolCheck(id: string, title: string, p: ToolProbe, required: boolean, fix: string): Check {
  if (p.found) {
    const v = parseVersion(p.output);
    return { id, title, status: "ok", required, detail: v ? `version ${v}` : (p.output.split("\n")[0] ?? "found").trim() };
  }
  return { id, title, status: required ? "fail" : "warn", required, detail: `not usable: ${p.error}`, fix };
}

function size(bytes: number): string {
  return bytes >= GiB ? `${(bytes / GiB).toFixed(1)} GiB` : `${(bytes / 1024 ** 2).toFixed(0)} MiB`;
}

/** Pure: the checks, in the order they are printed. */
export function evaluate(p: DoctorProbes): Check[] {
  const checks: Check[] = [];
  const { vmx, svm } = p.accel.cpuFlags;
  checks.push(
    vmx || svm
      ? { id: "cpu-virt", title: "CPU virtualisation flags", status: "ok", required: false, detail: `${vmx ? "vmx (Intel VT-x)" : "svm (AMD-V)"} in /proc/cpuinfo` }
      : {
          id: "cpu-virt",
          title: "CPU virtualisation flags",
          status: "warn",
          required: false,
          detail: "no vmx or svm flag in /proc/cpuinfo",
          fix: "Enable VT-x/AMD-V in the firmware, or nested virtualisation on the hypervisor that runs this machine; until then VMs run under TCG.",
        },
  );

  const accel = chooseAccelerator(p.accel, "auto");
  checks.push(
    accel.kind === "kvm"
      ? { id: "kvm", title: "KVM usable", status: "ok", required: false, detail: accel.reason }
      : {
          id: "kvm",
          title: "KVM usable",
          status: "warn",
          required: false,
          detail: `${accel.reason}; VMs will run under TCG software emulation (much slower)`,
          fix: p.accel.modules.kvm_pvm && !(vmx || svm)
            ? "Run hostd on a host with hardware virtualisation (vmx/svm and kvm_intel or kvm_amd); /dev/kvm from kvm_pvm cannot run ordinary guests."
            : !p.accel.kvmDevice
              ? "Load kvm_intel or kvm_amd (modprobe kvm_intel / kvm_amd) so that /dev/kvm exists and is read-write for root."
              : "Load kvm_intel or kvm_amd (modprobe kvm_intel / kvm_amd) and enable VT-x/AMD-V in the firmware.",
        },
  );

  checks.push(toolCheck("qemu", p.qemuBinary, p.tools.qemu, true, "Install QEMU: apt-get install qemu-system-x86 (or point HOSTD_QEMU at the binary)."));
  checks.push(
    "error" in p.guestCpu
      ? {
          id: "guest-cpu",
          title: "guest CPU models",
          status: "warn",
          required: false,
          detail: `QEMU could not be asked which CPU models it gives guests under ${accel.kind}: ${p.guestCpu.error}`,
          fix: "VMs with a named cpuModel are refused until it can; cpuModel \"host\" still works. Check that QEMU starts with `-machine none -accel " + accel.kind + "`.",
        }
      : {
          id: "guest-cpu",
          title: "guest CPU models",
          status: "ok",
          required: false,
          detail: `cpuModel "host" is QEMU's ${p.guestCpu.native} here (${p.guestCpu.features} features); ${p.guestCpu.usableModels} named models have every feature on this host (a kvm.Host's \`cpuModels\` output lists them)`,
        },
  );
  checks.push(toolCheck("qemu-img", "qemu-img", p.tools.qemuImg, true, "Install qemu-img: apt-get install qemu-utils."));
  checks.push(toolCheck("dnsmasq", "dnsmasq", p.tools.dnsmasq, true, "Install dnsmasq (DHCP and DNS for nat/isolated networks): apt-get install dnsmasq-base."));
  checks.push(toolCheck("nft", "nft (nftables)", p.tools.nft, true, "Install nftables (forwarding and masquerade rules): apt-get install nftables."));
  checks.push(toolCheck("ip", "ip (iproute2)", p.tools.ip, true, "Install iproute2 (bridges, taps, routes): apt-get install iproute2."));
  checks.push(toolCheck("setpriv", "setpriv (util-linux)", p.tools.setpriv, true, "Install util-linux (QEMU is started through setpriv without privileges): apt-get install util-linux."));
  checks.push(toolCheck("iso", "ISO tool for cloud-init seeds", p.tools.iso, false, "Install xorriso (or genisoimage) for VMs with cloudInit: apt-get install xorriso."));

  checks.push(
    p.files.ovmfCode
      ? { id: "ovmf", title: "OVMF (UEFI firmware)", status: "ok", required: false, detail: p.ovmfCodePath }
      : { id: "ovmf", title: "OVMF (UEFI firmware)", status: "warn", required: false, detail: `${p.ovmfCodePath} is missing: VMs with firmware "uefi" cannot start`, fix: "Install OVMF: apt-get install ovmf." },
  );
  checks.push(
    !p.files.tun
      ? { id: "tun", title: "/dev/net/tun", status: "fail", required: true, detail: "missing: VMs cannot have NICs on networks (taps)", fix: "Load the tun module (modprobe tun), or give the container /dev/net/tun." }
      : p.files.tunMode !== undefined && (p.files.tunMode & 0o006) !== 0o006
        ? { id: "tun", title: "/dev/net/tun", status: "fail", required: true, detail: `mode ${(p.files.tunMode & 0o777).toString(8)}: each VM's unprivileged QEMU cannot open its tap`, fix: "chmod 0666 /dev/net/tun (Debian's default; a udev rule keeps it so)." }
        : { id: "tun", title: "/dev/net/tun", status: "ok", required: true, detail: "present, usable by unprivileged QEMU" },
  );
  checks.push(
    p.files.vhostNet
      ? { id: "vhost-net", title: "/dev/vhost-net", status: "ok", required: false, detail: "present: NICs use the in-kernel virtio-net data path" }
      : {
          id: "vhost-net",
          title: "/dev/vhost-net",
          status: "warn",
          required: false,
          detail: "missing: NICs work, but virtio-net runs in QEMU (slower)",
          fix: "Load the vhost_net module (modprobe vhost_net)."
        },
  );

  const d = p.disk;
  const where = d.measuredOn === d.stateDir ? d.stateDir : `${d.stateDir} (not created yet; measured on ${d.measuredOn})`;
  if (d.freeBytes === undefined) {
    checks.push({ id: "disk-space", title: "free space for the state directory", status: "warn", required: false, detail: `cannot measure ${where}: ${d.error ?? "unknown error"}`, fix: "Check that the state directory's file system is mounted and readable." });
  } else if (d.freeBytes < MIN_FREE_BYTES) {
    checks.push({
      id: "disk-space",
      title: "free space for the state directory",
      status: "warn",
      required: false,
      detail: `${size(d.freeBytes)} free on ${where}, less than ${size(MIN_FREE_BYTES)}`,
      fix: "Free some space or put the state directory (--state-dir) on a larger file system: disks and cached images live there.",
    });
  } else {
    checks.push({ id: "disk-space", title: "free space for the state directory", status: "ok", required: false, detail: `${size(d.freeBytes)} free on ${where}` });
  }

  const ksm = p.ksmRun?.trim();
  if (ksm === undefined) {
    checks.push({ id: "ksm", title: "KSM (kernel same-page merging)", status: "warn", required: false, detail: "/sys/kernel/mm/ksm/run is missing: this kernel has no KSM", fix: "Optional: use a kernel with CONFIG_KSM to share identical memory pages between VMs." });
  } else if (ksm === "1") {
    checks.push({ id: "ksm", title: "KSM (kernel same-page merging)", status: "ok", required: false, detail: "running: identical memory pages of VMs are shared" });
  } else {
    checks.push({
      id: "ksm",
      title: "KSM (kernel same-page merging)",
      status: "ok",
      required: false,
      detail: `off (run=${ksm}); optional`,
      fix: "Optional: echo 1 > /sys/kernel/mm/ksm/run to share identical memory pages between many similar VMs (costs some CPU).",
    });
  }
  checks.push(cpuGroupCheck(p));
  checks.push(...identityChecks(p));
  return checks;
}

/** The host id, and the VM uid range with who holds it and whether another hostd's overlaps it. */
function identityChecks(p: DoctorProbes): Check[] {
  const { stateDir } = p.disk;
  const id = p.identity;
  const host: Check = id.hostIdError
    ? {
        id: "host-id",
        title: "host id",
        status: "warn",
        required: false,
        detail: id.hostIdError,
        fix: "Restore the state directory's host-id file from a backup: deletes from Pulumi name it, so a new one would refuse them.",
      }
    : id.hostId
      ? { id: "host-id", title: "host id", status: "ok", required: false, detail: `${id.hostId} (${path.join(stateDir, "host-id")})` }
      : { id: "host-id", title: "host id", status: "ok", required: false, detail: `none yet in ${stateDir}: hostd makes one at its first start` };

  const base = { id: "vm-uids", title: "VM uid range", required: false };
  const claims = id.claims ?? [];
  // This state directory's own hostd, by its host id (its path may be spelled another way).
  const serving = claims.find((c) => (id.hostId ? c.hostId === id.hostId : c.stateDir === stateDir));
  const others = claims.filter((c) => c !== serving);
  const seen = id.claims ? `${others.length} other running hostd(s) hold ranges on this machine` : `other hostds' ranges not readable: ${id.claimsError ?? "unknown error"}`;
  let uids: Check;
  if (id.uidRangeError) {
    uids = { ...base, status: "warn", detail: id.uidRangeError, fix: `Restore ${path.join(stateDir, "vm-uid-range")} from a backup, or start hostd with the --vm-uid-base its VMs' uids were given from.` };
  } else if (!id.uidRange) {
    const next = id.hostId ? `${formatRange(slotRange(derivedSlot(id.hostId)))} (from the host id), or the next free range if another hostd holds it` : "a range derived from the host id it makes";
    uids = { ...base, status: "ok", detail: `none chosen yet: the first start as root takes ${next}; ${seen}` };
  } else {
    const r = id.uidRange;
    const clash = others.find((c) => overlaps(c.range, r));
    uids = clash
      ? {
          ...base,
          status: "warn",
          detail: `${formatRange(r)} overlaps ${formatRange(clash.range)} of another running hostd (host id ${clash.hostId}, pid ${clash.pid}, state directory ${clash.stateDir}): hostd refuses to start on ${stateDir} while it runs`,
          fix: "Stop the other hostd, or start this one with a --vm-uid-base outside the other's range (its VMs' recorded uids must fit).",
        }
      : { ...base, status: "ok", detail: `${formatRange(r)}, ${serving ? `held by hostd pid ${serving.pid} (socket ${serving.socket})` : "not held now (no hostd serves this state directory)"}; ${seen}` };
  }
  return [host, uids];
}

/** Whether hostd can keep its VMs in a CPU group of their own (hostd/drivers/cgroup.ts). */
function cpuGroupCheck(p: DoctorProbes): Check {
  const base = { id: "cpu-group", title: "CPU group for VMs", required: false };
  const without = "VMs share hostd's cgroup, so busy guests can slow hostd's replies";
  const { v2, v1 } = p.cpuCgroup;
  if (v2) {
    if (p.systemd.running && (p.systemd.version ?? 0) < DELEGATE_SUBGROUP_SINCE) {
      return {
        ...base,
        status: "warn",
        detail: `cgroup v2, but systemd ${p.systemd.version ?? "(version unknown)"} has no DelegateSubgroup= (${DELEGATE_SUBGROUP_SINCE}+), which hostd.service needs for it: ${without}`,
        fix: `Optional: with systemd ${DELEGATE_SUBGROUP_SINCE} or later (e.g. Debian 13), run "hostd install" again; it matters only when guests keep the CPUs busy.`,
      };
    }
    return { ...base, status: "ok", detail: `cgroup v2 with the cpu controller (${v2}): hostd keeps its VMs in a cgroup of their own` };
  }
  if (v1) return { ...base, status: "ok", detail: `cgroup v1 cpu hierarchy (${v1}): hostd keeps its VMs in a cgroup of their own` };
  return {
    ...base,
    status: "warn",
    detail: `no cgroup hierarchy offers the cpu controller: ${without}`,
    fix: "Optional: use a kernel and init that mount the cgroup cpu controller; it matters only when guests keep the CPUs busy.",
  };
}

/** 0: every required check passed (warnings allowed); 1: a required check failed. */
export function doctorExitCode(checks: readonly Check[]): 0 | 1 {
  return checks.some((c) => c.required && c.status === "fail") ? 1 : 0;
}

/** The human report: one line per check, its fix indented below it, and a verdict. */
export function renderReport(checks: readonly Check[]): string {
  const w = Math.max(...checks.map((c) => c.title.length));
  const lines: string[] = [];
  for (const c of checks) {
    lines.push(`${c.status.toUpperCase().padEnd(4)} ${c.required ? "*" : " "} ${c.title.padEnd(w)}  ${c.detail}`);
    if (c.fix) lines.push(`       ${" ".repeat(w)}  fix: ${c.fix}`);
  }
  const failed = checks.filter((c) => c.required && c.status === "fail");
  const warned = checks.filter((c) => c.status === "warn" || (c.status === "fail" && !c.required));
  lines.push("");
  lines.push("* required: if one fails, hostd cannot run VMs and doctor exits 1");
  lines.push(
    failed.length
      ? `NOT READY: required check(s) failed: ${failed.map((c) => c.title).join(", ")} (exit 1)`
      : `ready: all required checks passed${warned.length ? `, ${warned.length} warning(s)` : ""} (exit 0)`,
  );
  return lines.join("\n") + "\n";
}

/** Runs `cmd args` and returns what it printed, or why it could not. */
export async function probeTool(cmd: string, args: string[]): Promise<ToolProbe> {
  try {
    const { stdout, stderr } = await run(cmd, args, { timeoutMs: 10_000 });
    const out = (stdout.trim() || stderr.trim()).split("\n")[0] ?? "";
    return { found: true, output: out };
  } catch (e) {
    return { found: false, error: (e as Error).message };
  }
}

/** The nearest existing directory at or above `dir` (the state directory may not exist yet). */
export function nearestExisting(dir: string): string {
  let d = path.resolve(dir);
  while (!existsSync(d) && path.dirname(d) !== d) d = path.dirname(d);
  return d;
}

/** Reads everything {@link evaluate} needs from this machine. */
export async function gatherProbes(opts: { stateDir: string }): Promise<DoctorProbes> {
  const qemuBinary = process.env.HOSTD_QEMU ?? "qemu-system-x86_64";
  const host = probeHost();
  const guestCpu = await probeQemuCaps(qemuBinary, chooseAccelerator(host, "auto").kind).then(
    (c) => ({ native: c.native, features: c.features.length, usableModels: usableModels(c).length }),
    (e: Error) => ({ error: e.message }),
  );
  const [qemu, qemuImg, dnsmasq, nft, ip, setpriv, xorriso, systemctl] = await Promise.all([
    probeTool(qemuBinary, ["--version"]),
    probeTool("qemu-img", ["--version"]),
    probeTool("dnsmasq", ["--version"]),
    probeTool("nft", ["--version"]),
    probeTool("ip", ["-V"]),
    probeTool("setpriv", ["--version"]),
    probeTool("xorriso", ["-version"]),
    probeTool("systemctl", ["--version"]),
  ]);
  let iso = xorriso.found ? xorriso : await probeTool("genisoimage", ["-version"]);
  if (!iso.found) iso = { found: false, error: "neither xorriso nor genisoimage is installed" };

  const stateDir = path.resolve(opts.stateDir);
  const measuredOn = nearestExisting(stateDir);
  let disk: DoctorProbes["disk"];
  try {
    const s = statfsSync(measuredOn);
    disk = { stateDir, measuredOn, freeBytes: Number(s.bavail) * Number(s.bsize) };
  } catch (e) {
    disk = { stateDir, measuredOn, error: (e as Error).message };
  }
  let ksmRun: string | undefined;
  try {
    ksmRun = readFileSync("/sys/kernel/mm/ksm/run", "utf8");
  } catch {
    ksmRun = undefined;
  }
  return {
    accel: host,
    tools: { qemu, qemuImg, dnsmasq, nft, ip, setpriv, iso },
    qemuBinary,
    guestCpu,
    files: { ovmfCode: ovmfMissing() === undefined, tun: existsSync(TUN), tunMode: modeOf(TUN), vhostNet: existsSync("/dev/vhost-net") },
    ovmfCodePath: ovmfMissing() ?? OVMF.code,
    disk,
    ...(ksmRun !== undefined && { ksmRun }),
    cpuCgroup: cpuHierarchies(hostCgroupFacts()),
    systemd: { running: existsSync("/run/systemd/system"), version: systemctl.found ? parseSystemdVersion(systemctl.output) : undefined },
    identity: await probeIdentity(stateDir),
  };
}

async function probeIdentity(stateDir: string): Promise<DoctorProbes["identity"]> {
  const out: DoctorProbes["identity"] = {};
  const attempt = <T>(fn: () => T, onError: (m: string) => void): T | undefined => {
    try {
      return fn();
    } catch (e) {
      onError((e as Error).message);
      return undefined;
    }
  };
  out.hostId = attempt(() => peekHostId(stateDir), (m) => (out.hostIdError = m));
  out.uidRange = attempt(() => readRecordedRange(stateDir), (m) => (out.uidRangeError = m));
  try {
    out.claims = await new UidClaims().live(2000);
  } catch (e) {
    out.claimsError = (e as Error).message;
  }
  return out;
}

function modeOf(p: string): number | undefined {
  try {
    return statSync(p).mode;
  } catch {
    return undefined;
  }
}
