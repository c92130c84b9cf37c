import { KeyedMutex } from "./mutex";

test("same key runs one at a time, different keys run together, failures do not block", async () => {
  const m = new KeyedMutex();
  const log: string[] = [];
  const step = (k: string, ms: number, fail = false) =>
    m.run(k, async () => {
      log.push(`start ${k}${ms}`);
      await new Promise((r) => setTimeout(r, ms));
      log.push(`end ${k}${ms}`);
      if (fail) throw new Error("boom");
    });
  await Promise.allSettled([step("a", 30, true), step("a", 10), step("b", 5)]);
  expect(log.indexOf("end a30")).toBeLessThan(log.indexOf("start a10"));
  expect(log.indexOf("start b5")).toBeLessThan(log.indexOf("end a30"));
});
