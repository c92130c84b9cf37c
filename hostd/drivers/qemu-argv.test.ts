import { buildQemuArgv, optValue, QemuVmConfig } from "./qemu-argv";

const base: QemuVmConfig = {
  uuid: "11111111-2222-3333-4444-555555555555",
  name: "web",
  vcpus: 2,
  memoryMiB: 256,
  accel: "tcg",
  kernel: { path: "/k/vmlinuz", initrd: "/k/initrd.img", cmdline: "console=ttyS0 quiet" },
  paths: { qmp: "/s/qmp.sock", opsQmp: "/s/qmp-ops.sock", pidfile: "/s/qemu.pid", serialSocket: "/s/serial.sock", serialLog: "/s/serial.log" },
};

function after(argv: string[], flag: string): string[] {
  return argv.flatMap((a, i) => (a === flag ? [argv[i + 1]!] : []));
}

test("KVM hosts get -accel kvm and -cpu host", () => {
  const argv = buildQemuArgv({ ...base, accel: "kvm" });
  expect(after(argv, "-accel")).toEqual(["kvm"]);
  expect(after(argv, "-cpu")).toEqual(["host"]);
});

test("TCG hosts get -accel tcg and a software CPU model", () => {
  const argv = buildQemuArgv(base);
  expect(after(argv, "-accel")).toEqual(["tcg"]);
  expect(after(argv, "-cpu")).toEqual(["max"]);
});

test("sizes, identity, detachment and monitors", () => {
  const argv = buildQemuArgv(base);
  expect(after(argv, "-smp")).toEqual(["2"]);
  expect(after(argv, "-m")).toEqual(["256M"]);
  expect(after(argv, "-uuid")).toEqual([base.uuid]);
  expect(after(argv, "-machine")).toEqual(["q35"]);
  expect(argv).toContain("-daemonize");
  expect(argv).toContain("-nodefaults");
  expect(after(argv, "-pidfile")).toEqual(["/s/qemu.pid"]);
  expect(after(argv, "-mon")).toEqual(["chardev=qmp,mode=control", "chardev=qmp-ops,mode=control"]);
  expect(after(argv, "-chardev")[0]).toBe("socket,id=serial0,path=/s/serial.sock,server=on,wait=off,logfile=/s/serial.log,logappend=on");
});

test("direct kernel boot passes the cmdline as one argument", () => {
  const argv = buildQemuArgv(base);
  expect(after(argv, "-kernel")).toEqual(["/k/vmlinuz"]);
  expect(after(argv, "-initrd")).toEqual(["/k/initrd.img"]);
  expect(after(argv, "-append")).toEqual(["console=ttyS0 quiet"]);
  const noInitrd = buildQemuArgv({ ...base, kernel: { path: "/k/vmlinuz" } });
  expect(noInitrd).not.toContain("-initrd");
  expect(noInitrd).not.toContain("-append");
});

test("commas in option values are escaped as QEMU expects", () => {
  expect(optValue("/a,b/c")).toBe("/a,,b/c");
  const argv = buildQemuArgv({ ...base, paths: { ...base.paths, qmp: "/x,y/qmp.sock" } });
  expect(argv).toContain("socket,id=qmp,path=/x,,y/qmp.sock,server=on,wait=off");
});
