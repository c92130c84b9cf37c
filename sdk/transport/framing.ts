/**
 * Newline-delimited JSON framing shared by hostd and the client.
 */
import { Readable } from "node:stream";
import { MAX_FRAME_BYTES } from "../protocol/common";

/**
 * Splits a byte stream into lines, enforcing a frame limit so a peer cannot
 * make the reader buffer without bound. Calls `onLine` per complete line and
 * `onOverflow` once (then stops) when a line exceeds `maxBytes`.
 */
export function readLines(
  stream: Readable,
  onLine: (line: string) => void,
  onOverflow: () => void,
  maxBytes = MAX_FRAME_BYTES,
): void {
  let chunks: Buffer[] = [];
  let size = 0;
  let overflowed = false;
  stream.on("data", (data: Buffer | string) => {
    if (overflowed) return;
    let buf = typeof data === "string" ? Buffer.from(data) : data;
    for (;;) {
      const nl = buf.indexOf(0x0a);
      if (nl < 0) {
        size += buf.length;
        if (size > maxBytes) {
          overflowed = true;
          chunks = [];
          onOverflow();
          return;
        }
        chunks.push(buf);
        return;
      }
      if (size + nl > maxBytes) {
        overflowed = true;
        chunks = [];
        onOverflow();
        return;
      }
      chunks.push(buf.subarray(0, nl));
      const line = Buffer.concat(chunks).toString("utf8");
      chunks = [];
      size = 0;
      buf = buf.subarray(nl + 1);
      if (line.trim() !== "") onLine(line);
    }
  });
}
