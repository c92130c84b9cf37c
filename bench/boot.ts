/**
 * Boot overhead: from "create" to the tiny guest's READY line on its serial
 * console, three ways, alternating in each round:
 *
 *   raw       qemu-system-x86_64 started by hand with exactly the argv hostd
 *             used (read back from /proc/<pid>/cmdline; only its state paths
 *             point at a scratch folder)
 *   hostd     vm.create over the local socket
 *   provider  `pulumi up` of a one-VM program (engine, language runtime,
 *             dynamic provider, hostd), to READY
 *
 * Target: hostd ≤ 1.10 × raw.
 */
import { ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import * as path from "node:path";
import { waitFor } from "../test/fixtures/env";
import { PulumiProject } from "../test/fixtures/pulumi";
import { alternate, BenchContext, Benchmark, whenFileMatches } from "./lib/context";
import { READY, startHostd, tinyKernel, whenReady } from "./lib/hosts";
import { medRange, ratio, summarize } from "./lib/stats";

const PROGRAM = `
import * as pulumi from "@pulumi/pulumi";
import * as kvm from "pulumi-kvm";
const cfg = new pulumi.Config();
const vm = new kvm.Vm("boot", {
  name: "bench-provider-boot",
  memoryMiB: 128,
  kernel: { path: cfg.require("kernel"), initrd: cfg.require("initrd"), cmdline: cfg.require("cmdline") },
  waitFor: "running",
});
export const vmId = vm.vmId;
`;

async function rawBoot(argv: string[], vmDir: string): Promise<number> {
  const dir = mkdtempSync("/tmp/pkvm-raw-");
  const args = argv.slice(1).map((a) => a.split(vmDir).join(dir));
  const t0 = performance.now();
  const p: ChildProcess = spawn(argv[0]!, args, { stdio: "ignore" });
  try {
    const t1 = await whenFileMatches(path.join(dir, "serial.log"), READY, 120_000);
    return t1 - t0;
  } finally {
    const gone = new Promise((r) => p.once("exit", r));
    p.kill("SIGKILL");
    await gone;
    rmSync(dir, { recursive: true, force: true });
  }
}

export const boot: Benchmark = {
  name: "boot",
  title: "Boot overhead: create → guest READY",
  async run(ctx: BenchContext): Promise<void> {
    const kernel = tinyKernel();
    // Boot times under TCG vary by a second between runs: even quick mode needs a few rounds.
    const rounds = ctx.quick ? 5 : 10;
    const providerRounds = ctx.quick ? 2 : 5;
    const hd = await startHostd(ctx);
    const c = hd.client();
    // The argv hostd builds for this guest, read back from the running QEMU (setpriv execs it,
    // so the pid's command line is QEMU's own).
    const probe = await c.vm.create({ name: "bench-argv", memoryMiB: 128, kernel });
    const argv = readFileSync(`/proc/${probe.pid}/cmdline`, "utf8").split("\0").filter((a) => a !== "");
    const vmDir = path.join(hd.stateDir, "vms", probe.id);
    await c.vm.delete({ name: "bench-argv" });

    const proj = await PulumiProject.create(PROGRAM, { "kvm:socketPath": hd.socketPath, kernel: kernel.path, initrd: kernel.initrd, cmdline: kernel.cmdline });
    ctx.defer(() => proj.cleanup());
    const raw: number[] = [];
    const viaHostd: number[] = [];
    const viaHostdCreate: number[] = [];
    const provider: number[] = [];
    const providerUp: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const sides: (() => Promise<void>)[] = [
        async () => {
          raw.push(await rawBoot(argv, vmDir));
        },
        async () => {
          const name = `bench-boot-${i}`;
          const t0 = performance.now();
          const vm = await c.vm.create({ name, memoryMiB: 128, kernel });
          viaHostdCreate.push(performance.now() - t0);
          const t1 = await whenReady(hd, vm.id, 120_000);
          viaHostd.push(t1 - t0);
          await c.vm.delete({ name });
        },
      ];
      if (i < providerRounds) {
        sides.push(async () => {
          const vmsDir = path.join(hd.stateDir, "vms");
          const serial = () => {
            const d = readdirSync(vmsDir)[0];
            return d ? path.join(vmsDir, d, "serial.log") : undefined;
          };
          const t0 = performance.now();
          const upDone = proj.mustOperation("up").then(() => performance.now());
          upDone.catch(() => undefined); // awaited below; this keeps an early failure from being unhandled
          const t1 = await whenFileMatches(serial, READY, 180_000);
          providerUp.push((await upDone) - t0);
          provider.push(t1 - t0);
          await proj.mustOperation("destroy");
          await waitFor("the provider's VM to be gone", () => readdirSync(vmsDir).length === 0, 30_000);
        });
      }
      await alternate(i, sides);
      ctx.log(`boot round ${i + 1}/${rounds}: raw ${raw.at(-1)?.toFixed(0)} ms, hostd ${viaHostd.at(-1)?.toFixed(0)} ms${i < providerRounds ? `, provider ${provider.at(-1)?.toFixed(0)} ms` : ""}`);
    }
    const r = summarize(raw);
    const h = summarize(viaHostd);
    const p = summarize(provider);
    const hc = summarize(viaHostdCreate);
    const pu = summarize(providerUp);
    ctx.report.table({
      title: `Boot to READY, tiny guest, 128 MiB, 1 vCPU, ${(probe.accelerator ?? "unknown").toUpperCase()} (ms; median and range)`,
      header: ["path", "runs", "create → READY", "ratio to raw", "other"],
      rows: [
        ["raw qemu, same argv", r.n, medRange(r), "1.00×", ""],
        ["hostd vm.create (local socket)", h.n, medRange(h), ratio(h.median, r.median), `vm.create returned after ${medRange(hc)}`],
        ["provider: pulumi up (1 VM)", p.n, medRange(p), ratio(p.median, r.median), `pulumi up returned after ${medRange(pu)}`],
      ],
      notes: [
        `Target hostd ≤ 1.10 × raw: ${h.median / r.median <= 1.1 ? "met" : "missed"} (${ratio(h.median, r.median)}).`,
        "The raw run uses hostd's own argv (QMP sockets, seccomp sandbox, pidfile, serial log), started directly as root; hostd adds its checks, state writes, setpriv to the VM's own uid and the QMP attach.",
        "The provider row includes the Pulumi engine, the Node language runtime and the dynamic provider's start-up; it is a fixed cost per `pulumi up`, not per VM.",
      ],
    });
  },
};
