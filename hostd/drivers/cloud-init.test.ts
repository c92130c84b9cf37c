/**
 * NoCloud seeds built with the real ISO tools (xorriso and genisoimage) and
 * read back with isoinfo, an independent ISO9660 reader (genisoimage
 * package). Needs the xorriso and genisoimage Debian packages.
 */
import { mkdtempSync, rmSync } from "node:fs";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { run } from "../exec";
import { buildSeed, CloudInitError, IsoTool, renderMetaData, SeedFiles, seedHash, yamlQuote } from "./cloud-init";

// js-yaml ships with the dev toolchain (no types); it stands in for the
// guest's YAML parser to prove the rendered meta-data reads back exactly.
const yamlLoad = (require("js-yaml") as { load: (s: string) => unknown }).load;

let tmp: string;
beforeEach(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), "seed-test-"));
});
afterEach(() => {
  rmSync(tmp, { recursive: true, force: true });
  delete process.env.HOSTD_ISO_TOOL;
});

const files: SeedFiles = {
  userData: "#cloud-config\npassword: s3cr3t\nchpasswd: { expire: false }\n",
  metaData: renderMetaData({ instanceId: "iid-vm1-1", hostname: "vm1" }),
  networkConfig: "version: 2\nethernets:\n  eth0:\n    dhcp4: true\n",
  vendorData: "#cloud-config\npackages: [qemu-guest-agent]\n",
};

async function isoinfo(...args: string[]): Promise<string> {
  return (await run("isoinfo", args)).stdout;
}

/** Files in a directory other than `keep`: leftovers of a build. */
async function leftovers(dir: string, keep: string[]): Promise<string[]> {
  return (await fs.readdir(dir)).filter((f) => !keep.includes(f));
}

async function writeScript(name: string, body: string): Promise<string> {
  const bin = path.join(tmp, "bin");
  await fs.mkdir(bin, { recursive: true });
  const p = path.join(bin, name);
  await fs.writeFile(p, `#!/bin/sh\n${body}`, { mode: 0o755 });
  return p;
}

const tools: [string, IsoTool][] = [
  ["xorriso", { kind: "xorriso", path: "xorriso" }],
  ["genisoimage", { kind: "mkisofs", path: "genisoimage" }],
];

describe.each(tools)("buildSeed with %s", (_name, tool) => {
  test("label cidata, Joliet + Rock Ridge, all four files readable", async () => {
    const out = path.join(tmp, "seed.img");
    await buildSeed(out, files, { tool });

    const pvd = await isoinfo("-d", "-i", out);
    expect(pvd).toMatch(/^Volume id: cidata$/m);
    expect(pvd).toMatch(/Joliet/);
    expect(pvd).toMatch(/Rock Ridge signatures/);

    // Through both name spaces the guest might use.
    for (const ns of ["-J", "-R"]) {
      expect(await isoinfo(ns, "-x", "/user-data", "-i", out)).toBe(files.userData);
      expect(await isoinfo(ns, "-x", "/meta-data", "-i", out)).toBe(files.metaData);
      expect(await isoinfo(ns, "-x", "/network-config", "-i", out)).toBe(files.networkConfig);
      expect(await isoinfo(ns, "-x", "/vendor-data", "-i", out)).toBe(files.vendorData);
    }

    // Rock Ridge: root-owned and private in the guest, whatever uid built it.
    const listing = await isoinfo("-R", "-l", "-i", out);
    expect(listing).toMatch(/^-rw------- +\d+ +0 +0 .* user-data\s*$/m);
    expect(listing).toMatch(/^drwx------ +\d+ +0 +0 .* \.\s*$/m);

    expect((await fs.stat(out)).mode & 0o777).toBe(0o600);
    expect(await leftovers(tmp, ["seed.img"])).toEqual([]);
  });

  test("optional files are left out when undefined", async () => {
    const out = path.join(tmp, "seed.img");
    await buildSeed(out, { userData: "#cloud-config\n", metaData: files.metaData }, { tool });
    const names = (await isoinfo("-R", "-f", "-i", out)).trim().split("\n").sort();
    expect(names).toEqual(["/meta-data", "/user-data"]);
  });
});

test("detects a tool on PATH when neither option nor HOSTD_ISO_TOOL is given", async () => {
  const out = path.join(tmp, "seed.img");
  await buildSeed(out, files);
  expect(await isoinfo("-J", "-x", "/user-data", "-i", out)).toBe(files.userData);
});

test("intermediate files are private: build dir and stage 0700, staged files 0600", async () => {
  const log = path.join(tmp, "modes.log");
  // A wrapper that records what the real tool is handed, then runs it. Its
  // name starts with "xorriso", so it is called with -as mkisofs.
  process.env.HOSTD_ISO_TOOL = await writeScript(
    "xorriso-spy",
    `for last; do :; done
stat -c '%a %n' "$(dirname "$last")" "$last" "$last"/* > "${log}"
exec xorriso "$@"
`,
  );
  const out = path.join(tmp, "seed.img");
  await buildSeed(out, files);

  const modes = (await fs.readFile(log, "utf8")).trim().split("\n").map((l) => l.split(" ") as [string, string]);
  expect(modes).toHaveLength(2 + 4);
  const [work, stage, ...staged] = modes;
  // The build happens beside the seed (same file system, so the rename is atomic).
  expect(path.dirname(work![1])).toBe(tmp);
  expect(work![0]).toBe("700");
  expect(stage![0]).toBe("700");
  expect(staged.map(([m, p]) => [m, path.basename(p)])).toEqual([
    ["600", "meta-data"],
    ["600", "network-config"],
    ["600", "user-data"],
    ["600", "vendor-data"],
  ]);
  expect(await leftovers(tmp, ["seed.img", "bin", "modes.log"])).toEqual([]);
});

describe("atomic replace", () => {
  test("a failed build leaves the old seed intact and no temp files", async () => {
    const out = path.join(tmp, "seed.img");
    await buildSeed(out, files);
    const before = await fs.readFile(out);

    // A tool that writes half an image to its output and fails.
    process.env.HOSTD_ISO_TOOL = await writeScript(
      "mkisofs-broken",
      `while [ $# -gt 0 ]; do [ "$1" = -output ] && out=$2; shift; done
printf 'half a seed' > "$out"
echo "simulated failure: disk full" >&2
exit 3
`,
    );
    const err = await buildSeed(out, { ...files, userData: "#cloud-config\nnew: true\n" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CloudInitError);
    expect(err).toMatchObject({ kind: "build_failed" });
    expect((err as Error).message).toContain("simulated failure: disk full");

    expect((await fs.readFile(out)).equals(before)).toBe(true);
    expect(await leftovers(tmp, ["seed.img", "bin"])).toEqual([]);
  });

  test("a missing tool binary is build_failed, old seed intact", async () => {
    const out = path.join(tmp, "seed.img");
    await buildSeed(out, files);
    const before = await fs.readFile(out);
    process.env.HOSTD_ISO_TOOL = path.join(tmp, "no-such-xorriso");
    await expect(buildSeed(out, files)).rejects.toMatchObject({ kind: "build_failed", message: expect.stringContaining("ENOENT") });
    expect((await fs.readFile(out)).equals(before)).toBe(true);
    expect(await leftovers(tmp, ["seed.img"])).toEqual([]);
  });

  test("replacing swaps the file: a reader of the old seed keeps seeing it whole", async () => {
    const out = path.join(tmp, "seed.img");
    await buildSeed(out, files);
    const before = await fs.readFile(out);
    // Like a running QEMU that has the old seed open.
    const fh = await fs.open(out, "r");
    try {
      await buildSeed(out, { ...files, userData: "#cloud-config\nsecond: true\n" });
      expect(await isoinfo("-J", "-x", "/user-data", "-i", out)).toBe("#cloud-config\nsecond: true\n");
      const { buffer } = await fh.read(Buffer.alloc(before.length), 0, before.length, 0);
      expect(buffer.equals(before)).toBe(true);
    } finally {
      await fh.close();
    }
    expect((await fs.stat(out)).mode & 0o777).toBe(0o600);
  });

  test("a missing output directory is an io error", async () => {
    await expect(buildSeed(path.join(tmp, "nope", "seed.img"), files)).rejects.toMatchObject({ kind: "io" });
  });
});

test("no tool anywhere: tool_missing", async () => {
  const saved = process.env.PATH;
  try {
    await jest.isolateModulesAsync(async () => {
      // A fresh module, so nothing detected earlier is cached.
      const fresh = (await import("./cloud-init")) as typeof import("./cloud-init");
      process.env.PATH = path.join(tmp, "empty");
      await expect(fresh.buildSeed(path.join(tmp, "seed.img"), files)).rejects.toMatchObject({
        kind: "tool_missing",
        message: expect.stringContaining("xorriso"),
      });
    });
  } finally {
    process.env.PATH = saved;
  }
  expect(await leftovers(tmp, [])).toEqual([]);
});

describe("renderMetaData", () => {
  test("plain values", () => {
    expect(renderMetaData({ instanceId: "iid-vm1-3", hostname: "web-01" })).toBe('instance-id: "iid-vm1-3"\nlocal-hostname: "web-01"\n');
  });

  test("values that plain YAML would retype stay strings", () => {
    for (const hostname of ["123", "yes", "no", "null", "true", "0x1f", "1e3"]) {
      const doc = renderMetaData({ instanceId: hostname, hostname });
      expect(yamlLoad(doc)).toEqual({ "instance-id": hostname, "local-hostname": hostname });
    }
  });

  test("instance-id with YAML syntax is escaped, not interpreted", () => {
    const ids = ['i-"quoted"', "back\\slash", "a: b", "x # comment", "{flow}", "[seq]", "&anchor", "*alias", "!tag", "'single'", "%dir", "@at", "|pipe", "ünïcødé-✓", "emoji-🖥"];
    for (const instanceId of ids) {
      const doc = renderMetaData({ instanceId, hostname: "vm" });
      expect(doc.split("\n")).toHaveLength(3); // two lines and the final newline
      expect(yamlLoad(doc)).toEqual({ "instance-id": instanceId, "local-hostname": "vm" });
    }
    expect(renderMetaData({ instanceId: 'a"b\\c', hostname: "vm" })).toContain('instance-id: "a\\"b\\\\c"\n');
  });

  test("rejects instance-ids that cannot be a safe directory name or line", () => {
    const bad = ["", ".", "..", "a/b", "x\nlocal-hostname: evil", "tab\there", "nul\u0000", "nel\u0085", "ls\u2028", " lead", "trail ", "\ud800lone", "x".repeat(256), "é".repeat(128)];
    for (const instanceId of bad) {
      expect(() => renderMetaData({ instanceId, hostname: "vm" })).toThrow(CloudInitError);
    }
    expect(() => renderMetaData({ instanceId: "x".repeat(255), hostname: "vm" })).not.toThrow();
  });

  test("hostname must be an RFC 1123 label", () => {
    for (const hostname of ["a", "A-1", "0", "x".repeat(63), "123abc"]) {
      expect(() => renderMetaData({ instanceId: "i", hostname })).not.toThrow();
    }
    for (const hostname of ["", "-a", "a-", "a.b", "a_b", "a b", "héllo", "x".repeat(64), "a\n", "vm\nnew-key: 1"]) {
      let err: unknown;
      try {
        renderMetaData({ instanceId: "i", hostname });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(CloudInitError);
      expect(err).toMatchObject({ kind: "invalid", message: expect.stringContaining("RFC 1123") });
    }
  });

  test("yamlQuote escapes controls, NEL, LS/PS and BOM", () => {
    expect(yamlQuote("a\tb\u0001\u007f\u0085\u2028\u2029\ufeff")).toBe('"a\\x09b\\x01\\x7f\\x85\\u2028\\u2029\\ufeff"');
    expect(yamlLoad(`k: ${yamlQuote("a\tb\u0001\u0085\u2028\ufeffz")}`)).toEqual({ k: "a\tb\u0001\u0085\u2028\ufeffz" });
  });
});

describe("seedHash", () => {
  const base: SeedFiles = { userData: "u", metaData: "m" };

  test("stable, hex sha256, independent of property order", () => {
    const h = seedHash(base);
    expect(h).toMatch(/^[0-9a-f]{64}$/);
    expect(seedHash({ metaData: "m", userData: "u" })).toBe(h);
    expect(seedHash({ ...base, networkConfig: undefined })).toBe(h);
  });

  test("any change changes it, including absent vs empty and moved boundaries", () => {
    const variants: SeedFiles[] = [
      base,
      { userData: "u2", metaData: "m" },
      { userData: "u", metaData: "m2" },
      { ...base, networkConfig: "" },
      { ...base, vendorData: "" },
      { ...base, networkConfig: "n" },
      { ...base, vendorData: "n" },
      { userData: "um", metaData: "" },
      { userData: "", metaData: "um" },
      { userData: 'u","m', metaData: "" },
    ];
    const hashes = new Set(variants.map(seedHash));
    expect(hashes.size).toBe(variants.length);
  });
});
