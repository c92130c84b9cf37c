import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { KvmError } from "../sdk/errors";
import { lockStateDir, readStateDirHolder, stateLockPath } from "./state-lock";

const HOST = "3f2a9c1e-7b4d-4e2a-9c1e-7b4d4e2a9c1e";

test("one holder per state directory; the second is told who holds it; released, it can be taken again", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "state-lock-"));
  try {
    const first = lockStateDir(dir, { socket: "/run/a.sock", hostId: HOST });
    expect(readStateDirHolder(dir)).toMatchObject({ pid: process.pid, socket: "/run/a.sock", hostId: HOST });
    expect(statSync(stateLockPath(dir)).mode & 0o777).toBe(0o600);
    let err: unknown;
    try {
      lockStateDir(dir, { socket: "/run/b.sock", hostId: HOST });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KvmError);
    expect((err as KvmError).code).toBe("conflict");
    expect((err as KvmError).message).toMatch(new RegExp(`State directory ${dir} is in use by another hostd \\(hostd pid ${process.pid}, serving /run/a.sock, started .*, host id ${HOST}\\)`));
    // The refused one wrote nothing: the holder's details stay.
    expect(readStateDirHolder(dir)?.socket).toBe("/run/a.sock");
    first.release();
    const again = lockStateDir(dir, { socket: "/run/b.sock", hostId: HOST });
    expect(readStateDirHolder(dir)?.socket).toBe("/run/b.sock");
    again.release();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
