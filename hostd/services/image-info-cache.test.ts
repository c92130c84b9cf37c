import { appendFileSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import type { ImageInfo } from "../drivers/qemu-img";
import { ImageInfoCache } from "./image-info-cache";

let dir: string;
let reads: string[];
let cache: ImageInfoCache;
/** Stands in for qemu-img info: counts its runs, reports the file's length as its size. */
const fakeInfo = async (file: string): Promise<ImageInfo> => {
  reads.push(file);
  return { format: "raw", virtualSize: reads.length, actualSize: 0 };
};
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), "info-cache-"));
  reads = [];
  cache = new ImageInfoCache(fakeInfo);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function disk(name: string, content = "x"): string {
  const p = path.join(dir, name);
  writeFileSync(p, content);
  return p;
}

test("a second look at unchanged files runs no qemu-img", async () => {
  const a = disk("a");
  const b = disk("b");
  const first = await Promise.all([cache.info(a), cache.info(b)]);
  expect(reads.sort()).toEqual([a, b].sort());
  expect(await Promise.all([cache.info(a), cache.info(b)])).toEqual(first);
  expect(reads).toHaveLength(2);
});

test("a file that changed is read again: written to, or replaced by another file", async () => {
  const a = disk("a");
  await cache.info(a);
  appendFileSync(a, "more");
  await cache.info(a);
  expect(reads).toEqual([a, a]);
  // Same size, another inode: a file put in its place.
  const other = disk("other");
  renameSync(other, a);
  await cache.info(a);
  expect(reads).toEqual([a, a, a]);
  await cache.info(a);
  expect(reads).toHaveLength(3);
});

test("after hostd's own write (forget) the file is read again", async () => {
  const a = disk("a");
  await cache.info(a);
  cache.forget(a);
  await cache.info(a);
  expect(reads).toEqual([a, a]);
});

test("a missing file is the caller's error, and nothing is kept for it", async () => {
  const a = disk("a");
  await cache.info(a);
  rmSync(a);
  await expect(cache.info(a)).rejects.toMatchObject({ code: "ENOENT" });
  disk("a");
  await cache.info(a);
  expect(reads).toEqual([a, a]);
});
