/**
 * The real components a benchmark runs against — a hostd (and an sshd in
 * front of it) whose clean-up is registered with the run — and the tiny test
 * guest on them: its kernel spec, its READY line, many stopped VMs at once.
 */
import * as path from "node:path";
import { HostClient } from "../../sdk/client";
import { closeAllSshConnections } from "../../sdk/transport/ssh";
import { tinyGuest } from "../../test/fixtures/env";
import { HostdFixture } from "../../test/fixtures/hostd";
import { SshdFixture } from "../../test/fixtures/sshd";
import { BenchContext, whenFileMatches } from "./context";

/** The tiny guest's readiness line on its serial console (scripts/tiny-guest/rootfs/etc/init.d/rcS). */
export const READY = /READY ip=/;

/** A hostd for this benchmark, deleted with its VMs when the benchmark ends. */
export async function startHostd(ctx: BenchContext, o: Parameters<typeof HostdFixture.start>[0] = {}): Promise<HostdFixture> {
  const hd = await HostdFixture.start(o);
  ctx.defer(() => hd.cleanup());
  return hd;
}

/** An OpenSSH sshd on loopback, stopped (and the SDK's pooled connections closed) when the benchmark ends. */
export async function startSshd(ctx: BenchContext): Promise<SshdFixture> {
  const sshd = await SshdFixture.start();
  ctx.defer(() => sshd.stop());
  ctx.defer(() => closeAllSshConnections());
  return sshd;
}

/** The tiny test guest as a VM's `kernel` (direct kernel boot). */
export function tinyKernel(): { path: string; initrd: string; cmdline: string } {
  const g = tinyGuest();
  return { path: g.kernel, initrd: g.initrd, cmdline: g.cmdline };
}

/** A VM's serial console log on `hd`. */
export function serialLogPath(hd: HostdFixture, vmId: string): string {
  return path.join(hd.stateDir, "vms", vmId, "serial.log");
}

/** Resolves with the time (performance.now()) at which VM `vmId` on `hd` printed READY. */
export function whenReady(hd: HostdFixture, vmId: string, timeoutMs: number, stepMs?: number): Promise<number> {
  return whenFileMatches(serialLogPath(hd, vmId), READY, timeoutMs, stepMs);
}

/** Defines `count` stopped tiny VMs named `${prefix}-N`, `parallel` calls at a time; returns the wall time in ms. */
export async function defineVms(c: HostClient, prefix: string, count: number, parallel: number): Promise<number> {
  const kernel = tinyKernel();
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < count) {
        const i = next++;
        await c.vm.create({ name: `${prefix}-${i}`, memoryMiB: 128, kernel, running: false });
      }
    }),
  );
  return performance.now() - t0;
}
