/**
 * Loads hostd's native module (hostd/native/peercred.c, built by
 * scripts/build-native.sh into dist/native/peercred.node) once.
 */
import { existsSync } from "node:fs";
import * as path from "node:path";
import type { PeerCred } from "./peer";

export interface Addon {
  peerCred(fd: number): PeerCred;
  /** flock(fd, LOCK_EX | LOCK_NB): true when taken, false when another open file holds the lock. */
  tryFlock(fd: number): boolean;
}

/** Where the built module is: beside dist/hostd (the build), or in dist/ when hostd's sources run directly (unit tests). */
export const ADDON_PATHS = [path.join(__dirname, "..", "native", "peercred.node"), path.join(__dirname, "..", "dist", "native", "peercred.node")];

let loaded: Addon | null | undefined;
let problem = "";

/** The native module, or null when it was not built or does not load ({@link addonProblem} says why). */
export function loadAddon(): Addon | null {
  if (loaded === undefined) {
    const file = ADDON_PATHS.find((p) => existsSync(p));
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      loaded = file ? (require(file) as Addon) : null;
      if (!file) problem = `${ADDON_PATHS[0]} is missing`;
    } catch (e) {
      loaded = null;
      problem = `${file} does not load: ${(e as Error).message}`;
    }
  }
  return loaded;
}

/** Why {@link loadAddon} returned null. */
export function addonProblem(): string {
  return problem;
}
