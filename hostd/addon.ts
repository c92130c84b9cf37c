/**
 * Loads hostd's native modules (hostd/native/*.c, built by
 * scripts/build-native.sh into dist/native/<name>.node), each once. One
 * loader, so every module is found in the same places and a missing one is
 * explained the same way.
 */
import { existsSync } from "node:fs";
import * as path from "node:path";
import type { PeerCred } from "./peer";
import type { OpenAs } from "./host-paths";

/** What each native module exports. */
export interface NativeModules {
  /** hostd/native/peercred.c */
  peercred: {
    peerCred(fd: number): PeerCred;
    /** flock(fd, LOCK_EX | LOCK_NB): true when taken, false when another open file holds the lock. */
    tryFlock(fd: number): boolean;
  };
  /** hostd/native/openas.c */
  openas: { openAs: OpenAs };
  /** hostd/native/memory.c */
  memory: { mallocTrim: () => boolean };
}
export type NativeName = keyof NativeModules;

/** Where a built module is: beside dist/hostd (the build), or in dist/ when hostd's sources run directly (unit tests). */
export function nativePaths(name: NativeName): string[] {
  return [path.join(__dirname, "..", "native", `${name}.node`), path.join(__dirname, "..", "dist", "native", `${name}.node`)];
}

const loaded = new Map<NativeName, { module: unknown; problem: string }>();

function load<N extends NativeName>(name: N): { module: NativeModules[N] | null; problem: string } {
  let entry = loaded.get(name);
  if (!entry) {
    const candidates = nativePaths(name);
    const file = candidates.find((p) => existsSync(p));
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      entry = file ? { module: require(file), problem: "" } : { module: null, problem: `${candidates[0]} is missing` };
    } catch (e) {
      entry = { module: null, problem: `${file} does not load: ${(e as Error).message}` };
    }
    loaded.set(name, entry);
  }
  return entry as { module: NativeModules[N] | null; problem: string };
}

/** The native module, or null when it was not built or does not load ({@link nativeProblem} says why). */
export function loadNative<N extends NativeName>(name: N): NativeModules[N] | null {
  return load(name).module;
}

/** Why {@link loadNative} returned null for this module ("" when it loaded). */
export function nativeProblem(name: NativeName): string {
  return load(name).problem;
}
