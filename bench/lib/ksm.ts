/**
 * The kernel's same-page merging (KSM), switched through /sys/kernel/mm/ksm.
 * QEMU marks guest RAM mergeable by default, so with KSM running identical
 * guests share their identical pages. Benchmarks that turn it on restore the
 * host's settings afterwards (`KsmSession.restore`).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { sleep } from "../../test/fixtures/env";

const KSM = "/sys/kernel/mm/ksm";

export const ksmRead = (f: string): number => Number(readFileSync(`${KSM}/${f}`, "utf8").trim());
const ksmWrite = (f: string, v: number) => writeFileSync(`${KSM}/${f}`, String(v));

/** Why KSM cannot be used here, or undefined if it can. */
export function ksmUnavailable(): string | undefined {
  try {
    ksmWrite("run", ksmRead("run"));
    return undefined;
  } catch (e) {
    return `${KSM}/run is missing or not writable (${(e as Error).message})`;
  }
}

export class KsmSession {
  private readonly saved = { run: ksmRead("run"), pages: ksmRead("pages_to_scan"), sleep: ksmRead("sleep_millisecs") };

  /** Unmerges everything and stops KSM, so a measurement starts from nothing merged. */
  off(): void {
    ksmWrite("run", 2);
    ksmWrite("run", 0);
  }

  /** Starts KSM scanning `pagesToScan` pages every `sleepMs`. */
  on(pagesToScan: number, sleepMs = 20): void {
    ksmWrite("pages_to_scan", pagesToScan);
    ksmWrite("sleep_millisecs", sleepMs);
    ksmWrite("run", 1);
  }

  /**
   * Waits until KSM has made at least two full passes since now (a page is
   * merged on the second pass that finds it unchanged) and pages_sharing
   * stops growing (two readings 5 s apart within 1%), or `timeoutMs`.
   */
  async settle(timeoutMs: number): Promise<{ sharing: number; fullScans: number; timedOut: boolean }> {
    const end = performance.now() + timeoutMs;
    const scans0 = ksmRead("full_scans");
    let last = -1;
    for (;;) {
      await sleep(5000);
      const now = ksmRead("pages_sharing");
      const fullScans = ksmRead("full_scans") - scans0;
      if (fullScans >= 2 && last >= 0 && Math.abs(now - last) <= Math.max(16, last * 0.01)) return { sharing: now, fullScans, timedOut: false };
      if (performance.now() > end) return { sharing: now, fullScans, timedOut: true };
      last = now;
    }
  }

  /** Unmerges what was merged and puts the host's settings back. */
  restore(): void {
    ksmWrite("run", 2);
    ksmWrite("pages_to_scan", this.saved.pages);
    ksmWrite("sleep_millisecs", this.saved.sleep);
    ksmWrite("run", this.saved.run === 2 ? 0 : this.saved.run);
  }
}
