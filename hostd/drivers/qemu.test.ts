import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { QemuDriver, QemuStartError } from "./qemu";
import type { QemuVmConfig } from "./qemu-argv";
import { procState } from "./process";

let dir: string;
beforeEach(() => (dir = mkdtempSync(path.join(tmpdir(), "qemu-test-"))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function config(): QemuVmConfig {
  const f = (n: string) => path.join(dir, n);
  return {
    uuid: "00000000-0000-0000-0000-000000000001",
    name: "t",
    vcpus: 1,
    memoryMiB: 64,
    machine: "q35",
    accel: "tcg",
    kernel: { path: "/vmlinuz" },
    firmware: { type: "bios" },
    disks: [],
    nics: [],
    guestAgent: false,
    paths: { qmp: f("qmp.sock"), opsQmp: f("ops.sock"), pidfile: f("pid"), serialSocket: f("serial.sock"), serialLog: f("serial.log"), guestAgent: f("qga.sock"), log: f("qemu.log") },
  };
}

/** A stand-in for QEMU that never finishes starting: it writes no pidfile and opens no socket. */
function hangingQemu(): string {
  const bin = path.join(dir, "hanging-qemu");
  writeFileSync(bin, "#!/bin/sh\nexec sleep 600\n");
  chmodSync(bin, 0o755);
  return bin;
}

test("a launch that times out kills the process it started: no QEMU is left", async () => {
  let pid: number | undefined;
  const err = await new QemuDriver(hangingQemu(), 300).launch(config(), { onSpawn: (p) => (pid = p) }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(QemuStartError);
  expect((err as Error).message).toMatch(/did not finish starting within 0.3 s/);
  expect(pid).toBeDefined();
  // Killed and reaped (hostd is its parent), not merely signalled.
  expect(procState(pid!)).toBeUndefined();
});

test("a QEMU that exits during start-up is reported with its exit status and what it printed", async () => {
  const bin = path.join(dir, "failing-qemu");
  writeFileSync(bin, "#!/bin/sh\necho 'qemu: could not load kernel' >&2\nexit 1\n");
  chmodSync(bin, 0o755);
  const err = (await new QemuDriver(bin, 10_000).launch(config()).catch((e: unknown) => e)) as QemuStartError;
  expect(err).toBeInstanceOf(QemuStartError);
  expect(err.message).toMatch(/exited during start-up \(exit 1\): qemu: could not load kernel/);
});
