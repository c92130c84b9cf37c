import { fmt, medRange, percentile, ratio, summarize } from "./stats";

test("summarize: median of odd and even counts, nearest-rank percentiles, range", () => {
  expect(summarize([3, 1, 2])).toMatchObject({ n: 3, median: 2, min: 1, max: 3, p50: 2, p99: 3 });
  expect(summarize([4, 1, 3, 2]).median).toBe(2.5);
  const hundred = Array.from({ length: 100 }, (_, i) => i + 1);
  expect(percentile(hundred, 99)).toBe(99);
  expect(percentile(hundred, 50)).toBe(50);
  expect(percentile([7], 99)).toBe(7);
  expect(summarize([]).median).toBeNaN();
});

test("formatting: digits by magnitude, ranges and ratios", () => {
  expect(fmt(1234.5)).toBe("1235");
  expect(fmt(12.34)).toBe("12.3");
  expect(fmt(1.234)).toBe("1.23");
  expect(fmt(0.1234)).toBe("0.123");
  expect(fmt(NaN)).toBe("n/a");
  expect(medRange(summarize([1, 2, 30]))).toBe("2.00 (1.00–30.0)");
  expect(ratio(11, 10)).toBe("1.10×");
  expect(ratio(1, 0)).toBe("n/a");
});
