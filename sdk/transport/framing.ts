/**
 * Newline-delimited JSON framing shared by hostd, the client and the QMP driver.
 */
import { Readable } from "node:stream";
import { MAX_FRAME_BYTES } from "../protocol/common";

/**
 * Decodes one frame. Fatal: bytes that are not UTF-8 are refused, never
 * rewritten with U+FFFD (which would let a corrupted name or cloud-init
 * user-data through as different text). `ignoreBOM` keeps a leading BOM as a
 * character, as Buffer#toString does, instead of stripping it silently.
 */
const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** The text of `bytes`, or undefined when they are not UTF-8. */
export function decodeUtf8(bytes: Uint8Array): string | undefined {
  try {
    return UTF8.decode(bytes);
  } catch {
    return undefined;
  }
}

/** Why a reader gave up on its stream. */
export type StopReason = "too_large" | "timed_out";

export interface LineHandlers {
  /** A complete line without its newline, decoded as UTF-8. Blank lines are skipped. */
  onLine(line: string): void;
  /** A complete line whose bytes are not UTF-8. Reading goes on with the next line. */
  onNotUtf8(): void;
  /**
   * An unfinished frame grew past `maxBytes`, or did not end within
   * `frameTimeoutMs`: the reader has dropped it and reads nothing more.
   */
  onStop(why: StopReason): void;
}

export interface LineReaderOptions {
  /** Default {@link MAX_FRAME_BYTES}. */
  maxBytes?: number;
  /** How long a frame may take from its first byte to its newline. Default: no limit. */
  frameTimeoutMs?: number;
}

export interface LineReader {
  /** Stops reading and drops the unfinished frame (an upgrade to raw bytes, say). */
  stop(): void;
  /** Bytes of the unfinished frame held now. */
  readonly buffered: number;
}

/**
 * Splits a byte stream into lines, holding at most one unfinished frame of at
 * most `maxBytes`, for at most `frameTimeoutMs`. What it holds is dropped as
 * soon as it is of no use: on a complete line, on overflow or timeout, and
 * when the stream ends or closes (a frame cut short is never answered), so a
 * closed connection keeps nothing alive through this reader.
 */
export function readLines(stream: Readable, h: LineHandlers, o: LineReaderOptions = {}): LineReader {
  const maxBytes = o.maxBytes ?? MAX_FRAME_BYTES;
  let chunks: Buffer[] = [];
  let size = 0;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;

  const drop = () => {
    chunks = [];
    size = 0;
    if (timer) clearTimeout(timer);
    timer = undefined;
  };
  const stop = () => {
    if (stopped) return;
    stopped = true;
    drop();
    stream.off("data", onData);
    stream.off("end", drop);
    stream.off("close", stop);
  };
  const giveUp = (why: StopReason) => {
    stop();
    h.onStop(why);
  };
  const onData = (data: Buffer | string) => {
    let buf = typeof data === "string" ? Buffer.from(data) : data;
    while (!stopped) {
      const nl = buf.indexOf(0x0a);
      if (size + (nl < 0 ? buf.length : nl) > maxBytes) {
        giveUp("too_large");
        return;
      }
      if (nl < 0) {
        if (buf.length === 0) return;
        chunks.push(buf);
        size += buf.length;
        if (timer === undefined && o.frameTimeoutMs !== undefined) {
          timer = setTimeout(() => giveUp("timed_out"), o.frameTimeoutMs);
          // A pending frame is no reason for a process to stay alive.
          timer.unref();
        }
        return;
      }
      chunks.push(buf.subarray(0, nl));
      const bytes = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size + nl);
      drop();
      buf = buf.subarray(nl + 1);
      const line = decodeUtf8(bytes);
      if (line === undefined) h.onNotUtf8();
      else if (line.trim() !== "") h.onLine(line);
    }
  };
  stream.on("data", onData);
  stream.on("end", drop);
  stream.on("close", stop);
  return {
    stop,
    get buffered() {
      return size;
    },
  };
}
