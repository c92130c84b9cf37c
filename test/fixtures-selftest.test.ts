/**
 * The fixtures' own promises, shown by running this file again in a child
 * Jest with a deliberate failure: a failing VM test leaves hostd's log, the
 * VM's serial log and its QMP trace in test-results/, and a tool hostd needs
 * that is missing from PATH fails the suite naming it (never a skip).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import * as path from "node:path";
import { HOSTD_TOOLS, onPath, REPO, tinyGuest, waitFor } from "./fixtures/env";
import { HostdFixture } from "./fixtures/hostd";

jest.setTimeout(300_000);

const CASE = process.env.PKVM_SELFTEST_CASE;

if (CASE === "failing-vm") {
  // The child: boots a VM, then fails on purpose.
  let hd: HostdFixture;
  beforeAll(async () => {
    hd = await HostdFixture.start();
  });
  afterAll(() => hd?.cleanup());
  test("a VM test that fails on purpose", async () => {
    const g = tinyGuest();
    const vm = await hd.client().vm.create({ name: "doomed", memoryMiB: 128, kernel: { path: g.kernel, initrd: g.initrd, cmdline: g.cmdline } });
    await waitFor("READY", () => /READY/.test(hd.serialLog(vm.id)), 120_000);
    await hd.client().vm.delete({ name: "doomed" });
    expect("the deliberate failure").toBe("of this child run");
  });
} else if (CASE === "missing-tool") {
  test("a hostd fixture without dnsmasq on PATH", async () => {
    const hd = await HostdFixture.start();
    await hd.cleanup();
  });
} else {
  /** Runs this file in a child Jest with `env`; its exit code and output. */
  const child = (env: Record<string, string>) =>
    spawnSync(process.execPath, [path.join(REPO, "node_modules", ".bin", "jest"), "--runInBand", "--selectProjects", "integration", "--runTestsByPath", __filename], {
      cwd: REPO,
      encoding: "utf8",
      env: { ...process.env, ...env },
    });

  test("a failing VM test leaves hostd's log, the VM's serial log and QMP trace in test-results/", () => {
    const r = child({ PKVM_SELFTEST_CASE: "failing-vm" });
    const output = r.stdout + r.stderr;
    expect(r.status).toBe(1);
    expect(output).toContain("the deliberate failure");
    const dir = /hostd's log, serial logs and QMP traces are in (\S+)/.exec(output)?.[1];
    expect(dir).toBeDefined();
    try {
      const files = readdirSync(dir!);
      expect(readFileSync(path.join(dir!, "hostd.log"), "utf8")).toContain('"msg":"VM started"');
      const serial = files.find((f) => f.endsWith(".serial.log"));
      expect(serial && readFileSync(path.join(dir!, serial), "utf8")).toMatch(/READY ip=/);
      const qmp = files.find((f) => f.endsWith(".qmp.log"));
      expect(qmp && readFileSync(path.join(dir!, qmp), "utf8")).toMatch(/-> \{"execute":"qmp_capabilities"/);
    } finally {
      rmSync(dir!, { recursive: true, force: true });
    }
  });

  test("with a tool hostd needs missing from PATH, the tests fail naming it and its package", () => {
    // A PATH with everything hostd and Node need but dnsmasq.
    const bin = mkdtempSync("/tmp/pkvm-path-");
    try {
      for (const { tool } of HOSTD_TOOLS.filter((t) => t.tool !== "dnsmasq")) symlinkSync(onPath(tool)!, path.join(bin, tool));
      const r = child({ PKVM_SELFTEST_CASE: "missing-tool", CI: "1", PATH: `${bin}:${path.dirname(process.execPath)}` });
      expect(r.status).toBe(1);
      expect(r.stdout + r.stderr).toContain("these tests need dnsmasq (Debian package dnsmasq-base) on PATH");
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
    expect(existsSync(bin)).toBe(false);
  });
}
