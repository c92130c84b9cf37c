/**
 * The devices the README offers besides virtio, against real hostd and real
 * QEMU (TCG here), seen from inside the guest:
 *
 *   - a scsi Disk (virtio-scsi) hot-plugs into a running VM and unplugs again, same QEMU;
 *   - a sata Disk (q35's AHCI) cannot: adding one restarts the VM, and the guest sees an ATA disk;
 *   - an e1000e NIC is driven by the guest's e1000e driver and carries traffic;
 *   - `bootOrder` picks the cdrom or the disk, under BIOS and UEFI, with unmodified
 *     GRUB rescue ISOs (scripts/build-boot-iso.sh) that say on the serial console
 *     which one booted.
 *
 * The first three share one tiny guest on Debian's generic kernel (the cloud
 * kernel has no AHCI or e1000e driver), read over its serial console.
 */
import * as net from "node:net";
import { announceAccelerator, bootIsos, tinyGuest, waitFor } from "./fixtures/env";
import { SerialConsole } from "./fixtures/console";
import { HostdFixture } from "./fixtures/hostd";
import type { HostClient } from "../sdk/client";
import type { VmInfo } from "../sdk/protocol";

jest.setTimeout(600_000);

const g = tinyGuest("generic");
const kernel = { path: g.kernel, initrd: g.initrd, cmdline: g.cmdline };
const GiB = 1024 ** 3;
let hd: HostdFixture;
let c: HostClient;

beforeAll(async () => {
  announceAccelerator();
  hd = await HostdFixture.start();
  c = hd.client();
});
afterAll(async () => {
  await hd?.cleanup();
});

/** What `vm.serialLog` holds (the whole log: these guests print little). */
async function serialText(name: string): Promise<string> {
  return (await c.vm.serialLog({ name, bytes: 1024 * 1024 })).text;
}

/** Waits until the VM's serial log, from offset `from` on, shows `marker`; returns that part of the log. */
async function awaitMarker(name: string, marker: string, from = 0, timeoutMs = 180_000): Promise<string> {
  return waitFor(`${marker} on the serial console of ${name}`, async () => {
    const t = (await serialText(name)).slice(from);
    return t.includes(marker) ? t : undefined;
  }, timeoutMs, 250);
}

/** The guest's SCSI-layer disks (sd*): name, size in bytes, vendor, and the sysfs path (which names the controller). */
async function guestDisks(con: SerialConsole): Promise<{ name: string; bytes: number; vendor: string; path: string }[]> {
  const out = await con.ok('for d in /sys/block/sd*; do [ -e "$d" ] && echo "${d##*/} $(cat $d/size) $(cat $d/device/vendor) $(readlink -f $d)"; done; true');
  return out.split("\n").filter(Boolean).map((l) => {
    const [name, sectors, vendor, p] = l.trim().split(/\s+/);
    return { name: name!, bytes: Number(sectors) * 512, vendor: vendor!, path: p! };
  });
}

/** A TCP port free on 127.0.0.1 right now. */
async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** Connects to 127.0.0.1:port and returns what the peer sent before it closed. */
function readFrom(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.createConnection(port, "127.0.0.1");
    let got = "";
    s.on("data", (d: Buffer) => (got += d.toString()));
    s.on("end", () => resolve(got));
    s.on("error", reject);
  });
}

describe("one running tiny guest: an e1000e NIC, a scsi Disk hot-plugged, a sata Disk by restart", () => {
  const name = "devices";
  let vm: VmInfo;
  let con: SerialConsole;
  let hostPort: number;

  beforeAll(async () => {
    hostPort = await freePort();
    await c.disk.create({ name: "scsi-data", sizeGiB: 1 });
    await c.disk.create({ name: "sata-data", sizeGiB: 2 });
    vm = await c.vm.create({
      name,
      memoryMiB: 256,
      kernel,
      networkInterfaces: [{ type: "user", model: "e1000e", portForwards: [{ hostPort, guestPort: 7000 }] }],
    });
    // QEMU's user network hands out 10.0.2.15 over DHCP: a lease means frames went both ways through the NIC.
    await waitFor("READY with a DHCP lease", () => /READY ip=10\.0\.2\.15 /.test(hd.serialLog(vm.id)), 180_000);
    con = await SerialConsole.open(hd.stateDir, vm.id);
  });
  afterAll(async () => {
    con?.close();
    await c.vm.delete({ name }).catch(() => undefined);
    for (const d of ["scsi-data", "sata-data"]) await c.disk.delete({ name: d }).catch(() => undefined);
  });

  test("the e1000e NIC is driven by the guest's e1000e driver and carries a TCP connection through a port forward", async () => {
    expect((await con.ok("basename $(readlink -f /sys/class/net/eth0/device/driver)")).trim()).toBe("e1000e");
    expect((await con.ok("cat /sys/class/net/eth0/address")).trim()).toBe(vm.nics[0]!.mac);
    // One connection: busybox nc answers it with a line and exits.
    await con.ok("nc -l -p 7000 -e /bin/echo hello-over-e1000e >/dev/null 2>&1 & echo listening");
    const got = await waitFor("the guest's answer through the forward", () => readFrom(hostPort).catch(() => undefined), 30_000, 250);
    expect(got.trim()).toBe("hello-over-e1000e");
  });

  test("a scsi Disk hot-plugs into the running VM (same QEMU, the guest sees a 1 GiB virtio-scsi disk) and unplugs again", async () => {
    expect(await guestDisks(con)).toEqual([]);
    const added = await c.vm.update({ name, disks: [{ disk: "scsi-data", bus: "scsi" }] });
    expect(added).toMatchObject({ restarted: false, hotplugged: ["+scsi-data"], vm: { pid: vm.pid, state: "running" } });
    const seen = await waitFor("the guest to find the SCSI disk", async () => (await guestDisks(con)).find((d) => d.bytes === GiB), 60_000, 250);
    // On the virtio-scsi controller, not AHCI: its sysfs path runs through a virtio device.
    expect(seen).toMatchObject({ vendor: "QEMU", path: expect.stringMatching(/\/virtio\d+\/host\d+\//) });

    const removed = await c.vm.update({ name, disks: [] });
    expect(removed).toMatchObject({ restarted: false, hotplugged: ["-scsi-data"], vm: { pid: vm.pid } });
    await waitFor("the guest to lose the SCSI disk", async () => (await guestDisks(con)).length === 0, 60_000, 250);
  });

  test("a sata Disk cannot be hot-plugged: adding one restarts the VM (new QEMU), and the guest sees a 2 GiB ATA disk on AHCI", async () => {
    const bootId = (await con.ok("cat /proc/sys/kernel/random/boot_id")).trim();
    const logged = hd.serialLog(vm.id).length;
    const added = await c.vm.update({ name, disks: [{ disk: "sata-data", bus: "sata" }], stopTimeoutSeconds: 0 });
    expect(added.restarted).toBe(true);
    expect(added.hotplugged).toEqual([]);
    expect(added.vm.pid).not.toBe(vm.pid);
    con.close();
    await waitFor("READY after the restart", () => /READY /.test(hd.serialLog(vm.id).slice(logged)), 180_000);
    con = await SerialConsole.open(hd.stateDir, vm.id);
    expect((await con.ok("cat /proc/sys/kernel/random/boot_id")).trim()).not.toBe(bootId);
    const disks = await waitFor("the guest to find the SATA disk", async () => {
      const d = await guestDisks(con);
      return d.length > 0 ? d : undefined;
    }, 60_000, 250);
    // Behind q35's AHCI controller at 00:1f.2 (hostd/drivers/qemu-argv.ts), which the ahci driver runs.
    expect(disks).toEqual([{ name: "sda", bytes: 2 * GiB, vendor: "ATA", path: expect.stringMatching(/\/0000:00:1f\.2\/ata\d+\//) }]);
    expect((await con.ok("basename $(readlink -f /sys/bus/pci/devices/0000:00:1f.2/driver)")).trim()).toBe("ahci");
  });
});

describe("bootOrder: unmodified GRUB rescue ISOs say on the serial console whether the cdrom or the disk booted", () => {
  const iso = bootIsos();
  /** A raw Disk holding the disk image (grub-mkrescue's output is a hybrid: a bootable disk too). */
  const bootDisk = (name: string) => c.disk.create({ name, format: "raw", source: { kind: "hostPath", path: iso.disk.file } });
  const cdrom = { path: iso.cdrom.file };

  afterAll(async () => {
    for (const name of ["bios-boot", "uefi-boot"]) await c.vm.delete({ name }).catch(() => undefined);
    for (const name of ["bios-disk", "uefi-disk"]) await c.disk.delete({ name }).catch(() => undefined);
  });

  test.each([
    { title: "BIOS: [cdrom, disk] boots the cdrom, and after an update to [disk, cdrom] (a restart) the disk", name: "bios", firmware: "bios" as const, memoryMiB: 128, first: "cdrom" as const },
    { title: "UEFI (OVMF): [disk, cdrom] boots the disk, and [cdrom, disk] the cdrom", name: "uefi", firmware: "uefi" as const, memoryMiB: 256, first: "disk" as const },
  ])("$title", async ({ name, firmware, memoryMiB, first }) => {
    const then = first === "cdrom" ? "disk" : "cdrom";
    await bootDisk(`${name}-disk`);
    const vm = await c.vm.create({ name: `${name}-boot`, memoryMiB, guestAgent: false, firmware, disks: [{ disk: `${name}-disk` }], cdrom, bootOrder: [first, then] });
    const booted = await awaitMarker(`${name}-boot`, iso[first].marker);
    expect(booted).not.toContain(iso[then].marker);

    const logged = (await serialText(`${name}-boot`)).length;
    const up = await c.vm.update({ name: `${name}-boot`, bootOrder: [then, first], stopTimeoutSeconds: 0 });
    expect(up.restarted).toBe(true);
    expect(up.vm.pid).not.toBe(vm.pid);
    const again = await awaitMarker(`${name}-boot`, iso[then].marker, logged);
    expect(again).not.toContain(iso[first].marker);
  });
});
