/**
 * The host's identity: a UUID made once and kept in hostd's state directory
 * (`host-id`). It is what makes two hostds two hosts, whatever address, port,
 * user or socket path reaches them; a copy of a state directory is the same
 * host (that is what it means to move hostd to new hardware with its VMs).
 */
import { randomUUID } from "node:crypto";
import { linkSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { HostId } from "../sdk/protocol";

/** Reads the state directory's host id, making it the first time (atomically: two racing starts agree). */
export function loadHostId(stateDir: string): string {
  const file = path.join(stateDir, "host-id");
  const existing = readHostId(file);
  if (existing) return existing;
  const tmp = `${file}.${process.pid}.${randomUUID()}`;
  writeFileSync(tmp, randomUUID() + "\n", { mode: 0o644 });
  try {
    // link(2) fails if the name exists: whoever links first wins, and everyone reads that one.
    linkSync(tmp, file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
  } finally {
    rmSync(tmp, { force: true });
  }
  const made = readHostId(file);
  if (!made) throw new Error(`${file} does not hold a host id (a UUID); remove it only if this state directory holds no VMs`);
  return made;
}

/** The state directory's host id without making one (`hostd doctor`); undefined when there is none yet. */
export function peekHostId(stateDir: string): string | undefined {
  return readHostId(path.join(stateDir, "host-id"));
}

function readHostId(file: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(file, "utf8").trim();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
  const parsed = HostId.safeParse(text);
  if (!parsed.success) throw new Error(`${file} does not hold a host id (a UUID): ${JSON.stringify(text.slice(0, 60))}`);
  return parsed.data;
}
