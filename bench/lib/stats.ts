/**
 * Small statistics for benchmark samples: medians and ranges for repeated
 * runs, percentiles for latency distributions, and ratios between two sides
 * measured in the same run.
 */

export interface Summary {
  n: number;
  median: number;
  min: number;
  max: number;
  p50: number;
  p99: number;
  mean: number;
}

/** Nearest-rank percentile (p in 0..100) of sorted samples. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export function summarize(samples: readonly number[]): Summary {
  const s = [...samples].sort((a, b) => a - b);
  const n = s.length;
  const median = n === 0 ? NaN : n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
  return {
    n,
    median,
    min: s[0] ?? NaN,
    max: s[n - 1] ?? NaN,
    p50: percentile(s, 50),
    p99: percentile(s, 99),
    mean: n === 0 ? NaN : s.reduce((a, b) => a + b, 0) / n,
  };
}

/** Formats a number with a sensible number of digits for a table. */
export function fmt(v: number, digits?: number): string {
  if (!Number.isFinite(v)) return "n/a";
  const d = digits ?? (Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : Math.abs(v) >= 1 ? 2 : 3);
  return v.toFixed(d);
}

/** "median (min–max)" in one cell. */
export function medRange(s: Summary, digits?: number): string {
  return `${fmt(s.median, digits)} (${fmt(s.min, digits)}–${fmt(s.max, digits)})`;
}

/** "1.23×" — how many times `a` is of `b`. */
export function ratio(a: number, b: number): string {
  return b > 0 && Number.isFinite(a) ? `${(a / b).toFixed(2)}×` : "n/a";
}

/** Milliseconds since `t0` (from `performance.now()`). */
export function since(t0: number): number {
  return performance.now() - t0;
}

/** Runs `fn(0..n-1)` one after another; returns each call's time in ms and its result. */
export async function timeEach<T>(n: number, fn: (i: number) => Promise<T>): Promise<{ ms: number[]; results: T[] }> {
  const ms: number[] = [];
  const results: T[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    results.push(await fn(i));
    ms.push(since(t0));
  }
  return { ms, results };
}
