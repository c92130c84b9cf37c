/**
 * Gives memory back to the kernel after bursts of connections.
 *
 * Why hostd's RSS used to stay at a flood's peak (200 connections each
 * sending a 1 MiB frame without its newline: 108 → 297 MiB, for good, even
 * after they closed): the frames' bytes live in Node's socket read buffers,
 * one malloc of up to 64 KiB per read. When the connections close, those are
 * garbage, but V8 collects only when JavaScript allocates again, which an idle
 * hostd does not; and once collected, glibc keeps the freed blocks (below its
 * mmap threshold, between blocks still in use) in its heap instead of
 * returning them. The frame timeout and the per-peer limit (hostd/server.ts)
 * bound how much a flood can make hostd hold; this returns it afterwards: once
 * connections that together sent a lot have closed, a full collection, then
 * malloc_trim.
 */
import * as v8 from "node:v8";
import * as vm from "node:vm";
import { loadNative } from "./addon";
import { Logger } from "./log";

/** Bytes sent by connections closed since the last release that make another worthwhile. */
const RELEASE_AFTER_BYTES = 8 * 1024 * 1024;
/** Closed connections that do (each leaves a few KiB of objects behind, even one that sent nothing). */
const RELEASE_AFTER_CONNECTIONS = 1000;
/** Wait this long after the close that crossed a line: a burst ends in many closes at once, and one release serves them all. */
const SETTLE_MS = 1000;
/** V8 frees the buffers' memory on a background thread just after the collection: trim again this much later for what it freed late. */
const SECOND_TRIM_MS = 1000;

export class MemoryReleaser {
  private bytes = 0;
  private connections = 0;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly log: Logger,
    /** The release itself (a test passes its own). */
    private readonly release: () => Promise<void> = releaseMemory,
  ) {
    if (release === releaseMemory && !mallocTrim()) log.warn("dist/native/memory.node missing: memory freed after a burst of connections stays with glibc, and hostd's RSS with it");
  }

  /** A connection that sent `bytesRead` bytes has closed. */
  connectionClosed(bytesRead: number): void {
    this.bytes += bytesRead;
    this.connections++;
    if (this.timer || (this.bytes < RELEASE_AFTER_BYTES && this.connections < RELEASE_AFTER_CONNECTIONS)) return;
    this.timer = setTimeout(() => void this.run(), SETTLE_MS).unref();
  }

  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async run(): Promise<void> {
    const { bytes, connections } = this;
    this.bytes = 0;
    this.connections = 0;
    const before = process.memoryUsage.rss();
    try {
      await this.release();
    } finally {
      this.timer = undefined;
    }
    const mib = (n: number) => Math.round(n / 1048576);
    this.log.info("returned memory to the kernel after connections closed", {
      connections,
      mibRead: mib(bytes),
      rssMiBBefore: mib(before),
      rssMiB: mib(process.memoryUsage.rss()),
    });
  }
}

/** A full garbage collection, then malloc_trim, twice (see SECOND_TRIM_MS). */
export async function releaseMemory(): Promise<void> {
  collectGarbage();
  const trim = mallocTrim();
  trim?.();
  await new Promise((r) => setTimeout(r, SECOND_TRIM_MS).unref());
  trim?.();
}

let gc: (() => void) | null | undefined;
/**
 * Node's only way to ask V8 for a full collection is its gc extension; it is
 * switched on here rather than on hostd's command line, so every way of
 * starting hostd (the systemd unit, `hostd serve`, tests) gets it.
 */
function collectGarbage(): void {
  if (gc === undefined) {
    try {
      v8.setFlagsFromString("--expose-gc");
      gc = vm.runInNewContext("gc") as () => void;
    } catch {
      gc = null;
    }
  }
  gc?.();
}

/** malloc_trim from dist/native/memory.node, or null when it was not built (then freed memory stays with glibc). */
function mallocTrim(): (() => boolean) | null {
  return loadNative("memory")?.mallocTrim ?? null;
}
