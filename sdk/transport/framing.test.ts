import { PassThrough } from "node:stream";
import { readLines } from "./framing";

test("splits lines across chunk boundaries and skips blank lines", () => {
  const s = new PassThrough();
  const lines: string[] = [];
  readLines(s, (l) => lines.push(l), () => lines.push("OVERFLOW"));
  s.write('{"a":');
  s.write('1}\n\n{"b"');
  s.write(":2}\n");
  expect(lines).toEqual(['{"a":1}', '{"b":2}']);
});

test("a line over the limit overflows once and stops", () => {
  const s = new PassThrough();
  const lines: string[] = [];
  readLines(s, (l) => lines.push(l), () => lines.push("OVERFLOW"), 10);
  s.write("12345");
  s.write("678901234\nmore\n");
  expect(lines).toEqual(["OVERFLOW"]);
});

test("multi-byte characters split across chunks survive", () => {
  const s = new PassThrough();
  const lines: string[] = [];
  readLines(s, (l) => lines.push(l), () => undefined);
  const buf = Buffer.from("héllo\n");
  s.write(buf.subarray(0, 2));
  s.write(buf.subarray(2));
  expect(lines).toEqual(["héllo"]);
});
