/**
 * Real guest operating systems: a Debian 12 cloud image (built from Debian
 * packages by scripts/build-debian-image.sh), served over HTTP on loopback,
 * downloaded and verified by hostd, booted under QEMU with cloud-init and the
 * guest agent, driven by the real Pulumi CLI running examples/debian-vm.
 * Guests are reached only through port forwards on 127.0.0.1.
 *
 * Debian boots take about a minute each under TCG, so the steps share VMs
 * and run in order.
 */
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { randomBytes } from "node:crypto";
import { KvmError } from "../sdk/errors";
import { announceAccelerator, HOSTD_CLI, NODE, REPO, waitFor } from "./fixtures/env";
import { debianImage, FileServer, sshGuest } from "./fixtures/guest";
import { HostdFixture } from "./fixtures/hostd";
import { PulumiProject } from "./fixtures/pulumi";
import { freePort } from "./fixtures/sshd";

jest.setTimeout(1_200_000);

const img = debianImage();
let hd: HostdFixture;
let files: FileServer;
let work: string;
let key: string;
let p: PulumiProject;
let sshPort: number;
const token = randomBytes(8).toString("hex");

const PROGRAM = readFileSync(path.join(REPO, "examples", "debian-vm", "index.ts"), "utf8");

beforeAll(async () => {
  announceAccelerator();
  hd = await HostdFixture.start();
  files = await FileServer.start({ "/debian12.qcow2": img.file });
  work = mkdtempSync("/tmp/pkvm-guest-");
  // Traversable, like a directory of installer ISOs: QEMU reads the ISO as the VM's own unprivileged user.
  chmodSync(work, 0o711);
  key = path.join(work, "id_ed25519");
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]);
  sshPort = await freePort();
  p = await PulumiProject.create(PROGRAM, {
    "kvm:transport": "local",
    "kvm:socketPath": hd.socketPath,
    imageUrl: files.url("/debian12.qcow2"),
    imageSha256: img.sha256,
    publicKey: readFileSync(key + ".pub", "utf8").trim(),
    sshPort: String(sshPort),
  });
});

afterAll(async () => {
  await p?.cleanup();
  await files?.stop();
  await hd?.cleanup();
  rmSync(work, { recursive: true, force: true });
});

async function ssh(cmd: string): Promise<string> {
  const r = await sshGuest(sshPort, key, cmd);
  if (r.code !== 0) throw new Error(`ssh ${cmd} → ${r.code}: ${r.stderr}`);
  return r.stdout.trim();
}

/** SSH comes up a little after the guest agent reports an address. */
async function sshReady(): Promise<void> {
  await waitFor("SSH in the guest", async () => (await sshGuest(sshPort, key, "true", 20_000)).code === 0, 180_000, 2000);
}

async function out(): Promise<Record<string, unknown>> {
  return p.outputs();
}

describe("examples/debian-vm", () => {
  let vmId: string;
  let pid: number;
  let macs: string[];

  test("1. up: a clone of the verified image boots; cloud-init makes the user and hostname; the agent reports the IP", async () => {
    await p.up();
    const o = await out();
    expect(o).toMatchObject({ state: "running" });
    expect(o.ipAddress).toMatch(/^10\.0\.2\.\d+$/); // QEMU user network, reported by the guest agent
    expect(o.rootBacking).toContain(img.sha256);
    vmId = o.vmId as string;
    pid = o.pid as number;
    macs = o.macAddresses as string[];
    expect(files.requests.get("/debian12.qcow2")).toBe(1);
    await sshReady();
    expect(await ssh("hostname")).toBe("debian-lab");
    await ssh(`echo ${token} > ~/before.txt && sync`);
  });

  test("1b. refreshed untouched, the example previews with zero changes (no perpetual diff)", async () => {
    await p.mustOperation("refresh", { diff: true });
    expect((await p.operation("preview", { expectNoChanges: true, diff: true })).code).toBe(0);
    expect((await out()).pid).toBe(pid);
  });

  test("2. growing the Disk is online (same QEMU), the guest sees it, data intact; shrinking fails at preview", async () => {
    await p.setConfig("rootSizeGiB", "6");
    const pv = await p.mustOperation("preview", { diff: true });
    expect(pv.output).toContain("grows in place to 6 GiB");
    await p.up();
    const o = await out();
    expect(o.pid).toBe(pid);
    expect(o.vmId).toBe(vmId);
    // The boot disk is vda: block devices sit behind root ports in slot order, the seed last.
    expect(await ssh("readlink -f /dev/disk/by-id/virtio-" + (o.rootDisk as string).slice(0, 20))).toBe("/dev/vda");
    await waitFor("the guest to see 6 GiB", async () => Number(await ssh("cat /sys/block/vda/size")) * 512 === 6 * 1024 ** 3, 30_000, 1000);
    expect(await ssh("cat ~/before.txt")).toBe(token);

    await p.setConfig("rootSizeGiB", "5");
    const shrink = await p.operation("preview");
    expect(shrink.code).not.toBe(0);
    expect(shrink.output).toContain("[invalid_params] sizeGiB");
    expect(shrink.output).toContain("Disks only grow");
    await p.setConfig("rootSizeGiB", "6");
    expect((await hd.client().disk.get(o.rootDisk as string)).virtualSizeBytes).toBe(6 * 1024 ** 3);
  });

  test("3. a data Disk hot-plugs into the running VM and unplugs again; the Disk itself stays", async () => {
    await p.setConfig("withData", "true");
    await p.up();
    let o = await out();
    expect(o.pid).toBe(pid);
    expect(o.macAddresses).toEqual(macs);
    const data = o.dataDisk as string;
    const dev = `/dev/disk/by-id/virtio-${data.slice(0, 20)}`;
    await waitFor("the guest to see the data disk", async () => (await sshGuest(sshPort, key, `test -b ${dev}`)).code === 0, 30_000, 1000);
    await ssh(`sudo mkfs.ext4 -q ${dev} && sudo mount ${dev} /mnt && echo ${token} | sudo tee /mnt/token >/dev/null && sudo umount /mnt`);

    await p.setConfig("withData", "false");
    await p.setConfig("keepData", "true");
    await p.up();
    o = await out();
    expect(o.pid).toBe(pid);
    expect(o.macAddresses).toEqual(macs);
    await waitFor("the data disk to leave the guest", async () => (await sshGuest(sshPort, key, `test -b ${dev}`)).code === 1, 30_000, 1000);
    expect((await hd.client().disk.get(data)).attachedTo).toBeNull();
  });

  test("changing cloud-init user-data rewrites the seed in place and says what the guest will do", async () => {
    await p.setConfig("revision", "2");
    const pv = await p.mustOperation("preview", { diff: true });
    expect(pv.output).toMatch(/~\s*1 to update/);
    expect(pv.output).toContain("do NOT run again");
    await p.up();
    const o = await out();
    expect(o).toMatchObject({ vmId, pid });
  });

  test("4. data survives replacement of the VM", async () => {
    await p.setConfig("withData", "true");
    await p.setConfig("vmName", "debian-b");
    const r = await p.up();
    expect(r.output).toMatch(/replaced/);
    const o = await out();
    expect(o.vmId).not.toBe(vmId);
    expect(o.vmName).toBe("debian-b");
    await sshReady();
    const dev = `/dev/disk/by-id/virtio-${(o.dataDisk as string).slice(0, 20)}`;
    expect(await ssh(`sudo mount ${dev} /mnt && cat /mnt/token; sudo umount /mnt`)).toBe(token);
    expect(await ssh("cat ~/before.txt")).toBe(token);
  });

  test("8. destroy removes every disk file, seed and VM directory; the cached base stays until pruned", async () => {
    await p.mustOperation("destroy");
    expect(readdirSync(path.join(hd.stateDir, "disks"))).toEqual([]);
    expect(readdirSync(path.join(hd.stateDir, "vms"))).toEqual([]);
    expect(hd.qemuPids()).toEqual([]);
    const cli = (args: string[]) => execFileSync(NODE, [HOSTD_CLI, ...args, "--socket", hd.socketPath], { encoding: "utf8" });
    expect(cli(["image", "list"])).toContain(img.sha256.slice(0, 16));
    expect(cli(["image", "prune"])).toContain(img.sha256);
    expect((await hd.client().image.list()).images).toEqual([]);
  });
});

describe("disks through the API", () => {
  test("5. ten concurrent clones of one base: one download, the base stored once, clones thin", async () => {
    const c = hd.client();
    const before = files.requests.get("/debian12.qcow2") ?? 0;
    const names = Array.from({ length: 10 }, (_, i) => `clone-${i}`);
    const disks = await Promise.all(
      names.map((name) => c.disk.create({ name, source: { kind: "url", url: files.url("/debian12.qcow2"), sha256: img.sha256 } })),
    );
    expect((files.requests.get("/debian12.qcow2") ?? 0) - before).toBe(1);
    const { images } = await c.image.list();
    expect(images).toHaveLength(1);
    expect(images[0]!.usedBy.sort()).toEqual([...names].sort());
    for (const d of disks) {
      expect(d.backingFile).toBe(images[0]!.path);
      expect(d.virtualSizeBytes).toBe(img.virtualSizeBytes);
      expect(d.actualSizeBytes).toBeLessThan(1024 * 1024);
    }
    // qemu-img agrees: each clone is an overlay on the one base.
    const info = JSON.parse(execFileSync("qemu-img", ["info", "--output=json", "-U", disks[0]!.path], { encoding: "utf8" })) as { "backing-filename": string };
    expect(info["backing-filename"]).toBe(images[0]!.path);
    await expect(c.image.prune(img.sha256)).rejects.toMatchObject({ code: "invalid_state" });
    await Promise.all(names.map((name) => c.disk.delete({ name })));
    expect(readdirSync(path.join(hd.stateDir, "disks"))).toEqual([]);
  });

  test("a disk in use cannot be deleted, naming the VM; a missing disk cannot be attached", async () => {
    const c = hd.client();
    await c.disk.create({ name: "busy", sizeGiB: 1 });
    await c.vm.create({ name: "holder", running: false, disks: [{ disk: "busy" }] });
    const err = (await c.disk.delete({ name: "busy" }).catch((e: unknown) => e)) as KvmError;
    expect(err.code).toBe("invalid_state");
    expect(err.message).toContain('"holder"');
    const missing = (await c.vm.create({ name: "orphan", running: false, disks: [{ disk: "nope" }] }).catch((e: unknown) => e)) as KvmError;
    expect(missing.code).toBe("conflict");
    await c.vm.delete({ name: "holder" });
    await c.disk.delete({ name: "busy" });
  });

  test("7. wrong sha256, unreachable URL, full disk: clear errors, nothing left behind, and a retry works", async () => {
    const c = hd.client();
    const left = () => ({ disks: readdirSync(path.join(hd.stateDir, "disks")), images: readdirSync(path.join(hd.stateDir, "images")) });
    const before = left();
    const wrong = (await c.disk.create({ name: "w", source: { kind: "url", url: files.url("/debian12.qcow2"), sha256: "0".repeat(64) } }).catch((e: unknown) => e)) as KvmError;
    expect(wrong.code).toBe("checksum_mismatch");
    expect(wrong.message).toContain("0".repeat(64));
    const gone = (await c.disk.create({ name: "w", source: { kind: "url", url: "http://127.0.0.1:1/x.qcow2", sha256: "1".repeat(64) } }).catch((e: unknown) => e)) as KvmError;
    expect(gone.code).toBe("download_failed");
    expect(left()).toEqual(before);
    await expect(c.disk.get("w")).rejects.toMatchObject({ code: "not_found" });

    // A host whose disk is full: hostd's state on a small tmpfs.
    const small = new HostdFixture();
    execFileSync("mkdir", ["-p", small.stateDir]);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=64m", "tmpfs", small.stateDir]);
    try {
      await small.start();
      const sc = small.client();
      const full = (await sc.disk.create({ name: "big", source: { kind: "url", url: files.url("/debian12.qcow2"), sha256: img.sha256 } }).catch((e: unknown) => e)) as KvmError;
      expect(full.code).toBe("insufficient_space");
      expect(readdirSync(path.join(small.stateDir, "images")).filter((f) => !f.startsWith("."))).toEqual([]);
      await expect(sc.disk.get("big")).rejects.toMatchObject({ code: "not_found" });
      // Make room and retry.
      execFileSync("mount", ["-o", "remount,size=1g", small.stateDir]);
      const ok = await sc.disk.create({ name: "big", source: { kind: "url", url: files.url("/debian12.qcow2"), sha256: img.sha256 } });
      expect(ok.backingFile).toContain(img.sha256);
      await sc.disk.delete({ name: "big" });
    } finally {
      await small.kill("SIGTERM");
      execFileSync("umount", ["-l", small.stateDir]);
      await small.cleanup();
    }
  });
});

describe("firmware and installers", () => {
  test("6a. UEFI boot of the Debian image; its NVRAM file persists across a restart and goes with the VM", async () => {
    const c = hd.client();
    await c.disk.create({ name: "uefi-root", source: { kind: "url", url: files.url("/debian12.qcow2"), sha256: img.sha256 } });
    const vm = await c.vm.create({
      name: "uefi",
      memoryMiB: 512,
      firmware: "uefi",
      disks: [{ disk: "uefi-root" }],
      networkInterfaces: [{ type: "user" }],
    });
    const nvram = path.join(hd.stateDir, "vms", vm.id, "OVMF_VARS.fd");
    await waitFor("the UEFI guest's agent", async () => (await c.vm.get("uefi")).guest !== null, 300_000, 2000);
    const ino = statSync(nvram).ino;
    await c.vm.stop({ name: "uefi", timeoutSeconds: 120 });
    expect(statSync(nvram).ino).toBe(ino);
    await c.vm.start("uefi");
    await waitFor("the UEFI guest's agent after restart", async () => (await c.vm.get("uefi")).guest !== null, 300_000, 2000);
    expect(statSync(nvram).ino).toBe(ino);
    await c.vm.delete({ name: "uefi" });
    expect(existsSync(nvram)).toBe(false);
    await c.disk.delete({ name: "uefi-root" });
  });

  test("6b. a VM booting an installer ISO as cdrom reaches the ISO's boot loader", async () => {
    const dir = path.join(work, "iso");
    execFileSync("mkdir", ["-p", path.join(dir, "root/boot/grub")]);
    writeFileSync(
      path.join(dir, "root/boot/grub/grub.cfg"),
      "serial --unit=0 --speed=115200\nterminal_output serial\necho PKVM-ISO-BOOT-OK\nsleep 600\n",
    );
    const iso = path.join(dir, "installer.iso");
    execFileSync("grub-mkrescue", ["-o", iso, path.join(dir, "root")], { stdio: "ignore" });
    const c = hd.client();
    await c.disk.create({ name: "target", sizeGiB: 1 });
    const vm = await c.vm.create({ name: "installer", memoryMiB: 256, cdrom: { path: iso }, disks: [{ disk: "target" }], guestAgent: false });
    await waitFor("the ISO's boot loader on the serial console", () => hd.serialLog(vm.id).includes("PKVM-ISO-BOOT-OK"), 120_000, 1000);
    await c.vm.delete({ name: "installer" });
    await c.disk.delete({ name: "target" });
  });
});
