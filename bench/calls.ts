/**
 * Call overhead: vm.get and vm.list through the SSH transport (OpenSSH sshd
 * on 127.0.0.1, one pooled connection, one channel per call) against the
 * local unix socket, calls interleaved; the SSH handshake (first call on a
 * fresh connection) measured apart; vm.list of 1,000 defined VMs.
 *
 * Target: p50 ≤ 2 ms over SSH on loopback; listing 1,000 VMs is one round trip.
 */
import { HostClient } from "../sdk/client";
import { closeAllSshConnections, SshTransport } from "../sdk/transport/ssh";
import { BenchContext, Benchmark } from "./lib/context";
import { defineVms, startHostd, startSshd, tinyKernel } from "./lib/hosts";
import { fmt, medRange, ratio, since, Summary, summarize } from "./lib/stats";

/** Times `iterations` rounds of `call` on each client, interleaved (order flips each round). */
async function interleaved(iterations: number, sides: Record<string, () => Promise<unknown>>): Promise<Record<string, Summary>> {
  const names = Object.keys(sides);
  const samples: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (let i = 0; i < iterations; i++) {
    const order = i % 2 ? [...names].reverse() : names;
    for (const n of order) {
      const t0 = performance.now();
      await sides[n]!();
      samples[n]!.push(since(t0));
    }
  }
  return Object.fromEntries(names.map((n) => [n, summarize(samples[n]!)]));
}

export const calls: Benchmark = {
  name: "calls",
  title: "Call overhead: vm.get and vm.list, SSH (pooled) vs local socket",
  async run(ctx: BenchContext): Promise<void> {
    const kernel = tinyKernel();
    const iterations = ctx.quick ? 300 : 2000;
    const hd = await startHostd(ctx);
    const sshd = await startSshd(ctx);
    const local = hd.client();
    const opts = sshd.transportOptions(hd.socketPath);
    // Ten VMs, one of them running, as on a small host.
    await defineVms(local, "small", 9, 4);
    await local.vm.create({ name: "small-running", memoryMiB: 128, kernel });

    // Handshake: the first call on a fresh pooled connection, then a second call on it.
    const first: number[] = [];
    const second: number[] = [];
    for (let i = 0; i < (ctx.quick ? 5 : 15); i++) {
      closeAllSshConnections();
      const c = new HostClient(new SshTransport(opts));
      let t0 = performance.now();
      await c.vm.get("small-running");
      first.push(since(t0));
      t0 = performance.now();
      await c.vm.get("small-running");
      second.push(since(t0));
    }
    closeAllSshConnections();
    const t = new SshTransport(opts);
    const ssh = new HostClient(t);
    await ssh.vm.get("small-running"); // connect once; everything below is pooled
    const handshakesBefore = t.stats.handshakes;

    ctx.log(`calls: ${iterations} interleaved calls per side and method`);
    const get = await interleaved(iterations, { local: () => local.vm.get("small-running"), ssh: () => ssh.vm.get("small-running") });
    const list10 = await interleaved(iterations, { local: () => local.vm.list(), ssh: () => ssh.vm.list() });

    // 1,000 defined VMs (one running).
    const defineMs = await defineVms(local, "many", 990, 8);
    ctx.log(`calls: defined 990 more VMs in ${(defineMs / 1000).toFixed(1)} s`);
    const channelsBefore = t.stats.channels;
    const listed = (await ssh.vm.list()).vms.length;
    const channelsPerList = t.stats.channels - channelsBefore;
    const list1000 = await interleaved(ctx.quick ? 30 : 200, { local: () => local.vm.list(), ssh: () => ssh.vm.list() });
    const replyBytes = Buffer.byteLength(JSON.stringify(await local.vm.list()));
    const handshakesDuring = t.stats.handshakes - handshakesBefore;

    const h1 = summarize(first);
    const h2 = summarize(second);
    const row = (what: string, s: Record<string, Summary>) => [
      what,
      fmt(s.local!.p50),
      fmt(s.local!.p99),
      fmt(s.ssh!.p50),
      fmt(s.ssh!.p99),
      ratio(s.ssh!.p50, s.local!.p50),
    ];
    ctx.report.table({
      title: `Latency per call (ms), ${iterations} calls per side for get and list of 10, interleaved`,
      header: ["call", "local p50", "local p99", "SSH p50", "SSH p99", "SSH/local p50"],
      rows: [row("vm.get", get), row("vm.list, 10 VMs", list10), row(`vm.list, ${listed} VMs`, list1000)],
      notes: [
        `Target SSH p50 ≤ 2 ms: vm.get ${get.ssh!.p50 <= 2 ? "met" : "missed"} (${fmt(get.ssh!.p50)} ms), vm.list of 10 ${list10.ssh!.p50 <= 2 ? "met" : "missed"} (${fmt(list10.ssh!.p50)} ms).`,
        `Listing ${listed} VMs took ${channelsPerList} SSH channel(s), i.e. ${channelsPerList} round trip(s); the reply is ${(replyBytes / 1024).toFixed(0)} KiB of JSON.`,
        `New SSH handshakes during all the pooled calls above: ${handshakesDuring}.`,
        "Local: a new unix-socket connection per call (LocalTransport). SSH: OpenSSH sshd on 127.0.0.1, ed25519 key, stream-local forwarding to hostd's socket, one channel per call on one pooled connection.",
      ],
    });
    ctx.report.table({
      title: "SSH connection set-up (ms): the first call on a fresh connection vs the next call on it",
      header: ["runs", "first call (TCP + key exchange + auth + channel + call)", "second call (pooled)", "handshake cost"],
      rows: [[h1.n, medRange(h1), medRange(h2), fmt(h1.median - h2.median)]],
      notes: ["Paid once per host per process: the provider and the SDK keep one connection per host and open a channel per call."],
    });
    ctx.report.table({
      title: "Defining VMs (stopped) through hostd",
      header: ["VMs", "parallel calls", "wall time (s)", "VMs/s"],
      rows: [[990, 8, fmt(defineMs / 1000), fmt(990 / (defineMs / 1000))]],
    });
  },
};
