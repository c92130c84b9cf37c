/**
 * Guest speed: the same CPU-bound commands, run by the same Debian
 * busybox-static binary, inside a tiny guest (over its serial console) and
 * on the host, alternating. On KVM the ratio is near 1; under TCG it is the
 * cost of software emulation, which is what these machines can show.
 */
import { execFileSync } from "node:child_process";
import { SerialConsole } from "../test/fixtures/console";
import { alternate, BenchContext, Benchmark } from "./lib/context";
import { startHostd, tinyKernel, whenReady } from "./lib/hosts";
import { medRange, ratio, since, summarize, timeEach } from "./lib/stats";

const WORKLOADS: { name: string; cmd: string }[] = [
  { name: "shell loop, 300,000 iterations", cmd: "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done" },
  { name: "sha256sum of 64 MiB", cmd: "dd if=/dev/zero bs=1M count=64 2>/dev/null | sha256sum >/dev/null" },
];

export const guestSpeed: Benchmark = {
  name: "guest",
  title: "Guest speed: a CPU-bound loop in the guest vs on the host",
  async run(ctx: BenchContext): Promise<void> {
    const rounds = ctx.quick ? 2 : 5;
    const hd = await startHostd(ctx);
    const c = hd.client();
    const vm = await c.vm.create({ name: "bench-cpu", memoryMiB: 256, kernel: tinyKernel() });
    await whenReady(hd, vm.id, 120_000);
    const con = await SerialConsole.open(hd.stateDir, vm.id);
    ctx.defer(() => con.close());
    await con.ok("true");
    // The console's own round trip (it polls every 100 ms), taken off the guest's figures.
    const consoleMs = summarize((await timeEach(5, () => con.ok("true"))).ms).median;
    const rows: (string | number)[][] = [];
    for (const w of WORKLOADS) {
      const guest: number[] = [];
      const host: number[] = [];
      for (let i = 0; i < rounds; i++) {
        await alternate(i, [
          async () => {
            const t0 = performance.now();
            await con.ok(w.cmd, 600_000);
            guest.push(Math.max(0, since(t0) - consoleMs));
          },
          async () => {
            const t0 = performance.now();
            execFileSync("busybox", ["sh", "-c", w.cmd], { stdio: "ignore" });
            host.push(since(t0));
          },
        ]);
      }
      const gs = summarize(guest);
      const hs = summarize(host);
      rows.push([w.name, gs.n, medRange(gs), medRange(hs), ratio(gs.median, hs.median)]);
      ctx.log(`guest: ${w.name}: guest ${gs.median.toFixed(0)} ms, host ${hs.median.toFixed(0)} ms`);
    }
    ctx.report.table({
      title: `CPU-bound work (ms), guest under ${(vm.accelerator ?? "unknown").toUpperCase()}, 1 vCPU`,
      header: ["workload", "runs", "guest", "host", "guest/host"],
      rows,
      notes: [
        `Both sides run Debian's busybox-static 1.35 (the guest's initramfs carries the same package). Guest times are measured from the host over the serial console, less its ${consoleMs.toFixed(0)} ms round trip.`,
        vm.accelerator === "kvm"
          ? "KVM with -cpu host: the guest runs on the real CPU."
          : "TCG: every guest instruction is translated in software, so this ratio is the cost of emulation on a host without usable KVM; with KVM (vmx/svm) hostd uses -accel kvm -cpu host.",
      ],
    });
  },
};
