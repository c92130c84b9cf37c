import { CgroupFacts, cgroupPathIn, parseOomKills, planVmCgroup, qemuCgroupName, vmCgroupName } from "./cgroup";

const NAME = "pulumi-kvm-0123abcd";

/** A unified (v2-only) host, as on Debian 12 or any systemd distribution since 2021. */
const V2_MOUNT = "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot";
/** This machine's layout: v1 controllers, an empty v2 hierarchy beside them. */
const HYBRID = [
  "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755",
  "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu",
  "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory",
  "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw",
].join("\n");

function facts(mountinfo: string, selfCgroup: string, controllers: Record<string, string[]>): CgroupFacts {
  return { mountinfo, selfCgroup, controllers: (dir) => controllers[dir] ?? [] };
}

test("v2, hostd in the root cgroup (a container): the group goes at the top, cpu and memory enabled there", () => {
  const plan = planVmCgroup(NAME, facts(V2_MOUNT, "0::/\n", { "/sys/fs/cgroup": ["cpuset", "cpu", "io", "memory", "pids"] }));
  expect(plan).toEqual({ kind: "v2", parent: "/sys/fs/cgroup", dir: `/sys/fs/cgroup/${NAME}`, controllers: ["cpu", "memory"] });
});

test("v2 under systemd with DelegateSubgroup=hostd: the group is a sibling of hostd's leaf in the unit's cgroup", () => {
  const unit = "/sys/fs/cgroup/system.slice/pulumi-kvm-hostd.service";
  const plan = planVmCgroup(
    NAME,
    facts(V2_MOUNT, "0::/system.slice/pulumi-kvm-hostd.service/hostd\n", { "/sys/fs/cgroup": ["cpu", "memory"], [unit]: ["cpu", "memory", "pids"] }),
  );
  expect(plan).toEqual({ kind: "v2", parent: unit, dir: `${unit}/${NAME}`, controllers: ["cpu", "memory"] });
});

test("v2 in a cgroup not delegated to hostd (older systemd, a login session): no group, and hostd never moves itself", () => {
  const plan = planVmCgroup(NAME, facts(V2_MOUNT, "0::/user.slice/user-0.slice/session-3.scope\n", { "/sys/fs/cgroup": ["cpu", "memory"] }));
  expect(plan.kind).toBe("none");
  expect(plan.kind === "none" && plan.reason).toMatch(/session-3\.scope.*not delegated.*hostd install/);
});

test("v2 where the unit's cgroup is not offered cpu: no group, with the cgroup named", () => {
  const plan = planVmCgroup(NAME, facts(V2_MOUNT, "0::/system.slice/x.service/hostd\n", { "/sys/fs/cgroup": ["cpu"], "/sys/fs/cgroup/system.slice/x.service": ["pids"] }));
  expect(plan).toEqual({ kind: "none", reason: "the cgroup /sys/fs/cgroup/system.slice/x.service is not offered the cpu controller" });
});

test("hybrid (this machine): the v1 cpu hierarchy for the CPU group, each QEMU's own group in the separate v1 memory hierarchy", () => {
  const self = "9:name=systemd:/\n4:memory:/process_api/de6d\n1:cpu:/\n0::/\n";
  expect(planVmCgroup(NAME, facts(HYBRID, self, { "/sys/fs/cgroup/unified": [] }))).toEqual({
    kind: "v1",
    dir: `/sys/fs/cgroup/cpu/${NAME}`,
    // Inside hostd's own memory cgroup, which is not its cpu cgroup.
    memory: { dir: `/sys/fs/cgroup/memory/process_api/de6d/${NAME}` },
  });
});

test("v1 with cpu,cpuacct co-mounted and hostd in a delegated subgroup: beside it; no memory hierarchy, so no group per QEMU, and why", () => {
  const mi = "25 20 0:22 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct";
  const self = "3:cpu,cpuacct:/system.slice/h.service/hostd\n1:name=systemd:/system.slice/h.service/hostd\n";
  expect(planVmCgroup(NAME, facts(mi, self, {}))).toEqual({
    kind: "v1",
    dir: `/sys/fs/cgroup/cpu,cpuacct/system.slice/h.service/${NAME}`,
    memory: { reason: "no cgroup v1 memory hierarchy is mounted" },
  });
});

test("v1 memory mounted beside cpu under systemd: the memory group sits beside hostd's delegated leaf too", () => {
  const mi = ["25 20 0:22 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu", "26 20 0:23 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory"].join("\n");
  const self = "5:memory:/system.slice/h.service/hostd\n3:cpu:/system.slice/h.service/hostd\n";
  expect(planVmCgroup(NAME, facts(mi, self, {}))).toMatchObject({ memory: { dir: `/sys/fs/cgroup/memory/system.slice/h.service/${NAME}` } });
});

test("the OOM killer's count from memory.events (v2) and memory.oom_control (v1); QEMU groups are named by VM and pid", () => {
  expect(parseOomKills("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\noom_group_kill 0\n")).toBe(1);
  expect(parseOomKills("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")).toBe(2);
  // oom_kill_disable is not the counter.
  expect(parseOomKills("oom_kill_disable 0\nunder_oom 0\n")).toBeUndefined();
  expect(qemuCgroupName("0b5e0000-0000-4000-8000-000000000001", 4242)).toBe("vm-0b5e0000-0000-4000-8000-000000000001-4242");
});

test("no cpu controller anywhere: no group, and why", () => {
  expect(planVmCgroup(NAME, facts("22 1 0:20 / /proc rw - proc proc rw", "0::/\n", {}))).toEqual({ kind: "none", reason: "no cgroup hierarchy with the cpu controller is mounted" });
});

test("the name depends on the state directory only, so two hostds never share a group", () => {
  expect(vmCgroupName("/var/lib/pulumi-kvm")).toMatch(/^pulumi-kvm-[0-9a-f]{8}$/);
  expect(vmCgroupName("/var/lib/pulumi-kvm")).toBe(vmCgroupName("/var/lib/pulumi-kvm/"));
  expect(vmCgroupName("/tmp/a")).not.toBe(vmCgroupName("/tmp/b"));
});

test("a process's path per hierarchy, from /proc/<pid>/cgroup", () => {
  const hybrid = "9:name=systemd:/\n3:cpu,cpuacct:/a/b\n4:memory:/m\n0::/u\n";
  expect(cgroupPathIn(hybrid, "v1")).toBe("/a/b");
  expect(cgroupPathIn(hybrid, "v2")).toBe("/u");
  expect(cgroupPathIn("0::/system.slice/x.service/hostd\n", "v1")).toBeUndefined();
  expect(cgroupPathIn(hybrid, "v1", "memory")).toBe("/m");
  // A colon inside the path stays part of it.
  expect(cgroupPathIn("0::/odd:name\n", "v2")).toBe("/odd:name");
});
