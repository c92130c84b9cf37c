/**
 * Scale: one hostd holding 1,000 defined (stopped) VMs plus as many running
 * tiny guests as this machine carries, added in batches until the target,
 * a memory floor or a boot-time ceiling stops it; at that size, vm.list
 * latency (local socket and SSH) and hostd's RSS; creation throughput with
 * N calls in parallel.
 *
 * Targets: ≥ 100 running VMs on 24 GiB; vm.list p99 ≤ 50 ms; hostd RSS ≤ 150 MiB.
 */
import { readFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import * as path from "node:path";
import { cgroupPathIn, cpuHierarchies, hostCgroupFacts, moveIntoCgroup, vmCgroupPlan } from "../hostd/drivers/cgroup";
import { HostClient } from "../sdk/client";
import { SshTransport } from "../sdk/transport/ssh";
import { sleep } from "../test/fixtures/env";
import { alternate, BenchContext, Benchmark, meminfoMiB, pssMiB, rssMiB } from "./lib/context";
import { defineVms, startHostd, startSshd, tinyKernel, whenReady } from "./lib/hosts";
import { ksmRead, KsmSession, ksmUnavailable } from "./lib/ksm";
import { fmt, medRange, ratio, since, Summary, summarize, timeEach } from "./lib/stats";

/** Stop adding running VMs when less memory than this is left for the host. */
const MEM_FLOOR_MIB = 2048;
/** KSM while the running guests pile up, as density-minded hosts run it (Proxmox's ksmtuned): 1,000 pages every 20 ms. */
const KSM_PAGES = 1000;

/** utime + stime of a process, in clock ticks (USER_HZ = 100 on Linux). */
function cpuTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after "(comm) ": state is the first, utime the 12th, stime the 13th.
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(f[11]) + Number(f[12]);
  } catch {
    return 0;
  }
}

/** The cgroup a process is scheduled in: its v1 cpu hierarchy path, else its v2 one. */
function cpuCgroup(pid: number): string {
  try {
    const text = readFileSync(`/proc/${pid}/cgroup`, "utf8");
    return cgroupPathIn(text, "v1") ?? cgroupPathIn(text, "v2") ?? "unknown";
  } catch {
    return "gone";
  }
}

/** Moves processes (all their threads) into a cgroup directory. */
function moveAll(dir: string, pids: readonly number[]): void {
  for (const pid of pids) moveIntoCgroup(dir, pid);
}

/** The running-VM row of the throughput table: the median batch of `batch` parallel creates took `medianS`. */
function createRow(batch: number, vms: number, medianS: number): (string | number)[] {
  return ["create + start tiny guest (to create reply)", batch, vms, fmt(medianS), fmt(batch / medianS)];
}

/** Latency of `n` calls made one after another. */
async function latency(n: number, call: (i: number) => Promise<unknown>): Promise<Summary> {
  return summarize((await timeEach(n, call)).ms);
}

export const scale: Benchmark = {
  name: "scale",
  title: "Scale: 1,000 defined VMs and as many running tiny guests as fit",
  async run(ctx: BenchContext): Promise<void> {
    const kernel = tinyKernel();
    const target = ctx.quick ? 20 : 120;
    const batch = 10;
    const bootCeilingMs = 240_000;
    const ksmWhyNot = ksmUnavailable();
    const ksm = ksmWhyNot ? undefined : new KsmSession();
    if (ksm) ctx.defer(() => ksm.restore());
    const hd = await startHostd(ctx);
    const sshd = await startSshd(ctx);
    const c = hd.client();
    const ssh = new HostClient(new SshTransport(sshd.transportOptions(hd.socketPath)));
    const rssStart = rssMiB(hd.pid!);

    // Defining: throughput at 1, 8 and 32 calls in parallel, 1,000 VMs in all.
    const defineRows: (string | number)[][] = [];
    let defined = 0;
    for (const [parallel, count] of [[1, 100], [8, 400], [32, 500]] as const) {
      const ms = await defineVms(c, `def${parallel}`, count, parallel);
      defined += count;
      defineRows.push([`define (stopped)`, parallel, count, fmt(ms / 1000), fmt(count / (ms / 1000))]);
      ctx.log(`scale: defined ${count} VMs ${parallel} at a time in ${(ms / 1000).toFixed(1)} s`);
    }
    const listDefined = await latency(50, () => c.vm.list());
    const rssDefined = rssMiB(hd.pid!);

    // Running: batches of `batch` created in parallel, until the target or a limit.
    ksm?.on(KSM_PAGES);
    const memStart = meminfoMiB("MemAvailable");
    const running: { id: string; pid: number }[] = [];
    const batchRows: (string | number)[][] = [];
    const batchCreateMs: number[] = [];
    let stoppedBy = `the target of ${target}`;
    while (running.length < target) {
      const avail = meminfoMiB("MemAvailable");
      if (avail < MEM_FLOOR_MIB) {
        stoppedBy = `memory: ${fmt(avail)} MiB available, below the ${MEM_FLOOR_MIB} MiB floor kept for the host`;
        break;
      }
      const t0 = performance.now();
      const made = await Promise.all(
        Array.from({ length: batch }, (_, i) => c.vm.create({ name: `run-${running.length + i}`, memoryMiB: 96, kernel }, { timeoutMs: 300_000 })),
      );
      const createdMs = since(t0);
      batchCreateMs.push(createdMs);
      await Promise.all(made.map((v) => whenReady(hd, v.id, bootCeilingMs + 60_000, 50)));
      const readyMs = since(t0);
      running.push(...made.map((v) => ({ id: v.id, pid: v.pid! })));
      batchRows.push([running.length, fmt(createdMs / 1000), fmt(readyMs / 1000), fmt(loadavg()[0]!), fmt(meminfoMiB("MemAvailable"))]);
      ctx.log(`scale: ${running.length} running; batch created in ${(createdMs / 1000).toFixed(1)} s, READY in ${(readyMs / 1000).toFixed(1)} s, load ${loadavg()[0]!.toFixed(1)}`);
      if (readyMs > bootCeilingMs) {
        stoppedBy = `boot time: the last batch of ${batch} took ${fmt(readyMs / 1000)} s to reach READY (ceiling ${bootCeilingMs / 1000} s), as the ${cpus().length} cores are saturated by emulated guests`;
        break;
      }
    }
    const memUsed = memStart - meminfoMiB("MemAvailable");
    // CPU the running guests use once booted (utime + stime over 10 s).
    const ticks0 = running.reduce((a, v) => a + cpuTicks(v.pid), 0);
    await sleep(10_000);
    const idleCpuPct = ((running.reduce((a, v) => a + cpuTicks(v.pid), 0) - ticks0) / 100 / 10 / Math.max(1, running.length)) * 100;
    const ksmSaved = ksm ? (ksmRead("pages_sharing") * 4096) / 2 ** 20 : 0;
    const pss = summarize(running.map((v) => pssMiB(v.pid)));
    const rss = summarize(running.map((v) => rssMiB(v.pid)));

    const listLocal = await latency(ctx.quick ? 30 : 100, () => c.vm.list());
    const listSsh = await latency(ctx.quick ? 30 : 100, () => ssh.vm.list());
    const getLocal = await latency(100, (i) => c.vm.get(`run-${i % Math.max(1, running.length)}`));
    const rssHostd = rssMiB(hd.pid!);
    const total = (await c.vm.list()).vms.length;

    // The same VMs scheduled two ways, alternating: in hostd's CPU group for VMs, and moved
    // back into hostd's own cgroup, where every QEMU ran before hostd had the group.
    const group = vmCgroupPlan(hd.stateDir);
    const mount = group.kind === "none" ? undefined : cpuHierarchies(hostCgroupFacts())[group.kind];
    const hostdPath = group.kind === "none" ? undefined : cgroupPathIn(readFileSync(`/proc/${hd.pid!}/cgroup`, "utf8"), group.kind);
    const outside = mount && hostdPath !== undefined ? path.join(mount, hostdPath) : undefined;
    const placement: { where: string; local: number[]; ssh: number[] }[] = [];
    if (group.kind !== "none" && outside && outside !== group.dir && running.length > 0) {
      const pids = running.map((v) => v.pid);
      ctx.defer(() => moveAll(group.dir, pids));
      const inGroup = { where: "in their CPU group (hostd's default)", local: [] as number[], ssh: [] as number[] };
      const beside = { where: "beside hostd, as before the group", local: [] as number[], ssh: [] as number[] };
      const calls = ctx.quick ? 10 : 25;
      const measure = (side: typeof inGroup, dir: string) => async () => {
        moveAll(dir, pids);
        await sleep(3000); // let the scheduler settle on the new layout
        side.local.push(...(await timeEach(calls, () => c.vm.list())).ms);
        side.ssh.push(...(await timeEach(calls, () => ssh.vm.list())).ms);
      };
      for (let round = 0; round < 2; round++) await alternate(round, [measure(inGroup, group.dir), measure(beside, outside)]);
      moveAll(group.dir, pids);
      placement.push(inGroup, beside);
    }

    ctx.report.table({
      title: "Creation throughput",
      header: ["what", "parallel calls", "VMs", "wall time (s)", "VMs/s"],
      rows: [
        ...defineRows,
        ...(batchCreateMs.length ? [createRow(batch, running.length, summarize(batchCreateMs).median / 1000)] : []),
      ],
      notes: ["Running rows: median over the batches of the time for one batch of parallel creates to return (QEMU started and attached), and the rate that gives."],
    });
    ctx.report.table({
      title: `Running tiny guests (96 MiB, 1 vCPU, ${batch} per batch)`,
      header: ["running after batch", "batch create (s)", "batch to READY (s)", "load average (1 min)", "MemAvailable (MiB)"],
      rows: batchRows,
      notes: [
        `Reached ${running.length} running VMs (target ≥ 100 on 24 GiB: ${running.length >= 100 ? "met" : ctx.quick ? "not tried in quick mode" : "missed"}); stopped by ${stoppedBy}.`,
        `Per running VM: PSS ${medRange(pss)} MiB, RSS ${medRange(rss)} MiB; host memory used by all of them ${fmt(memUsed)} MiB (${fmt(memUsed / Math.max(1, running.length))} MiB each, MemAvailable before − after).`,
        ksm
          ? `KSM ran throughout (${KSM_PAGES} pages every 20 ms) and was saving ${fmt(ksmSaved)} MiB at the end by its own count; the host's KSM settings were restored afterwards.`
          : `KSM was not used: ${ksmWhyNot}.`,
        `Once booted, the guests used ${fmt(idleCpuPct)}% of a core each (QEMU's utime + stime over 10 s; under TCG the guest's timer interrupts and idle loop are emulated), ${fmt((idleCpuPct * running.length) / 100)} of the ${cpus().length} cores for all of them.`,
      ],
    });
    ctx.report.table({
      title: `hostd at ${total} VMs (${defined} defined + ${running.length} running)`,
      header: ["measure", "value", "target"],
      rows: [
        ["vm.list p50 / p99, local socket (ms)", `${fmt(listLocal.p50)} / ${fmt(listLocal.p99)}`, "p99 ≤ 50"],
        ["vm.list p50 / p99, SSH (ms)", `${fmt(listSsh.p50)} / ${fmt(listSsh.p99)}`, "p99 ≤ 50"],
        ["vm.get of a running VM p50 / p99, local (ms)", `${fmt(getLocal.p50)} / ${fmt(getLocal.p99)}`, ""],
        [`vm.list p50 / p99 with the ${defined} defined VMs only (ms)`, `${fmt(listDefined.p50)} / ${fmt(listDefined.p99)}`, ""],
        ["hostd RSS: empty / 1,000 defined / with running VMs (MiB)", `${fmt(rssStart)} / ${fmt(rssDefined)} / ${fmt(rssHostd)}`, "≤ 150"],
      ],
      notes: [
        `vm.list p99 target ${Math.max(listLocal.p99, listSsh.p99) <= 50 ? "met" : "missed"}; hostd RSS target ${rssHostd <= 150 ? "met" : "missed"}.`,
        `CPU scheduling, as read from /proc: hostd in the cgroup ${cpuCgroup(hd.pid!)}, the running QEMUs in ${[...new Set(running.map((v) => cpuCgroup(v.pid)))].join(", ")}, this benchmark (the caller) in ${cpuCgroup(process.pid)}.`,
      ],
    });
    if (placement.length > 0) {
      const [a, b] = placement.map((p) => ({ where: p.where, local: summarize(p.local), ssh: summarize(p.ssh) }));
      ctx.report.table({
        title: `vm.list with ${running.length} running guests, by where their QEMUs are scheduled (same VMs, alternating, 2 rounds each)`,
        header: ["QEMUs scheduled", "local p50 / p99 (ms)", "SSH p50 / p99 (ms)"],
        rows: [a!, b!].map((x) => [x.where, `${fmt(x.local.p50)} / ${fmt(x.local.p99)}`, `${fmt(x.ssh.p50)} / ${fmt(x.ssh.p99)}`]),
        notes: [
          `p50 beside hostd ÷ p50 in the group: ${ratio(b!.local.p50, a!.local.p50)} (local socket), ${ratio(b!.ssh.p50, a!.ssh.p50)} (SSH).`,
          "Between the two, every QEMU's pid is written into the other cgroup's cgroup.procs (all threads move), then 3 s pass before the calls.",
        ],
      });
    } else {
      ctx.log(`scale: no placement comparison: ${group.kind === "none" ? group.reason : "no running VMs, or hostd's cgroup is the group itself"}`);
    }
  },
};
