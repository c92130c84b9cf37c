/**
 * cloud-init NoCloud seeds: a small ISO9660 image labelled `cidata` holding
 * `user-data`, `meta-data` and optionally `network-config` / `vendor-data`,
 * which cloud-init in the guest finds by its label.
 *
 * The image is built by an mkisofs-compatible program run through the exec
 * helper, on plain files: no loop device, no mount, no root needed. We prefer
 * `xorriso -as mkisofs` (libisofs, maintained, one package) over `genisoimage`
 * (cdrkit, unmaintained since 2010, known Joliet/Rock Ridge bugs) and fall
 * back to `genisoimage`/`mkisofs` where xorriso is missing. `HOSTD_ISO_TOOL`
 * names a program to use instead (its kind is taken from its file name:
 * `xorriso*` gets `-as mkisofs`, anything else is called mkisofs-style).
 *
 * user-data may carry secrets (passwords, keys, tokens), so it is staged in
 * a private directory (0700, files 0600), the image is written 0600, and
 * Rock Ridge records root:root with those modes, so inside the guest only
 * root can read it either. The seed replaces any previous one atomically
 * (write beside it, fsync, rename), so a VM never sees a half-written seed,
 * and a failed build leaves the old seed untouched.
 *
 * For callers: attach the seed as a read-only virtio-blk disk, not a cdrom.
 * Debian's `-cloud-` kernels have no AHCI/ATA driver, so an IDE/SATA cdrom
 * is invisible to them; cloud-init finds the disk by its `cidata` label.
 */
import { createHash } from "node:crypto";
import { constants } from "node:fs";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { ExecError, run } from "../exec";

/** The files of one NoCloud seed, as text. Optional files are left out of the image when undefined. */
export interface SeedFiles {
  userData: string;
  metaData: string;
  networkConfig?: string;
  vendorData?: string;
}

/**
 * - `invalid`: a value given to renderMetaData cannot be used.
 * - `tool_missing`: neither xorriso nor genisoimage/mkisofs is installed.
 * - `build_failed`: the ISO tool ran and failed (`cause` is its ExecError, with stderr).
 * - `io`: staging, writing or renaming the files failed (`cause` is the fs error).
 */
export type CloudInitErrorKind = "invalid" | "tool_missing" | "build_failed" | "io";

/** What this driver throws; the service layer maps it to a wire error. */
export class CloudInitError extends Error {
  override readonly name = "CloudInitError";
  constructor(
    readonly kind: CloudInitErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** An mkisofs-compatible program and how to call it. */
export interface IsoTool {
  kind: "xorriso" | "mkisofs";
  path: string;
}

/** Options for {@link buildSeed}; callers normally pass none. */
export interface BuildSeedOptions {
  /** Use this tool instead of `HOSTD_ISO_TOOL` or detection. */
  tool?: IsoTool;
  /** Kill the ISO tool after this long (default 30 s; a seed is a few KiB). */
  timeoutMs?: number;
}

/** The volume label cloud-init's NoCloud datasource looks for. */
export const SEED_LABEL = "cidata";

const FILE_NAMES = {
  userData: "user-data",
  metaData: "meta-data",
  networkConfig: "network-config",
  vendorData: "vendor-data",
} as const satisfies Record<keyof SeedFiles, string>;

/**
 * Writes a NoCloud seed image for `files` to `outPath`, replacing any seed
 * already there atomically. `outPath`'s directory must exist; the build's
 * temporary files live beside it (so the final rename never crosses file
 * systems) in a 0700 directory that is always removed.
 *
 * @throws CloudInitError `tool_missing`, `build_failed` or `io`.
 */
export async function buildSeed(outPath: string, files: SeedFiles, opts: BuildSeedOptions = {}): Promise<void> {
  const tool = opts.tool ?? (await isoTool());
  const out = path.resolve(outPath);
  const dir = path.dirname(out);

  let work: string;
  try {
    // mkdtemp creates the directory 0700: nothing inside is reachable by
    // other users, whatever modes the ISO tool gives its output.
    work = await fs.mkdtemp(path.join(dir, `.${path.basename(out)}.build-`));
  } catch (e) {
    throw new CloudInitError("io", `cannot create a build directory beside ${out}: ${errText(e)}`, { cause: e });
  }
  try {
    const stage = path.join(work, "stage");
    const iso = path.join(work, "seed.iso");
    try {
      await fs.mkdir(stage, { mode: 0o700 });
      for (const key of Object.keys(FILE_NAMES) as (keyof SeedFiles)[]) {
        const content = files[key];
        if (content === undefined) continue;
        // "wx": the staging directory is fresh, so an existing file means
        // something else is writing here; never follow or reuse it.
        await fs.writeFile(path.join(stage, FILE_NAMES[key]), content, { mode: 0o600, flag: "wx" });
      }
    } catch (e) {
      throw new CloudInitError("io", `cannot stage seed files in ${work}: ${errText(e)}`, { cause: e });
    }

    const args = [
      ...(tool.kind === "xorriso" ? ["-as", "mkisofs"] : []),
      "-output", iso,
      "-volid", SEED_LABEL,
      "-joliet",
      // -rock (not -rational-rock) keeps the staged 0600/0700 modes in the
      // image; -uid/-gid 0 make the owner root in the guest rather than
      // whichever uid hostd runs as on the host.
      "-rock", "-uid", "0", "-gid", "0",
      "-input-charset", "utf-8",
      "-quiet",
      stage,
    ];
    try {
      await run(tool.path, args, { timeoutMs: opts.timeoutMs ?? 30_000 });
    } catch (e) {
      if (e instanceof ExecError) {
        throw new CloudInitError("build_failed", `building the cloud-init seed with ${tool.path} failed: ${e.message}`, { cause: e });
      }
      throw e;
    }

    try {
      await fs.chmod(iso, 0o600);
      // Data on disk before the rename makes it visible: after a crash the
      // seed is either the old one or the complete new one.
      await fsyncPath(iso, constants.O_RDONLY);
      await fs.rename(iso, out);
      await fsyncPath(dir, constants.O_RDONLY | constants.O_DIRECTORY);
    } catch (e) {
      throw new CloudInitError("io", `cannot install the cloud-init seed at ${out}: ${errText(e)}`, { cause: e });
    }
  } finally {
    await fs.rm(work, { recursive: true, force: true }).catch(() => undefined);
  }
}

async function fsyncPath(p: string, flags: number): Promise<void> {
  const fh = await fs.open(p, flags);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

let detected: Promise<IsoTool> | undefined;

/**
 * The ISO tool to use: `HOSTD_ISO_TOOL` if set (read on every call), else
 * the first of xorriso, genisoimage, mkisofs on PATH (detected once per
 * process; a failed detection is retried next time, so installing the
 * package fixes a running hostd).
 *
 * @throws CloudInitError `tool_missing`.
 */
export function isoTool(): Promise<IsoTool> {
  const override = process.env.HOSTD_ISO_TOOL;
  if (override) {
    return Promise.resolve({ kind: path.basename(override).startsWith("xorriso") ? "xorriso" : "mkisofs", path: override });
  }
  detected ??= detect().catch((e: unknown) => {
    detected = undefined;
    throw e;
  });
  return detected;
}

async function detect(): Promise<IsoTool> {
  const candidates: IsoTool[] = [
    { kind: "xorriso", path: "xorriso" },
    { kind: "mkisofs", path: "genisoimage" },
    { kind: "mkisofs", path: "mkisofs" },
  ];
  const dirs = (process.env.PATH ?? "").split(path.delimiter).filter((d) => d !== "");
  for (const c of candidates) {
    for (const d of dirs) {
      const p = path.join(d, c.path);
      try {
        await fs.access(p, constants.X_OK);
        return { kind: c.kind, path: p };
      } catch {
        // not here; keep looking
      }
    }
  }
  throw new CloudInitError(
    "tool_missing",
    "no ISO9660 tool found for cloud-init seeds: install xorriso (preferred) or genisoimage",
  );
}

/**
 * A sha256 (hex) over the seed's content, for change detection: equal files
 * give equal hashes, any change (including adding or removing an optional
 * file, or "" vs absent) gives a different one. The image itself is not
 * hashed: ISO tools stamp times into it.
 */
export function seedHash(files: SeedFiles): string {
  // JSON of a fixed-order array is unambiguous: strings are escaped and
  // length-delimited by their quotes, and null (absent) differs from "".
  const canonical = JSON.stringify([
    "pulumi-kvm/nocloud-seed/v1",
    files.userData,
    files.metaData,
    files.networkConfig ?? null,
    files.vendorData ?? null,
  ]);
  return createHash("sha256").update(canonical, "utf8").digest("hex");
}

/** The fields of a NoCloud meta-data file that hostd sets. */
export interface MetaData {
  /** cloud-init reruns per-instance modules when this changes; it names a directory in the guest. */
  instanceId: string;
  /** The guest's hostname: one RFC 1123 label. */
  hostname: string;
}

const HOSTNAME = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;
// C0 and C1 controls and DEL: never meaningful in an id, and the C1 range
// and U+2028/9 are line breaks to some YAML parsers.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/u;
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * Renders meta-data YAML for NoCloud. Values are validated, then written as
 * YAML double-quoted scalars, so no value can add keys or turn into a
 * number, boolean or null ("123", "yes", "null" stay strings).
 *
 * - `instanceId`: 1–255 UTF-8 bytes (cloud-init makes it a directory name
 *   under /var/lib/cloud/instances), no `/`, not `.` or `..`, no control
 *   characters, no leading or trailing whitespace.
 * - `hostname`: one RFC 1123 label: 1–63 letters, digits and hyphens, not
 *   starting or ending with a hyphen.
 *
 * @throws CloudInitError `invalid`.
 */
export function renderMetaData(md: MetaData): string {
  validateInstanceId(md.instanceId);
  if (!HOSTNAME.test(md.hostname)) {
    throw new CloudInitError(
      "invalid",
      `hostname ${JSON.stringify(md.hostname)} is not an RFC 1123 label (1-63 letters, digits and hyphens, no leading or trailing hyphen)`,
    );
  }
  return `instance-id: ${yamlQuote(md.instanceId)}\nlocal-hostname: ${yamlQuote(md.hostname)}\n`;
}

function validateInstanceId(id: string): void {
  const bad = (why: string) => new CloudInitError("invalid", `instance-id ${JSON.stringify(id)} ${why}`);
  if (id === "") throw bad("is empty");
  if (Buffer.byteLength(id, "utf8") > 255) throw bad("is longer than 255 bytes");
  if (id === "." || id === "..") throw bad("is a path component");
  if (id.includes("/")) throw bad("contains '/'");
  if (CONTROL.test(id)) throw bad("contains a control character");
  if (LONE_SURROGATE.test(id)) throw bad("is not valid Unicode");
  if (id.trim() !== id) throw bad("has leading or trailing whitespace");
}

/**
 * A YAML double-quoted scalar for `s`. Escapes backslash, double quote and
 * every character YAML treats specially in double quotes (controls, NEL,
 * LS, PS, BOM); everything else stands for itself.
 */
export function yamlQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (ch === "\\") out += "\\\\";
    else if (ch === '"') out += '\\"';
    else if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp === 0x2028 || cp === 0x2029 || cp === 0xfeff) {
      out += cp <= 0xff ? `\\x${cp.toString(16).padStart(2, "0")}` : `\\u${cp.toString(16).padStart(4, "0")}`;
    } else out += ch;
  }
  return out + '"';
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
