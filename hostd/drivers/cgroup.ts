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
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
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
  | { kind: "v1"; dir: string }
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

/** Pure: which cgroup hierarchies offer the cpu controller (a v2 one, a v1 one), with their mount points. */
export function cpuHierarchies(f: Pick<CgroupFacts, "mountinfo" | "controllers">): { v2?: string; v1?: string } {
  const all = mounts(f.mountinfo);
  const v2 = all.find((m) => m.fstype === "cgroup2" && f.controllers(m.point).includes("cpu"));
  const v1 = all.find((m) => m.fstype === "cgroup" && m.superOptions.includes("cpu"));
  return { v2: v2?.point, v1: v1?.point };
}

/**
 * Pure: a process's cgroup path in one hierarchy, from the text of
 * /proc/<pid>/cgroup: the v2 line ("0::/path"), or the v1 line whose
 * controllers include cpu ("3:cpu,cpuacct:/path").
 */
export function cgroupPathIn(procCgroup: string, hierarchy: "v1" | "v2"): string | undefined {
  for (const line of procCgroup.split("\n")) {
    const [id, controllers = "", ...rest] = line.split(":");
    if (rest.length === 0) continue;
    if (hierarchy === "v2" ? id === "0" && controllers === "" : controllers.split(",").includes("cpu")) return rest.join(":");
  }
  return undefined;
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
    // Beside hostd's own leaf when systemd delegated one, as on v2.
    const parent = path.posix.basename(ownPath) === "hostd" ? path.posix.dirname(ownPath) : ownPath;
    return { kind: "v1", dir: path.join(v1, parent, name) };
  }
  return { kind: "none", reason: "no cgroup hierarchy with the cpu controller is mounted" };
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

/** The VM group once made: QEMUs are moved into it as they start (and on reattach). */
export class VmCgroup {
  private constructor(readonly kind: "v1" | "v2", readonly dir: string) {}

  /**
   * Makes the group as planned. Throws (with the file it could not write) if
   * the host refuses; the caller then runs without one.
   */
  static create(plan: Exclude<VmCgroupPlan, { kind: "none" }>): VmCgroup {
    // Children of a v2 cgroup get a controller only once it is enabled for them.
    if (plan.kind === "v2") writeFileSync(path.join(plan.parent, "cgroup.subtree_control"), plan.controllers.map((c) => `+${c}`).join(" "));
    mkdirOnce(plan.dir);
    return new VmCgroup(plan.kind, plan.dir);
  }

  /** Puts a QEMU (all its threads) into the group. */
  add(pid: number): void {
    moveIntoCgroup(this.dir, pid);
  }

  /** Removes the group if no process is left in it (VMs outlive hostd; a busy group stays). */
  removeIfEmpty(): boolean {
    return removeVmCgroupIfEmpty(this.dir);
  }
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
