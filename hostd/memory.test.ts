import { Logger } from "./log";
import { MemoryReleaser } from "./memory";

afterEach(() => jest.useRealTimers());

function releaser() {
  const lines: string[] = [];
  let releases = 0;
  const m = new MemoryReleaser(new Logger({}, "debug", (l) => lines.push(l)), async () => {
    releases++;
  });
  return { m, lines, releases: () => releases };
}

test("small connections closing cost nothing; a burst of bytes is released once, a moment after it ends", async () => {
  jest.useFakeTimers();
  const { m, lines, releases } = releaser();
  for (let i = 0; i < 100; i++) m.connectionClosed(1000);
  await jest.advanceTimersByTimeAsync(10_000);
  expect(releases()).toBe(0);
  // 200 connections that sent 1 MiB each: one release for all of them.
  for (let i = 0; i < 200; i++) m.connectionClosed(1024 * 1024);
  expect(releases()).toBe(0);
  await jest.advanceTimersByTimeAsync(1000);
  expect(releases()).toBe(1);
  expect(lines.filter((l) => l.includes("returned memory"))).toEqual([expect.stringContaining('"connections":300,"mibRead":200')]);
  // Counting starts again after a release.
  m.connectionClosed(1024 * 1024);
  await jest.advanceTimersByTimeAsync(10_000);
  expect(releases()).toBe(1);
  m.close();
});

test("many connections that sent nothing are released too (each leaves objects behind)", async () => {
  jest.useFakeTimers();
  const { m, releases } = releaser();
  for (let i = 0; i < 1000; i++) m.connectionClosed(0);
  await jest.advanceTimersByTimeAsync(1000);
  expect(releases()).toBe(1);
  m.close();
});
