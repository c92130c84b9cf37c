import { UidClaim } from "../uid-claims";
import { derivedSlot, formatRange, slotRange } from "../uid-range";
import { Check, DoctorProbes, doctorExitCode, evaluate, GiB, nearestExisting, parseVersion, renderReport } from "./doctor";

const found = (output: string) => ({ found: true as const, output });
const missing = (cmd: string) => ({ found: false as const, error: `${cmd} --version failed: ENOENT (not installed?)` });

/** A healthy Intel KVM host. */
function healthy(): DoctorProbes {
  return {
    accel: { kvmDevice: true, cpuFlags: { vmx: true, svm: false }, modules: { kvm_intel: true, kvm_amd: false, kvm_pvm: false } },
    tools: {
      qemu: found("QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)"),
      qemuImg: found("qemu-img version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)"),
      dnsmasq: found("Dnsmasq version 2.90  Copyright (c) 2000-2024 Simon Kelley"),
      nft: found("nftables v1.0.6 (Lester Gooch #5)"),
      ip: found("ip utility, iproute2-6.1.0, libbpf 1.1.2"),
      setpriv: found("setpriv from util-linux 2.38.1"),
      iso: found("xorriso 1.5.4 : RockRidge filesystem manipulator"),
    },
    qemuBinary: "qemu-system-x86_64",
    guestCpu: { native: "host", features: 120, usableModels: 40 },
    files: { ovmfCode: true, tun: true, vhostNet: true },
    ovmfCodePath: "/usr/share/OVMF/OVMF_CODE_4M.fd",
    disk: { stateDir: "/var/lib/hostd", measuredOn: "/var/lib/hostd", freeBytes: 100 * GiB },
    ksmRun: "1\n",
    cpuCgroup: { v2: "/sys/fs/cgroup" },
    systemd: { running: true, version: 256 },
    identity: { hostId: HOST_ID, uidRange: { base: 1_900_065_536, count: 65_536 }, claims: [claim(HOST_ID, "/var/lib/hostd", 1_900_065_536, 4242)] },
  };
}

const HOST_ID = "3f2a9c1e-7b4d-4e2a-9c1e-7b4d4e2a9c1e";
const OTHER_ID = "0b1c2d3e-4f50-4617-8899-aabbccddeeff";

function claim(hostId: string, stateDir: string, base: number, pid: number): UidClaim {
  return { hostId, stateDir, socket: `${stateDir}/hostd.sock`, pid, range: { base, count: 65_536 }, startedAt: "2026-12-03T07:00:00.000Z" };
}

const byId = (checks: Check[], id: string) => {
  const c = checks.find((x) => x.id === id);
  if (!c) throw new Error(`no check ${id}`);
  return c;
};

test("a healthy KVM host: every check ok, exit 0", () => {
  const checks = evaluate(healthy());
  expect(checks.filter((c) => c.status !== "ok")).toEqual([]);
  expect(doctorExitCode(checks)).toBe(0);
  expect(byId(checks, "kvm").detail).toMatch(/KVM is usable \(vmx, kvm_intel\)/);
  expect(byId(checks, "qemu").detail).toBe("version 7.2.22");
  expect(renderReport(checks)).toMatch(/ready: all required checks passed \(exit 0\)/);
});

test("our CI machines: /dev/kvm from kvm_pvm, no vmx/svm → KVM not usable is a warning with the reason, exit 0", () => {
  const p = healthy();
  p.accel = { kvmDevice: true, cpuFlags: { vmx: false, svm: false }, modules: { kvm_intel: false, kvm_amd: false, kvm_pvm: true } };
  const checks = evaluate(p);
  const kvm = byId(checks, "kvm");
  expect(kvm.status).toBe("warn");
  expect(kvm.required).toBe(false);
  expect(kvm.detail).toMatch(/kvm_pvm/);
  expect(kvm.detail).toMatch(/vmx\/svm/);
  expect(kvm.detail).toMatch(/TCG/);
  expect(kvm.fix).toMatch(/kvm_pvm cannot run ordinary guests/);
  expect(byId(checks, "cpu-virt")).toMatchObject({ status: "warn" });
  expect(doctorExitCode(checks)).toBe(0);
  expect(renderReport(checks)).toMatch(/ready: all required checks passed, 2 warning\(s\) \(exit 0\)/);
});

test("KVM: no /dev/kvm, or flags without a hardware module, are warnings with their own fix", () => {
  const p = healthy();
  p.accel.kvmDevice = false;
  expect(byId(evaluate(p), "kvm")).toMatchObject({ status: "warn", detail: expect.stringMatching(/\/dev\/kvm is missing/), fix: expect.stringMatching(/modprobe/) });
  const q = healthy();
  q.accel.modules.kvm_intel = false;
  expect(byId(evaluate(q), "kvm")).toMatchObject({ status: "warn", detail: expect.stringMatching(/neither kvm_intel nor kvm_amd/) });
});

test.each([
  ["qemu", "QEMU", /qemu-system-x86/],
  ["qemuImg", "qemu-img", /qemu-utils/],
  ["dnsmasq", "dnsmasq", /dnsmasq-base/],
  ["nft", "nft", /nftables/],
  ["ip", "ip", /iproute2/],
  ["setpriv", "setpriv", /util-linux/],
] as const)("a missing required tool (%s) fails with its package named, exit 1", (tool, name, pkg) => {
  const p = healthy();
  p.tools[tool] = missing(name);
  const checks = evaluate(p);
  const failed = checks.filter((c) => c.status === "fail");
  expect(failed).toHaveLength(1);
  expect(failed[0]!.required).toBe(true);
  expect(failed[0]!.detail).toMatch(/not usable: .*ENOENT/);
  expect(failed[0]!.fix).toMatch(pkg);
  expect(doctorExitCode(checks)).toBe(1);
  expect(renderReport(checks)).toMatch(/NOT READY: required check\(s\) failed: .* \(exit 1\)/);
});

test("a QEMU that cannot be asked for its CPU models warns (named cpuModels are refused), exit 0", () => {
  const p = healthy();
  p.guestCpu = { error: "QEMU exited before its QMP socket opened" };
  const c = evaluate(p).find((x) => x.id === "guest-cpu")!;
  expect(c).toMatchObject({ status: "warn", required: false });
  expect(c.detail).toContain("under kvm: QEMU exited before its QMP socket opened");
  expect(doctorExitCode(evaluate(p))).toBe(0);
  expect(evaluate(healthy()).find((x) => x.id === "guest-cpu")).toMatchObject({ status: "ok", detail: expect.stringContaining(`cpuModel "host" is QEMU's host here (120 features); 40 named models`) });
});

test("/dev/net/tun missing is required (exit 1); /dev/vhost-net, OVMF and the ISO tool only warn", () => {
  const p = healthy();
  p.files.tun = false;
  expect(byId(evaluate(p), "tun")).toMatchObject({ status: "fail", required: true, fix: expect.stringMatching(/modprobe tun/) });
  // Present but 0600 (some containers): unprivileged QEMU cannot open its tap.
  p.files.tun = true;
  p.files.tunMode = 0o20600;
  expect(byId(evaluate(p), "tun")).toMatchObject({ status: "fail", required: true, detail: expect.stringContaining("mode 600"), fix: expect.stringContaining("chmod 0666") });
  p.files.tun = false;
  expect(doctorExitCode(evaluate(p))).toBe(1);

  const q = healthy();
  q.files.vhostNet = false;
  q.files.ovmfCode = false;
  q.tools.iso = { found: false, error: "neither xorriso nor genisoimage is installed" };
  const checks = evaluate(q);
  expect(byId(checks, "vhost-net")).toMatchObject({ status: "warn", fix: expect.stringMatching(/vhost_net/) });
  expect(byId(checks, "ovmf")).toMatchObject({ status: "warn", fix: expect.stringMatching(/apt-get install ovmf/) });
  expect(byId(checks, "iso")).toMatchObject({ status: "warn", required: false, fix: expect.stringMatching(/xorriso/) });
  expect(doctorExitCode(checks)).toBe(0);
});

test("free space: under 10 GiB warns, unmeasurable warns, a state dir not made yet is measured on its parent", () => {
  const p = healthy();
  p.disk = { stateDir: "/var/lib/hostd", measuredOn: "/var/lib", freeBytes: 3 * GiB };
  const c = byId(evaluate(p), "disk-space");
  expect(c).toMatchObject({ status: "warn", required: false });
  expect(c.detail).toMatch(/3\.0 GiB free on \/var\/lib\/hostd \(not created yet; measured on \/var\/lib\), less than 10\.0 GiB/);
  p.disk = { stateDir: "/x", measuredOn: "/x", error: "EACCES" };
  expect(byId(evaluate(p), "disk-space")).toMatchObject({ status: "warn", detail: expect.stringMatching(/EACCES/) });
  p.disk = { stateDir: "/x", measuredOn: "/x", freeBytes: 10 * GiB };
  expect(byId(evaluate(p), "disk-space").status).toBe("ok");
});

test("KSM: on is ok, off is ok with advice, no KSM in the kernel warns", () => {
  const p = healthy();
  expect(byId(evaluate(p), "ksm")).toMatchObject({ status: "ok", detail: expect.stringMatching(/running/) });
  p.ksmRun = "0\n";
  expect(byId(evaluate(p), "ksm")).toMatchObject({ status: "ok", fix: expect.stringMatching(/ksm\/run/) });
  delete p.ksmRun;
  expect(byId(evaluate(p), "ksm")).toMatchObject({ status: "warn" });
});

test("every warn and fail has a fix sentence; the report prints it", () => {
  const p = healthy();
  p.accel = { kvmDevice: false, cpuFlags: { vmx: false, svm: false }, modules: { kvm_intel: false, kvm_amd: false, kvm_pvm: false } };
  p.tools = { qemu: missing("q"), qemuImg: missing("qi"), dnsmasq: missing("d"), nft: missing("n"), ip: missing("i"), setpriv: missing("s"), iso: missing("x") };
  p.files = { ovmfCode: false, tun: false, vhostNet: false };
  p.disk.freeBytes = 1;
  delete p.ksmRun;
  const checks = evaluate(p);
  for (const c of checks) if (c.status !== "ok") expect(c.fix).toMatch(/\.$/);
  const report = renderReport(checks);
  expect(report.match(/fix: /g)).toHaveLength(checks.filter((c) => c.fix).length);
  expect(report).toMatch(/^FAIL \* /m);
});

test("parseVersion reads the real outputs", () => {
  expect(parseVersion("QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\nCopyright")).toBe("7.2.22");
  expect(parseVersion("nftables v1.0.6 (Lester Gooch #5)")).toBe("1.0.6");
  expect(parseVersion("ip utility, iproute2-6.1.0, libbpf 1.1.2")).toBe("6.1.0");
  expect(parseVersion("Dnsmasq version 2.90  Copyright (c) 2000-2024 Simon Kelley")).toBe("2.90");
  expect(parseVersion("no digits")).toBeUndefined();
});

test("nearestExisting climbs to a directory that exists", () => {
  expect(nearestExisting("/definitely/not/here/state")).toBe("/");
  expect(nearestExisting(__dirname)).toBe(__dirname);
});

test("CPU group for VMs: ok on v2 with systemd 254+, or v1; a warning (never a failure) on older systemd or with no cpu controller", () => {
  expect(byId(evaluate(healthy()), "cpu-group")).toMatchObject({ status: "ok", detail: expect.stringMatching(/cgroup v2 .*cgroup of their own/) });
  const p = healthy();
  p.systemd = { running: true, version: 252 };
  const old = byId(evaluate(p), "cpu-group");
  expect(old).toMatchObject({ status: "warn", required: false });
  expect(old.detail).toMatch(/systemd 252 has no DelegateSubgroup= \(254\+\).*busy guests can slow hostd/);
  expect(doctorExitCode(evaluate(p))).toBe(0);
  // Without systemd (a container, hostd started by hand) the root cgroup is hostd's to arrange.
  p.systemd = { running: false };
  expect(byId(evaluate(p), "cpu-group").status).toBe("ok");
  p.cpuCgroup = { v1: "/sys/fs/cgroup/cpu" };
  expect(byId(evaluate(p), "cpu-group").detail).toMatch(/cgroup v1 cpu hierarchy \(\/sys\/fs\/cgroup\/cpu\)/);
  p.cpuCgroup = {};
  expect(byId(evaluate(p), "cpu-group")).toMatchObject({ status: "warn", fix: expect.stringMatching(/Optional/) });
});

test("host id and VM uid range: shown with the hostd that holds the range and how many others run", () => {
  const checks = evaluate(healthy());
  expect(byId(checks, "host-id")).toMatchObject({ status: "ok", detail: `${HOST_ID} (/var/lib/hostd/host-id)` });
  expect(byId(checks, "vm-uids")).toMatchObject({
    status: "ok",
    detail: "1900065536-1900131071, held by hostd pid 4242 (socket /var/lib/hostd/hostd.sock); 0 other running hostd(s) hold ranges on this machine",
  });
  const p = healthy();
  p.identity.claims = [claim(OTHER_ID, "/srv/other", 1_900_131_072, 7)];
  expect(byId(evaluate(p), "vm-uids").detail).toMatch(/^1900065536-1900131071, not held now \(no hostd serves this state directory\); 1 other running hostd\(s\)/);
});

test("a state directory without identity yet: the range its first start will try, derived from the host id", () => {
  const p = healthy();
  p.identity = { hostId: HOST_ID, claims: [] };
  expect(byId(evaluate(p), "vm-uids")).toMatchObject({ status: "ok", detail: expect.stringContaining(`takes ${formatRange(slotRange(derivedSlot(HOST_ID)))} (from the host id)`) });
  p.identity = { claims: [] };
  const checks = evaluate(p);
  expect(byId(checks, "host-id").detail).toMatch(/none yet in \/var\/lib\/hostd: hostd makes one at its first start/);
  expect(byId(checks, "vm-uids").status).toBe("ok");
});

test("another running hostd's range overlapping the recorded one warns, naming that hostd; unreadable files warn with a fix", () => {
  const p = healthy();
  p.identity.claims = [claim(OTHER_ID, "/srv/other", 1_900_100_000, 77)];
  const c = byId(evaluate(p), "vm-uids");
  expect(c).toMatchObject({ status: "warn", required: false, fix: expect.stringMatching(/--vm-uid-base/) });
  expect(c.detail).toMatch(new RegExp(`overlaps 1900100000-1900165535 of another running hostd \\(host id ${OTHER_ID}, pid 77, state directory /srv/other\\)`));
  expect(doctorExitCode(evaluate(p))).toBe(0);

  const q = healthy();
  q.identity = { hostIdError: "/var/lib/hostd/host-id does not hold a host id (a UUID)", uidRangeError: "bad range file", claimsError: "EACCES: permission denied" };
  const checks = evaluate(q);
  expect(byId(checks, "host-id")).toMatchObject({ status: "warn", fix: expect.stringMatching(/backup/) });
  expect(byId(checks, "vm-uids")).toMatchObject({ status: "warn", detail: "bad range file" });
  q.identity = { hostId: HOST_ID, uidRange: { base: 1_900_065_536, count: 65_536 }, claimsError: "EACCES: permission denied" };
  expect(byId(evaluate(q), "vm-uids").detail).toMatch(/other hostds' ranges not readable: EACCES/);
});
