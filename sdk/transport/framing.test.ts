import { PassThrough } from "node:stream";
import { decodeUtf8, LineReaderOptions, readLines } from "./framing";

/** A reader over a PassThrough that records what it reports, in order. */
function reader(o?: LineReaderOptions) {
  const s = new PassThrough();
  const seen: string[] = [];
  const r = readLines(s, { onLine: (l) => seen.push(l), onNotUtf8: () => seen.push("NOT-UTF8"), onStop: (why) => seen.push(`STOP ${why}`) }, o);
  return { s, seen, r };
}

afterEach(() => jest.useRealTimers());

test("splits lines across chunk boundaries and skips blank lines", () => {
  const { s, seen } = reader();
  s.write('{"a":');
  s.write('1}\n\n{"b"');
  s.write(":2}\n");
  expect(seen).toEqual(['{"a":1}', '{"b":2}']);
});

test("a line over the limit stops the reader once and drops what it held", () => {
  const { s, seen, r } = reader({ maxBytes: 10 });
  s.write("12345");
  expect(r.buffered).toBe(5);
  s.write("678901234\nmore\n");
  expect(seen).toEqual(["STOP too_large"]);
  expect(r.buffered).toBe(0);
  s.write("later\n");
  expect(seen).toEqual(["STOP too_large"]);
});

test("a line of exactly the limit passes", () => {
  const { s, seen } = reader({ maxBytes: 10 });
  s.write("1234567890\n");
  expect(seen).toEqual(["1234567890"]);
});

test("multi-byte characters split across chunks survive", () => {
  const { s, seen } = reader();
  const buf = Buffer.from("héllo\n");
  s.write(buf.subarray(0, 2));
  s.write(buf.subarray(2));
  expect(seen).toEqual(["héllo"]);
});

test("a line that is not UTF-8 is refused, never rewritten with U+FFFD, and the next line still reads", () => {
  const { s, seen } = reader();
  const bad = [
    [0xff], // never in UTF-8
    [0xc3], // a sequence cut short
    [0xc0, 0x80], // an overlong NUL
    [0xed, 0xa0, 0x80], // a UTF-16 surrogate
    [0xf4, 0x90, 0x80, 0x80], // past U+10FFFF
  ];
  for (const b of bad) s.write(Buffer.concat([Buffer.from('{"name":"'), Buffer.from(b), Buffer.from('"}\n')]));
  s.write('{"name":"ok"}\n');
  expect(seen).toEqual([...bad.map(() => "NOT-UTF8"), '{"name":"ok"}']);
});

test("decodeUtf8 keeps a leading BOM and U+FFFD that was really sent", () => {
  expect(decodeUtf8(Buffer.from("\ufeff{}"))).toBe("\ufeff{}");
  expect(decodeUtf8(Buffer.from("\ufffd"))).toBe("\ufffd");
  expect(decodeUtf8(Buffer.from([0x61, 0xff]))).toBeUndefined();
});

test("a frame that does not end within the frame timeout stops the reader and drops it", () => {
  jest.useFakeTimers();
  const { s, seen, r } = reader({ frameTimeoutMs: 1000 });
  s.write('{"id":"1"');
  jest.advanceTimersByTime(999);
  s.write(',"method":');
  expect(seen).toEqual([]);
  // The clock runs from the frame's first byte, not its last: a trickle does not keep it alive.
  jest.advanceTimersByTime(1);
  expect(seen).toEqual(["STOP timed_out"]);
  expect(r.buffered).toBe(0);
  s.write('"host.hello"}\n');
  expect(seen).toEqual(["STOP timed_out"]);
});

test("the frame timeout covers one frame: finished frames and the time between frames do not count", () => {
  jest.useFakeTimers();
  const { s, seen } = reader({ frameTimeoutMs: 1000 });
  s.write("a");
  jest.advanceTimersByTime(900);
  s.write("b\nc");
  jest.advanceTimersByTime(900);
  s.write("d\n");
  // Nothing buffered: no clock runs, however long the line stays quiet.
  jest.advanceTimersByTime(10_000);
  s.write("e\n");
  expect(seen).toEqual(["ab", "cd", "e"]);
});

test("the end of the stream drops an unfinished frame (never answered, no timeout later)", () => {
  jest.useFakeTimers();
  const { s, seen, r } = reader({ frameTimeoutMs: 1000 });
  s.write("half a fra");
  expect(r.buffered).toBe(10);
  s.end();
  s.resume();
  return new Promise<void>((done) =>
    s.once("end", () => {
      expect(r.buffered).toBe(0);
      jest.advanceTimersByTime(5000);
      expect(seen).toEqual([]);
      done();
    }),
  );
});

test("stop() drops the unfinished frame and reads nothing more; so does the stream's close", () => {
  const a = reader({ frameTimeoutMs: 1000 });
  a.s.write("partial");
  a.r.stop();
  expect(a.r.buffered).toBe(0);
  a.s.write("rest\nnext\n");
  expect(a.seen).toEqual([]);

  const b = reader({ frameTimeoutMs: 1000 });
  b.s.write("partial");
  b.s.destroy();
  return new Promise<void>((done) =>
    b.s.once("close", () => {
      expect(b.r.buffered).toBe(0);
      expect(b.s.listenerCount("data")).toBe(0);
      done();
    }),
  );
});
