/**
 * The VMs' CPU group: one cgroup that holds every QEMU this hostd starts.
 *
 * Why: the kernel's fair scheduler shares a busy CPU between the runnable
 * entities of one cgroup. With every QEMU a sibling of hostd, 120 busy guests
 * leave hostd (and the sshd session carrying a call) about 1/120 of a core
 * each, and a `vm.list` waited seconds (docs/benchmarks.md). In a group of
 * their own the VMs together weigh as much as hostd does, libvirt's
 * `machine.slice` model. The scheduler stays work-conserving: while hostd is
 * idle, which is nearly always, the guests get every cycle.
 *
 * Where:
 * - cgroup v2 with the cpu controller, hostd in the root cgroup (containers):
 *   `/<name>`.
 * - cgroup v2 under systemd: `hostd install` writes `Delegate=yes` and
 *   `DelegateSubgroup=hostd` (systemd 254 or later), so hostd starts in
 *   `<unit's cgroup>/hostd`, the unit's cgroup is hostd's to arrange, and the
 *   group is `<unit's cgroup>/<name>`, a sibling of hostd's leaf (v2 lets only
 *   leaves hold processes). hostd never moves itself: in any other v2 cgroup
 *   it makes no group and says why.
 * - cgroup v1 with a cpu hierarchy: `<cpu mount><hostd's cpu cgroup>/<name>`
 *   (beside a delegated `hostd` subgroup, as on v2).
 * - otherwise, or without permission: no group; VMs share hostd's cgroup, and
 *   hostd says why in its log and `hostd doctor` does too.
 *
 * The name carries a hash of the state directory, so two hostds on one host
 * (tests, benchmarks) never share or remove each other's group.
 *
 * Each QEMU also gets a cgroup of its own, `vm-<vm id>-<pid>`, with the
 * memory controller, so the OOM killer's count is read from that VM's own
 * counters (v2 `memory.events`, v1 `memory.oom_control`, both `oom_kill`):
 * an OOM kill of one VM is never taken for another's, and a VM's exit can be
 * explained even after hostd restarted (the group is named after the pid).
 * - cgroup v2: a child of the VMs' group (cpu and memory enabled for its
 *   children), so it is in the VMs' CPU group too.
 * - cgroup v1, where cpu and memory are separate hierarchies (our own
 *   machines): QEMU joins the VMs' group in the cpu hierarchy, and its own
 *   group under `<memory mount><hostd's memory cgroup>/<name>`.
 * - neither (no memory controller, no permission): no group of its own, and
 *   an exit by SIGKILL is reported as one hostd cannot attribute.
 * No memory limit is set: what QEMU needs beyond guest RAM (TCG translation
 * buffers, device and block-layer memory, page cache charged to the group)
 * has no bound hostd could state, and a limit too tight kills healthy guests.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import * as path from "node:path";

/** What the plan is made from: /proc/self/mountinfo, /proc/self/cgroup and a reader of a cgroup's controllers. */
export interface CgroupFacts {
  mountinfo: string;
  selfCgroup: string;
  /** The controllers a v2 cgroup directory offers (its cgroup.controllers), [] if unreadable. */
  controllers(dir: string): string[];
}

/** Where the VM group goes, or why there is none. */
export type VmCgroupPlan =
  | { kind: "v2"; dir: string; /** where the controllers are enabled for children */ parent: string; controllers: string[] }
  | {
      kind: "v1";
      dir: string;
      /** The VMs' group in the v1 memory hierarchy, parent of each QEMU's own group; absent (with why) without one. */
      memory: { dir: string } | { reason: string };
    }
  | { kind: "none"; reason: string };

/** `pulumi-kvm-<8 hex of sha256(stateDir)>`. */
export function vmCgroupName(stateDir: string): string {
  return `pulumi-kvm-${createHash("sha256").update(path.resolve(stateDir)).digest("hex").slice(0, 8)}`;
}

interface Mount {
  point: string;
  fstype: string;
  superOptions: string[];
}

/** Parses /proc/self/mountinfo lines: `id parent maj:min root point opts [optional...] - fstype source superopts`. */
function mounts(mountinfo: string): Mount[] {
  const out: Mount[] = [];
  for (const line of mountinfo.split("\n")) {
    const dash = line.indexOf(" - ");
    if (dash < 0) continue;
    const pre = line.slice(0, dash).split(" ");
    const post = line.slice(dash + 3).split(" ");
    if (pre.length < 5 || post.length < 3) continue;
    out.push({ point: unescapeMount(pre[4]!), fstype: post[0]!, superOptions: post[2]!.split(",") });
  }
  return out;
}

/** mountinfo escapes space, tab, newline and backslash as octal. */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Pure: which cgroup hierarchies offer a controller (a v2 one, a v1 one), with their mount points. */
export function cpuHierarchies(f: Pick<CgroupFacts, "mountinfo" | "controllers">, controller = "cpu"): { v2?: string; v1?: string } {
  const all = mounts(f.mountinfo);
  const v2 = all.find((m) => m.fstype === "cgroup2" && f.controllers(m.point).includes(controller));
  const v1 = all.find((m) => m.fstype === "cgroup" && m.superOptions.includes(controller));
  return { v2: v2?.point, v1: v1?.point };
}

/**
 * Pure: a process's cgroup path in one hierarchy, from the text of
 * /proc/<pid>/cgroup: the v2 line ("0::/path"), or the v1 line whose
 * controllers include `controller` ("3:cpu,cpuacct:/path").
 */
export function cgroupPathIn(procCgroup: string, hierarchy: "v1" | "v2", controller = "cpu"): string | undefined {
  for (const line of procCgroup.split("\n")) {
    const [id, controllers = "", ...rest] = line.split(":");
    if (rest.length === 0) continue;
    if (hierarchy === "v2" ? id === "0" && controllers === "" : controllers.split(",").includes(controller)) return rest.join(":");
  }
  return undefined;
}

/** Beside hostd's own leaf when systemd delegated one (named `hostd`), else inside hostd's cgroup. */
function besideHostd(ownPath: string): string {
  return path.posix.basename(ownPath) === "hostd" ? path.posix.dirname(ownPath) : ownPath;
}

/** Pure: where the VM group of `name` goes on a host with these facts. */
export function planVmCgroup(name: string, f: CgroupFacts): VmCgroupPlan {
  const { v2, v1 } = cpuHierarchies(f);
  const v2Path = cgroupPathIn(f.selfCgroup, "v2");
  if (v2 && v2Path !== undefined) {
    let parent: string;
    if (v2Path === "/") parent = v2;
    else if (path.posix.basename(v2Path) === "hostd") parent = path.join(v2, path.posix.dirname(v2Path));
    else {
      return {
        kind: "none",
        reason: `hostd runs in the cgroup ${v2Path}, which is not delegated to it (install it with "hostd install": systemd 254 or later starts it in a delegated "hostd" subgroup)`,
      };
    }
    const offered = f.controllers(parent);
    if (!offered.includes("cpu")) return { kind: "none", reason: `the cgroup ${parent} is not offered the cpu controller` };
    return { kind: "v2", parent, dir: path.join(parent, name), controllers: ["cpu", "memory"].filter((c) => offered.includes(c)) };
  }

  if (v1) {
    const ownPath = cgroupPathIn(f.selfCgroup, "v1");
    if (ownPath === undefined) return { kind: "none", reason: "the cgroup v1 cpu hierarchy is mounted but /proc/self/cgroup has no cpu line" };
    return { kind: "v1", dir: path.join(v1, besideHostd(ownPath), name), memory: v1MemoryGroup(name, f) };
  }
  return { kind: "none", reason: "no cgroup hierarchy with the cpu controller is mounted" };
}

/** Where the VMs' group goes in a v1 memory hierarchy (a separate mount from cpu), or why it cannot. */
function v1MemoryGroup(name: string, f: CgroupFacts): { dir: string } | { reason: string } {
  const mount = cpuHierarchies(f, "memory").v1;
  if (!mount) return { reason: "no cgroup v1 memory hierarchy is mounted" };
  const ownPath = cgroupPathIn(f.selfCgroup, "v1", "memory");
  if (ownPath === undefined) return { reason: "the cgroup v1 memory hierarchy is mounted but /proc/self/cgroup has no memory line" };
  return { dir: path.join(mount, besideHostd(ownPath), name) };
}

/** Reads this process's facts from /proc and /sys. */
export function hostCgroupFacts(): CgroupFacts {
  const read = (f: string) => {
    try {
      return readFileSync(f, "utf8");
    } catch {
      return "";
    }
  };
  return {
    mountinfo: read("/proc/self/mountinfo"),
    selfCgroup: read("/proc/self/cgroup"),
    controllers: (dir) => read(path.join(dir, "cgroup.controllers")).trim().split(/\s+/).filter(Boolean),
  };
}

/** The plan for hostd with this state directory on this host. */
export function vmCgroupPlan(stateDir: string): VmCgroupPlan {
  return planVmCgroup(vmCgroupName(stateDir), hostCgroupFacts());
}

function mkdirOnce(dir: string): void {
  try {
    mkdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
  }
}

/** Moves a process (all its threads) into a cgroup; a process that exited meanwhile is skipped. */
export function moveIntoCgroup(dir: string, pid: number): void {
  try {
    writeFileSync(path.join(dir, "cgroup.procs"), `${pid}\n`);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ESRCH") throw e;
  }
}

/** The name of QEMU `pid`'s own group (VM id and pid: found again after a hostd restart, never reused). */
export function qemuCgroupName(vmId: string, pid: number): string {
  return `vm-${vmId}-${pid}`;
}

/** Pure: the OOM killer's count in a memory.events (v2) or memory.oom_control (v1) text. */
export function parseOomKills(text: string): number | undefined {
  const m = /^oom_kill (\d+)$/m.exec(text);
  return m ? Number(m[1]) : undefined;
}

/** One QEMU's own cgroup: where the OOM killer's count for that VM alone is read. */
export class QemuCgroup {
  /** The count when hostd started watching (0 for a group made for this QEMU). */
  private readonly baseline: number;

  constructor(
    readonly kind: "v1" | "v2",
    readonly dir: string,
    baseline?: number,
  ) {
    this.baseline = baseline ?? this.oomKills() ?? 0;
  }

  /** How many processes the OOM killer killed in this group (QEMU is its only one), if readable. */
  oomKills(): number | undefined {
    try {
      return parseOomKills(readFileSync(path.join(this.dir, this.kind === "v2" ? "memory.events" : "memory.oom_control"), "utf8"));
    } catch {
      return undefined;
    }
  }

  /** Whether the OOM killer killed QEMU since hostd started watching; undefined when the counter cannot be read. */
  oomKilled(): boolean | undefined {
    const n = this.oomKills();
    return n === undefined ? undefined : n > this.baseline;
  }

  /** Removes the group; false while it still lists a process (an unreaped zombie, too) or is gone. */
  remove(): boolean {
    return removeVmCgroupIfEmpty(this.dir);
  }
}

/** The VM group once made: QEMUs are moved into it (and each into a group of its own) as they start, and on reattach. */
export class VmCgroup {
  private constructor(
    readonly kind: "v1" | "v2",
    readonly dir: string,
    /** Where each QEMU's own group goes, or why there is none. */
    readonly perQemu: { dir: string } | { reason: string },
  ) {}

  /**
   * Makes the group as planned. Throws (with the file it could not write) if
   * the host refuses; the caller then runs without one. Each QEMU's own group
   * is made possible too where the host allows, else `perQemu` says why not.
   */
  static create(plan: Exclude<VmCgroupPlan, { kind: "none" }>): VmCgroup {
    // Children of a v2 cgroup get a controller only once it is enabled for them.
    if (plan.kind === "v2") writeFileSync(path.join(plan.parent, "cgroup.subtree_control"), plan.controllers.map((c) => `+${c}`).join(" "));
    mkdirOnce(plan.dir);
    let perQemu: { dir: string } | { reason: string };
    try {
      if (plan.kind === "v2") {
        if (!plan.controllers.includes("memory")) throw new Error(`the cgroup ${plan.parent} is not offered the memory controller`);
        // Fails while the group holds processes itself (QEMUs an older hostd put there): v2 lets only leaves hold them.
        writeFileSync(path.join(plan.dir, "cgroup.subtree_control"), plan.controllers.map((c) => `+${c}`).join(" "));
        perQemu = { dir: plan.dir };
      } else if ("dir" in plan.memory) {
        mkdirOnce(plan.memory.dir);
        perQemu = { dir: plan.memory.dir };
      } else perQemu = plan.memory;
    } catch (e) {
      perQemu = { reason: (e as Error).message };
    }
    return new VmCgroup(plan.kind, plan.dir, perQemu);
  }

  /**
   * Puts a QEMU (all its threads) into the VMs' CPU group and into a group
   * of its own, made now or found again (reattach). Returns that group, or
   * why it has none (it still runs, only its OOM kills cannot be told apart).
   */
  place(vmId: string, pid: number): QemuCgroup | string {
    if (!("dir" in this.perQemu)) {
      moveIntoCgroup(this.dir, pid);
      return this.perQemu.reason;
    }
    const dir = path.join(this.perQemu.dir, qemuCgroupName(vmId, pid));
    mkdirOnce(dir);
    // v1: the CPU group is in another hierarchy; v2: the own group is inside the CPU group.
    if (this.kind === "v1") moveIntoCgroup(this.dir, pid);
    moveIntoCgroup(dir, pid);
    return new QemuCgroup(this.kind, dir);
  }

  /** The own group of QEMU `pid` of VM `vmId` if it exists (the QEMU may be gone: its counters stay until the group is removed). */
  find(vmId: string, pid: number): QemuCgroup | undefined {
    if (!("dir" in this.perQemu)) return undefined;
    const dir = path.join(this.perQemu.dir, qemuCgroupName(vmId, pid));
    // Its counters count from the QEMU's start: the group is this pid's alone.
    return existsSync(dir) ? new QemuCgroup(this.kind, dir, 0) : undefined;
  }

  /** Removes the own groups of QEMUs that are gone (empty), except those named in `keep` (exits not recorded yet). */
  sweep(keep: ReadonlySet<string>): void {
    if (!("dir" in this.perQemu)) return;
    let names: string[];
    try {
      names = readdirSync(this.perQemu.dir, { withFileTypes: true }).filter((e) => e.isDirectory() && e.name.startsWith("vm-")).map((e) => e.name);
    } catch {
      return;
    }
    for (const n of names) if (!keep.has(n)) removeVmCgroupIfEmpty(path.join(this.perQemu.dir, n));
  }

  /** Removes the group (and QEMUs' own groups that are empty) if no process is left in it (VMs outlive hostd; a busy group stays). */
  removeIfEmpty(): boolean {
    this.sweep(new Set());
    const memory = "dir" in this.perQemu && this.perQemu.dir !== this.dir ? this.perQemu.dir : undefined;
    if (memory) removeVmCgroupIfEmpty(memory);
    return removeVmCgroupIfEmpty(this.dir);
  }
}

/**
 * Removes what a hostd left of its VM groups (the own groups of gone QEMUs,
 * the groups themselves) when nothing runs in them; true when none is left.
 */
export function removeVmCgroups(plan: VmCgroupPlan): boolean {
  if (plan.kind === "none") return true;
  const roots = plan.kind === "v2" ? [plan.dir] : "dir" in plan.memory ? [plan.memory.dir, plan.dir] : [plan.dir];
  for (const root of roots) {
    try {
      for (const e of readdirSync(root, { withFileTypes: true })) if (e.isDirectory() && e.name.startsWith("vm-")) removeVmCgroupIfEmpty(path.join(root, e.name));
    } catch {
      /* not there */
    }
    removeVmCgroupIfEmpty(root);
  }
  return roots.every((r) => !existsSync(r));
}

/** rmdir of an empty cgroup; false when it still holds processes or is gone. */
export function removeVmCgroupIfEmpty(dir: string): boolean {
  if (!existsSync(dir)) return false;
  try {
    rmdirSync(dir);
    return true;
  } catch {
    return false;
  }
}
