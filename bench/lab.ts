/**
 * The lab: `pulumi up` and `pulumi destroy` of examples/lab with 10 tiny
 * guests on one isolated network (hostd inside a network namespace this
 * benchmark creates), with a timeline of where the time goes, side by side
 * with the same lab through Terraform + terraform-provider-libvirt + libvirtd
 * (bench/peer), rounds alternating.
 */
import { readdirSync, readFileSync } from "node:fs";
import { cpus } from "node:os";
import * as path from "node:path";
import { REPO } from "../test/fixtures/env";
import { Netns } from "../test/fixtures/netns";
import { PulumiProject } from "../test/fixtures/pulumi";
import { alternate, BenchContext, Benchmark } from "./lib/context";
import { READY, startHostd, tinyKernel } from "./lib/hosts";
import { fmt, medRange, ratio, summarize } from "./lib/stats";
import { Peer } from "./peer/peer";

const VMS = 10;

interface HostdCall {
  method: string;
  start: number;
  end: number;
}

/** hostd's request log lines (`"msg":"ok"` with method and ms) from `since` (epoch ms) on. */
function hostdCalls(log: string, since: number): HostdCall[] {
  const out: HostdCall[] = [];
  for (const line of log.split("\n")) {
    if (!line.includes('"method"')) continue;
    try {
      const j = JSON.parse(line) as { ts: string; method?: string; ms?: number };
      const end = Date.parse(j.ts);
      if (j.method && typeof j.ms === "number" && end >= since) out.push({ method: j.method, start: end - j.ms, end });
    } catch {
      /* not a JSON line */
    }
  }
  return out;
}

/** Epoch ms at which each VM's serial log first showed READY (polled every 20 ms while `until` is pending). */
async function watchReady(stateDir: string, until: Promise<unknown>): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  let done = false;
  void until.then(
    () => (done = true),
    () => (done = true),
  );
  const vmsDir = path.join(stateDir, "vms");
  while (!done) {
    for (const id of readdirSync(vmsDir)) {
      if (seen.has(id)) continue;
      try {
        if (READY.test(readFileSync(path.join(vmsDir, id, "serial.log"), "utf8"))) seen.set(id, Date.now());
      } catch {
        /* not there yet */
      }
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return seen;
}

interface UpTimeline {
  total: number;
  /** start → first hostd call: engine, language runtime, program, provider start-up. */
  startup: number;
  /** first call → last vm.create reply. */
  create: number;
  /** last vm.create reply → last guest READY (the guest waits at most ~5 s for its lease before READY). */
  boot: number;
  /** last READY → the command returns: noticing the addresses, outputs, state. */
  finish: number;
  hostdBusy: number;
  calls: number;
  gets: number;
}

/** Time covered by the union of the calls' intervals. */
function busy(calls: HostdCall[]): number {
  const iv = calls.map((c) => [c.start, c.end] as const).sort((a, b) => a[0] - b[0]);
  let total = 0;
  let cur: [number, number] | undefined;
  for (const [s, e] of iv) {
    if (!cur || s > cur[1]) {
      if (cur) total += cur[1] - cur[0];
      cur = [s, e];
    } else cur[1] = Math.max(cur[1], e);
  }
  return total + (cur ? cur[1] - cur[0] : 0);
}

export const lab: Benchmark = {
  name: "lab",
  title: `Lab: ${VMS} VMs on one network, pulumi-kvm vs Terraform + terraform-provider-libvirt`,
  async run(ctx: BenchContext): Promise<void> {
    const kernel = tinyKernel();
    const rounds = ctx.quick ? 1 : 3;
    const ns = Netns.create();
    ctx.defer(() => ns.cleanup());
    // Debug level: hostd then logs reads too, which the timeline counts (vm.get polls).
    const hd = await startHostd(ctx, { netns: ns.host, env: { HOSTD_LOG_LEVEL: "debug" } });
    const proj = await PulumiProject.create(readFileSync(path.join(REPO, "examples", "lab", "index.ts"), "utf8"), {
      "kvm:socketPath": hd.socketPath,
      kernel: kernel.path,
      initrd: kernel.initrd,
      cmdline: kernel.cmdline,
      vmCount: String(VMS),
      cidr: "10.66.0.0/24",
      prefix: "bench",
    });
    ctx.defer(() => proj.cleanup());
    let peer: Peer | undefined;
    let peerError: string | undefined;
    if (!ctx.peer) peerError = "skipped by --no-peer.";
    else {
      try {
        peer = await Peer.start(ctx, { vmCount: VMS, kernel: kernel.path, initrd: kernel.initrd, cmdline: kernel.cmdline });
        ctx.defer(() => peer!.stop());
      } catch (e) {
        peerError = (e as Error).message;
        ctx.log(`lab: the peer is not available: ${peerError}`);
      }
    }
    // Pulumi's default parallelism is 4 × cores (8 here); Terraform's is 10. A create with
    // waitFor holds its slot while the guest boots, so both are measured: default, and 10.
    const variants: { label: string; parallel?: number }[] = [
      { label: `pulumi-kvm, default parallelism (4 × ${cpus().length} cores)` },
      { label: "pulumi-kvm, --parallel 10", parallel: 10 },
    ];
    const results = variants.map(() => ({ ups: [] as UpTimeline[], destroys: [] as { total: number; startup: number; calls: number }[], noop: [] as number[] }));
    const tfUp: number[] = [];
    const tfDestroy: number[] = [];
    const pulumiRound = async (v: number) => {
      const { parallel } = variants[v]!;
      const r = results[v]!;
      const t0 = Date.now();
      const up = proj.mustOperation("up", { parallel });
      const ready = await watchReady(hd.stateDir, up);
      await up;
      const t1 = Date.now();
      const calls = hostdCalls(hd.log, t0);
      const creates = calls.filter((c) => c.method === "vm.create");
      if (ready.size !== VMS || creates.length !== VMS) throw new Error(`pulumi up: ${ready.size} guests READY and ${creates.length} vm.create calls, expected ${VMS}`);
      const firstCall = Math.min(...calls.map((c) => c.start));
      const lastCreate = Math.max(...creates.map((c) => c.end));
      const lastReady = Math.max(...ready.values());
      const rel = (t: number) => ((t - t0) / 1000).toFixed(1);
      ctx.log(
        `lab (${variants[v]!.label}): vm.create calls started +${rel(Math.min(...creates.map((c) => c.start)))}…+${rel(Math.max(...creates.map((c) => c.start)))} s, ` +
          `replied +${rel(Math.min(...creates.map((c) => c.end)))}…+${rel(lastCreate)} s; guests READY +${rel(Math.min(...ready.values()))}…+${rel(lastReady)} s`,
      );
      r.ups.push({
        total: t1 - t0,
        startup: firstCall - t0,
        create: lastCreate - firstCall,
        boot: lastReady - lastCreate,
        finish: t1 - lastReady,
        hostdBusy: busy(calls),
        calls: calls.length,
        gets: calls.filter((c) => c.method === "vm.get").length,
      });
      // The same program again: nothing to do, so this is the fixed cost of an `up`.
      const n0 = Date.now();
      await proj.mustOperation("up", { expectNoChanges: true, parallel });
      r.noop.push(Date.now() - n0);
      const d0 = Date.now();
      await proj.mustOperation("destroy", { parallel });
      const d1 = Date.now();
      const dcalls = hostdCalls(hd.log, d0);
      r.destroys.push({ total: d1 - d0, startup: Math.min(...dcalls.map((c) => c.start)) - d0, calls: dcalls.length });
      ctx.log(`lab (${variants[v]!.label}): up ${((t1 - t0) / 1000).toFixed(1)} s, no-op up ${(r.noop.at(-1)! / 1000).toFixed(1)} s, destroy ${((d1 - d0) / 1000).toFixed(1)} s`);
    };
    for (let i = 0; i < rounds; i++) {
      const sides: (() => Promise<void>)[] = variants.map((_, v) => () => pulumiRound(v));
      if (peer) {
        sides.push(async () => {
          const r = await peer!.round();
          tfUp.push(r.up);
          tfDestroy.push(r.destroy);
          ctx.log(`lab: terraform apply ${(r.up / 1000).toFixed(1)} s, destroy ${(r.destroy / 1000).toFixed(1)} s`);
        });
      }
      await alternate(i, sides);
    }
    const sec = (ms: number) => ms / 1000;
    const tu = summarize(tfUp.map(sec));
    const td = summarize(tfDestroy.map(sec));
    const upS = results.map((r) => summarize(r.ups.map((u) => sec(u.total))));
    const dnS = results.map((r) => summarize(r.destroys.map((d) => sec(d.total))));
    ctx.report.table({
      title: `${VMS}-VM lab, wall time (s; median and range of ${rounds} round(s))`,
      header: ["tool", "up", "destroy", "up: Terraform ÷ this", "destroy: Terraform ÷ this"],
      rows: [
        ...variants.map((v, i) => [v.label, medRange(upS[i]!), medRange(dnS[i]!), peer ? ratio(tu.median, upS[i]!.median) : "", peer ? ratio(td.median, dnS[i]!.median) : ""]),
        peer
          ? [`Terraform ${peer.versions.terraform} + terraform-provider-libvirt ${peer.versions.provider} + libvirt ${peer.versions.libvirt} (default -parallelism=10)`, medRange(tu), medRange(td), "1.00×", "1.00×"]
          : ["Terraform + terraform-provider-libvirt", "not run", "not run", "", ""],
      ],
      notes: [
        ...(peerError ? [`The peer could not run here: ${peerError}`] : []),
        `Same guest (tiny, 128 MiB, 1 vCPU, direct kernel boot, -cpu max, q35), one isolated network with DHCP, both waiting for every VM's DHCP address (waitFor: "ip" / wait_for_lease). Ratios above 1 mean Terraform took longer.`,
        `Pulumi's default parallelism is 4 × cores: on ${cpus().length} cores, ${4 * cpus().length} resource operations at once, and a create with waitFor holds its slot until the guest has its address, so VMs beyond that are only created once earlier ones have their addresses. Set PULUMI_PARALLEL (or --parallel) to at least the number of VMs that should boot together.`,
      ],
    });
    const cols = results.map((r) => (f: (u: UpTimeline) => number) => fmt(sec(summarize(r.ups.map(f)).median)));
    const row = (phase: string, f: (u: UpTimeline) => number, what: string) => [phase, ...cols.map((c) => c(f)), what];
    ctx.report.table({
      title: `Where pulumi up's time goes (s; median of ${rounds})`,
      header: ["phase", ...variants.map((v) => v.label.replace("pulumi-kvm, ", "")), "what happens"],
      rows: [
        row("start-up", (u) => u.startup, "CLI, engine, Node language runtime, program, dynamic provider, until hostd's first call"),
        row("create", (u) => u.create, `first call → last vm.create reply: network.create, then ${VMS} vm.create calls (each returns once QEMU runs)`),
        row("guest boot", (u) => u.boot, "last vm.create reply → last guest READY (kernel, init, up to ~5 s for a DHCP lease; under emulation)"),
        row("finish", (u) => u.finish, "last READY → up returns: the provider sees the leases (it polls vm.get every 500 ms), outputs, state"),
        row("total", (u) => u.total, ""),
        row("hostd busy", (u) => u.hostdBusy, "time during which hostd was serving at least one call"),
        ["hostd calls (vm.get polls)", ...results.map((r) => `${fmt(summarize(r.ups.map((u) => u.calls)).median, 0)} (${fmt(summarize(r.ups.map((u) => u.gets)).median, 0)})`), ""],
        ["no-op up", ...results.map((r) => fmt(sec(summarize(r.noop).median))), "the same program again, nothing to change: the fixed cost of any up"],
        ["destroy", ...results.map((r) => fmt(sec(summarize(r.destroys.map((d) => d.total)).median))), "of which start-up until hostd's first call: " + results.map((r) => `${fmt(sec(summarize(r.destroys.map((d) => d.startup)).median))} s`).join(" / ")],
      ],
    });
  },
};
