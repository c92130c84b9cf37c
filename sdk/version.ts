import { readFileSync } from "node:fs";
import * as path from "node:path";

/** The pulumi-kvm package version, found by walking up from this file (works from source and from dist). */
export const PACKAGE_VERSION: string = (() => {
  for (let dir = __dirname; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")) as { name?: string; version?: string };
      if (pkg.name === "pulumi-kvm" && pkg.version) return pkg.version;
    } catch {
      /* keep walking */
    }
  }
  return "0.0.0-unknown";
})();
