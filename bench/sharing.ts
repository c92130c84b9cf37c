/**
 * Resource sharing:
 *   memory  N identical tiny guests, host memory (sum of the QEMUs' PSS)
 *           with KSM off and then on (QEMU marks guest RAM mergeable; KSM is
 *           the kernel's, switched by /sys/kernel/mm/ksm/run, restored after)
 *   disk    N copy-on-write clones of one base image vs standalone copies
 */
import { statSync } from "node:fs";
import { VmInfo } from "../sdk/protocol";
import { debianImage } from "../test/fixtures/guest";
import { sleep } from "../test/fixtures/env";
import { ksmRead, KsmSession, ksmUnavailable } from "./lib/ksm";
import { BenchContext, Benchmark, pssMiB, rssMiB } from "./lib/context";
import { startHostd, tinyKernel, whenReady } from "./lib/hosts";
import { fmt, medRange, ratio, since, summarize, timeEach } from "./lib/stats";

async function memory(ctx: BenchContext): Promise<void> {
  const n = ctx.quick ? 4 : 12;
  const why = ksmUnavailable();
  if (why) {
    ctx.report.para(`KSM: not measured — ${why}.`);
    return;
  }
  const ksm = new KsmSession();
  ctx.defer(() => ksm.restore());
  const hd = await startHostd(ctx);
  ksm.off();
  const c = hd.client();
  const vms: VmInfo[] = [];
  for (let i = 0; i < n; i++) vms.push(await c.vm.create({ name: `ksm-${i}`, memoryMiB: 256, kernel: tinyKernel() }));
  for (const v of vms) await whenReady(hd, v.id, 300_000);
  await sleep(5000);
  const measure = () => ({
    pss: vms.reduce((a, v) => a + pssMiB(v.pid!), 0),
    rss: vms.reduce((a, v) => a + rssMiB(v.pid!), 0),
  });
  const off = measure();
  ksm.on(5000);
  const t0 = performance.now();
  const settled = await ksm.settle(ctx.quick ? 90_000 : 240_000);
  const sharing = settled.sharing;
  const settleS = since(t0) / 1000;
  const on = measure();
  const shared = ksmRead("pages_shared");
  ctx.report.table({
    title: `Host memory of ${n} identical idle tiny guests (256 MiB each, ${(vms[0]!.accelerator ?? "unknown").toUpperCase()}), KSM off then on`,
    header: ["KSM", "sum of QEMU PSS (MiB)", "per VM (MiB)", "sum of RSS (MiB)"],
    rows: [
      ["off", fmt(off.pss), fmt(off.pss / n), fmt(off.rss)],
      [`on (${settled.timedOut ? "still changing" : "settled"} after ${fmt(settleS)} s, ${settled.fullScans} full scans)`, fmt(on.pss), fmt(on.pss / n), fmt(on.rss)],
    ],
    notes: [
      `KSM counted ${sharing} pages deduplicated into ${shared} shared pages across the host (${fmt((sharing * 4096) / 2 ** 20)} MiB saved by its own count); the guests' PSS with KSM on is ${ratio(on.pss, off.pss)} of that with it off.`,
      "PSS divides each shared page among the processes that map it, so it shows what KSM saves; RSS counts a shared page in full in every process and barely moves.",
      "KSM costs CPU: it scanned with pages_to_scan=5000 every 20 ms here (the kernel default is 100 pages); hostd leaves KSM's settings to the operator (`hostd doctor` reports them).",
    ],
  });
}

async function disks(ctx: BenchContext): Promise<void> {
  const n = ctx.quick ? 10 : 50;
  const copies = 2;
  const img = debianImage();
  const hd = await startHostd(ctx);
  const c = hd.client();
  const clones = await timeEach(n, (i) => c.disk.create({ name: `clone-${i}`, format: "qcow2", source: { kind: "hostPath", path: img.file, clone: true } }));
  const standalone = await timeEach(copies, (i) => c.disk.create({ name: `copy-${i}`, format: "qcow2", source: { kind: "hostPath", path: img.file, clone: false } }));
  const cloneMs = clones.ms;
  const copyMs = standalone.ms;
  // Just made, so each has its file (a size is null only for a Disk whose file is gone).
  const cloneBytes = clones.results.map((d) => d.actualSizeBytes!);
  const copyBytes = standalone.results.map((d) => d.actualSizeBytes!);
  const base = statSync(img.file).blocks * 512;
  const cb = summarize(cloneBytes);
  const pb = summarize(copyBytes);
  const totalClones = cloneBytes.reduce((a, b) => a + b, 0);
  const MiB = (b: number) => fmt(b / 2 ** 20);
  ctx.report.table({
    title: `Disk bytes: ${n} clones of one base image (Debian 12 cloud image, ${MiB(base)} MiB on disk, ${fmt(img.virtualSizeBytes / 2 ** 30)} GiB virtual)`,
    header: ["kind", "disks", "bytes per disk (MiB)", `host bytes for ${n} disks (MiB)`, "create time per disk (ms)"],
    rows: [
      ["copy-on-write clone", n, MiB(cb.median), `${MiB(totalClones + base)} (incl. the base once)`, medRange(summarize(cloneMs))],
      ["standalone copy", copies, MiB(pb.median), `${MiB(pb.median * n)} (${copies} measured × ${n})`, medRange(summarize(copyMs))],
    ],
    notes: [`${n} clones take ${ratio(totalClones + base, pb.median * n)} of the bytes of ${n} copies.`],
  });
}

export const sharing: Benchmark = {
  name: "sharing",
  title: "Resource sharing: KSM and copy-on-write disks",
  async run(ctx: BenchContext): Promise<void> {
    await disks(ctx);
    await memory(ctx);
  },
};
