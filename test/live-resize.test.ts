/**
 * vCPUs and memory grown on a running VM: real hostd, real QEMU (tiny guest,
 * TCG here), the guest's own view read over its serial console.
 *
 * Within `maxVcpus` / `maxMemoryMiB` a raise is a hot-plug (same QEMU, no
 * reboot, the guest sees the CPUs and memory); a raise past the room is
 * refused and changes nothing; lowering memory restarts the VM, as the
 * preview says.
 */
import { announceAccelerator, tinyGuest, waitFor } from "./fixtures/env";
import { SerialConsole } from "./fixtures/console";
import { HostdFixture } from "./fixtures/hostd";
import { isKvmError } from "../sdk/errors";

jest.setTimeout(600_000);

const g = tinyGuest();
const kernel = { path: g.kernel, initrd: g.initrd, cmdline: g.cmdline };
let hd: HostdFixture;

beforeAll(async () => {
  announceAccelerator();
  hd = await HostdFixture.start();
});
afterAll(async () => {
  await hd?.cleanup();
});

/** What the guest itself counts: online CPUs and MemTotal in MiB. */
async function guestView(con: SerialConsole): Promise<{ cpus: number; memMiB: number }> {
  const cpus = Number((await con.ok("grep -c ^processor /proc/cpuinfo")).trim());
  const kb = Number(/MemTotal:\s+(\d+) kB/.exec(await con.ok("grep MemTotal /proc/meminfo"))![1]);
  return { cpus, memMiB: Math.round(kb / 1024) };
}

test("raising vCPUs and memory within their room hot-plugs them into the running guest; past it is refused; lowering restarts", async () => {
  const c = hd.client();
  const vm = await c.vm.create({ name: "grow", vcpus: 1, maxVcpus: 3, memoryMiB: 256, maxMemoryMiB: 768, kernel });
  await waitFor("READY on the serial console", () => /READY ip=\S+ mem=\d+ cpus=1/.test(hd.serialLog(vm.id)), 120_000);
  const con = await SerialConsole.open(hd.stateDir, vm.id);
  try {
    const before = await guestView(con);
    expect(before.cpus).toBe(1);
    const bootId = (await con.ok("cat /proc/sys/kernel/random/boot_id")).trim();

    // +1 vCPU and +256 MiB: one update, no restart.
    const up = await c.vm.update({ name: "grow", vcpus: 2, memoryMiB: 512 });
    expect(up.restarted).toBe(false);
    expect(up.hotplugged).toEqual(expect.arrayContaining(["vcpus:1->2", "memoryMiB:256->512"]));
    expect(up.vm.pid).toBe(vm.pid);
    // QEMU's own count (the readback refresh uses) shows them at once; the guest onlines them by itself.
    expect(up.vm.actual).toEqual({ vcpus: 2, memoryMiB: 512 });
    await waitFor("the guest to bring the new CPU and memory online", async () => {
      const v = await guestView(con);
      return v.cpus === 2 && v.memMiB >= before.memMiB + 256 - 1;
    }, 60_000, 250);
    expect((await con.ok("cat /proc/sys/kernel/random/boot_id")).trim()).toBe(bootId); // no reboot

    // Past the room: refused by name, nothing changes.
    const err = await c.vm.update({ name: "grow", vcpus: 4 }).catch((e: unknown) => e);
    expect(isKvmError(err) && err.code).toBe("invalid_params");
    expect((err as Error).message).toContain("maxVcpus 3");
    const same = await c.vm.get("grow");
    expect(same).toMatchObject({ pid: vm.pid, state: "running" });
    expect(same.spec).toMatchObject({ vcpus: 2, memoryMiB: 512 });

    // Lowering memory cannot be taken live: a restart (new QEMU, base memory as asked, no DIMMs).
    const down = await c.vm.update({ name: "grow", memoryMiB: 384 });
    expect(down.restarted).toBe(true);
    expect(down.vm.pid).not.toBe(vm.pid);
    expect(down.vm.actual).toEqual({ vcpus: 2, memoryMiB: 384 });
  } finally {
    con.close();
    await c.vm.delete({ name: "grow" }).catch(() => undefined);
  }
});
