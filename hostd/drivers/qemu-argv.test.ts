import { buildQemuArgv, netdevQmpOf, optValue, QemuVmConfig } from "./qemu-argv";
import { VM_LIMITS } from "../../sdk/protocol/vm";

const base: QemuVmConfig = {
  uuid: "11111111-2222-3333-4444-555555555555",
  name: "web",
  vcpus: 2,
  memoryMiB: 256,
  accel: "tcg",
  machine: "pc-q35-7.2",
  kernel: { path: "/k/vmlinuz", initrd: "/k/initrd.img", cmdline: "console=ttyS0 quiet" },
  firmware: { type: "bios" },
  disks: [],
  nics: [],
  guestAgent: false,
  paths: {
    qmp: "/s/qmp.sock",
    opsQmp: "/s/qmp-ops.sock",
    pidfile: "/s/qemu.pid",
    log: "/s/qemu.log",
    serialSocket: "/s/serial.sock",
    serialLog: "/s/serial.log",
    guestAgent: "/s/qga.sock",
  },
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

test("a named CPU model is enforced on either accelerator: QEMU refuses to start rather than give the guest less", () => {
  expect(after(buildQemuArgv({ ...base, accel: "kvm", cpuModel: "EPYC-v4" }), "-cpu")).toEqual(["EPYC-v4,enforce"]);
  expect(after(buildQemuArgv({ ...base, cpuModel: "qemu64" }), "-cpu")).toEqual(["qemu64,enforce"]);
  expect(after(buildQemuArgv({ ...base, accel: "kvm", cpuModel: "host" }), "-cpu")).toEqual(["host"]);
});

test("room to grow: maxcpus, and DIMM slots up to maxmem; none without it", () => {
  const argv = buildQemuArgv({ ...base, maxVcpus: 4, maxMemoryMiB: 1024 });
  expect(after(argv, "-smp")).toEqual(["2,maxcpus=4"]);
  expect(after(argv, "-m")).toEqual([`256M,slots=${VM_LIMITS.memorySlots},maxmem=1024M`]);
  // A max equal to the size is no room: the plain form.
  const same = buildQemuArgv({ ...base, maxVcpus: 2, maxMemoryMiB: 256 });
  expect(after(same, "-smp")).toEqual(["2"]);
  expect(after(same, "-m")).toEqual(["256M"]);
});

test("sizes, identity, detachment and monitors", () => {
  const argv = buildQemuArgv(base);
  expect(after(argv, "-smp")).toEqual(["2"]);
  expect(after(argv, "-m")).toEqual(["256M"]);
  expect(after(argv, "-uuid")).toEqual([base.uuid]);
  // The VM's versioned machine type, never the q35 alias: a move to a newer QEMU must get the same machine.
  expect(after(argv, "-machine")).toEqual(["pc-q35-7.2"]);
  // hostd detaches QEMU itself; -daemonize would fork, which the sandbox forbids.
  expect(argv).not.toContain("-daemonize");
  expect(after(argv, "-sandbox")).toEqual(["on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"]);
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

function devices(argv: string[]): Record<string, unknown>[] {
  return after(argv, "-device").map((d) => JSON.parse(d) as Record<string, unknown>);
}

test("sixteen hot-plug root ports at fixed addresses, without I/O reservations", () => {
  const ports = devices(buildQemuArgv(base)).filter((d) => d.driver === "pcie-root-port");
  expect(ports).toHaveLength(16);
  expect(ports[0]).toMatchObject({ id: "rp0", addr: "0x2.0", multifunction: true, "io-reserve": 0 });
  expect(ports[9]).toMatchObject({ id: "rp9", addr: "0x3.1" });
});

test("disks on their buses with boot order; seed, agent and NICs at fixed places", () => {
  const argv = buildQemuArgv({
    ...base,
    kernel: undefined,
    disks: [
      { id: "disk-a", node: "da", file: "/d/a.qcow2", format: "qcow2", readOnly: false, bus: "virtio", slot: 3, serial: "root", bootIndex: 1 },
      { id: "disk-b", node: "db", file: "/d/b.raw", format: "raw", readOnly: false, bus: "scsi", slot: 0, serial: "data" },
      { id: "disk-c", node: "dc", file: "/d/c.qcow2", format: "qcow2", readOnly: false, bus: "sata", slot: 1, serial: "old" },
    ],
    cdrom: { file: "/iso/install.iso", bootIndex: 2 },
    seed: "/s/seed.iso",
    nics: [{ id: "nic0", mac: "52:54:00:aa:bb:cc", slot: 10, model: "virtio", netdev: { type: "user", hostForwards: [{ protocol: "tcp", hostAddress: "127.0.0.1", hostPort: 2222, guestPort: 22 }] } }],
    guestAgent: true,
    firmware: { type: "uefi", code: "/fw/CODE.fd", vars: "/s/VARS.fd" },
  });
  const dev = devices(argv);
  expect(dev).toContainEqual({ driver: "virtio-blk-pci", bus: "rp3", serial: "root", id: "disk-a", drive: "da", bootindex: 1 });
  expect(dev).toContainEqual(expect.objectContaining({ driver: "scsi-hd", bus: "scsi0.0", "scsi-id": 0, drive: "db" }));
  expect(dev).toContainEqual(expect.objectContaining({ driver: "virtio-scsi-pci", addr: "0x6" }));
  expect(dev).toContainEqual(expect.objectContaining({ driver: "ide-hd", bus: "ide.1", drive: "dc" }));
  expect(dev).toContainEqual(expect.objectContaining({ driver: "ide-cd", bus: "ide.5", bootindex: 2 }));
  expect(dev).toContainEqual(expect.objectContaining({ driver: "virtio-blk-pci", id: "seed", bus: "rp15" }));
  expect(dev).toContainEqual(expect.objectContaining({ driver: "virtio-serial-pci", addr: "0x5" }));
  expect(dev).toContainEqual({ driver: "virtserialport", chardev: "qga0", name: "org.qemu.guest_agent.0" });
  expect(dev).toContainEqual({ driver: "virtio-net-pci", id: "nic0", netdev: "nic0-net", mac: "52:54:00:aa:bb:cc", bus: "rp10" });
  expect(after(argv, "-netdev")).toEqual(["user,id=nic0-net,restrict=on,hostfwd=tcp:127.0.0.1:2222-:22"]);
  const blockdevs = after(argv, "-blockdev").map((b) => JSON.parse(b) as { "node-name": string; "read-only": boolean });
  expect(blockdevs.find((b) => b["node-name"] === "seed")?.["read-only"]).toBe(true);
  expect(blockdevs.find((b) => b["node-name"] === "cdrom0")?.["read-only"]).toBe(true);
  expect(after(argv, "-drive")).toEqual(["if=pflash,format=raw,unit=0,readonly=on,file=/fw/CODE.fd", "if=pflash,format=raw,unit=1,file=/s/VARS.fd"]);
  expect(argv).not.toContain("-kernel");
});

test("the virtio-scsi controller is there without scsi disks: the first one hot-plugs onto it", () => {
  expect(devices(buildQemuArgv(base))).toContainEqual({ driver: "virtio-scsi-pci", id: "scsi0", bus: "pcie.0", addr: "0x6" });
});

test("adding a seed or a disk does not move the NIC (stable guest device names)", () => {
  const nic = { id: "nic0", mac: "52:54:00:aa:bb:cc", slot: 10, model: "virtio" as const, netdev: { type: "user" as const, hostForwards: [] } };
  const a = devices(buildQemuArgv({ ...base, nics: [nic] })).find((d) => d.driver === "virtio-net-pci");
  const b = devices(
    buildQemuArgv({
      ...base,
      nics: [nic],
      seed: "/s/seed.iso",
      disks: [{ id: "disk-x", node: "dx", file: "/x", format: "raw", readOnly: false, bus: "virtio", slot: 0, serial: "x" }],
    }),
  ).find((d) => d.driver === "virtio-net-pci");
  expect(b).toEqual(a);
});

test("a network NIC opens hostd's tap (no scripts), with vhost only when asked, and e1000e when chosen", () => {
  const nic = { id: "nic1", mac: "52:54:00:00:00:01", slot: 11, model: "e1000e" as const, netdev: { type: "tap" as const, ifname: "kvt-0123456789", vhost: false, network: "lab" } };
  const argv = buildQemuArgv({ ...base, nics: [nic] });
  expect(after(argv, "-netdev")).toEqual(["tap,id=nic1-net,ifname=kvt-0123456789,script=no,downscript=no"]);
  expect(devices(argv)).toContainEqual({ driver: "e1000e", id: "nic1", netdev: "nic1-net", mac: "52:54:00:00:00:01", bus: "rp11" });
  const vhost = buildQemuArgv({ ...base, nics: [{ ...nic, model: "virtio", netdev: { ...nic.netdev, vhost: true } }] });
  expect(after(vhost, "-netdev")[0]).toMatch(/,vhost=on$/);
  expect(netdevQmpOf(nic)).toEqual({ type: "tap", id: "nic1-net", ifname: "kvt-0123456789", script: "no", downscript: "no" });
});
