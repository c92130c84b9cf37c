import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { NFT_TABLE, NftNetwork, renderRuleset } from "./nft";

const nets: NftNetwork[] = [
  { bridge: "kvbr-aaaaaaaaaa", cidr: "10.20.0.0/24", mode: "nat" },
  { bridge: "kvbr-bbbbbbbbbb", cidr: "10.30.0.0/24", mode: "isolated" },
];

/** The rules of one chain, without its header. */
function chain(text: string, name: string): string[] {
  const m = new RegExp(`\\tchain ${name} \\{\\n\\t\\ttype [^\\n]*\\n((?:\\t\\t[^\\n]*\\n)*)\\t\\}`).exec(text);
  if (!m) throw new Error(`no chain ${name} in:\n${text}`);
  return m[1]!.split("\n").filter((l) => l !== "").map((l) => l.trim());
}

test("one table of hostd's own, with a forward and a srcnat chain", () => {
  const text = renderRuleset(nets);
  expect(text.startsWith(`table inet ${NFT_TABLE} {\n`)).toBe(true);
  expect(text).toContain("type filter hook forward priority filter; policy accept;");
  expect(text).toContain("type nat hook postrouting priority srcnat; policy accept;");
  expect(text.endsWith("}\n")).toBe(true);
});

test("masquerade only for the nat subnet", () => {
  const post = chain(renderRuleset(nets), "postrouting");
  const masq = post.filter((r) => r.endsWith("masquerade"));
  expect(masq).toEqual(["ip saddr 10.20.0.0/24 ip daddr != 10.20.0.0/24 masquerade"]);
  expect(post.some((r) => r.includes("10.30.0.0/24"))).toBe(false);
  // Multicast and broadcast leave unmasqueraded, and those returns come before the masquerade.
  expect(post.indexOf("ip saddr 10.20.0.0/24 ip daddr 224.0.0.0/24 return")).toBeLessThan(post.indexOf(masq[0]!));
  expect(post.indexOf("ip saddr 10.20.0.0/24 ip daddr 255.255.255.255 return")).toBeLessThan(post.indexOf(masq[0]!));
});

test("forwarding: same-bridge traffic passes, nat gets out and replies in, the rest is dropped", () => {
  const fwd = chain(renderRuleset(nets), "forward");
  for (const br of ["kvbr-aaaaaaaaaa", "kvbr-bbbbbbbbbb"]) {
    const same = fwd.indexOf(`iifname "${br}" oifname "${br}" accept`);
    const dropIn = fwd.indexOf(`iifname "${br}" drop`);
    const dropOut = fwd.indexOf(`oifname "${br}" drop`);
    expect(same).toBeGreaterThanOrEqual(0);
    expect(dropIn).toBeGreaterThan(same);
    expect(dropOut).toBeGreaterThan(same);
  }
  const established = fwd.filter((r) => r.includes("ct state established,related accept"));
  expect(established).toEqual(['oifname "kvbr-aaaaaaaaaa" ip daddr 10.20.0.0/24 ct state established,related accept']);
  expect(fwd.indexOf('iifname "kvbr-aaaaaaaaaa" ip saddr 10.20.0.0/24 accept')).toBeLessThan(fwd.indexOf('iifname "kvbr-aaaaaaaaaa" drop'));
  expect(fwd.indexOf(established[0]!)).toBeLessThan(fwd.indexOf('oifname "kvbr-aaaaaaaaaa" drop'));
  // The isolated network forwards nothing but its own bridge's traffic.
  expect(fwd.filter((r) => r.includes("kvbr-bbbbbbbbbb") && r.endsWith("accept"))).toEqual(['iifname "kvbr-bbbbbbbbbb" oifname "kvbr-bbbbbbbbbb" accept']);
});

test("no networks: the table with empty chains", () => {
  const text = renderRuleset([]);
  expect(chain(text, "forward")).toEqual([]);
  expect(chain(text, "postrouting")).toEqual([]);
});

const canCheck = (() => {
  if (process.getuid?.() !== 0) return false;
  try {
    execFileSync("nft", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

(canCheck ? test : test.skip)("nft accepts the rendered text (check mode: nothing is committed)", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "nft-test-"));
  try {
    for (const [i, n] of [nets, [], [nets[1]!]].entries()) {
      const file = path.join(dir, `r${i}.nft`);
      writeFileSync(file, renderRuleset(n));
      expect(() => execFileSync("nft", ["-c", "-f", file], { stdio: ["ignore", "pipe", "pipe"] })).not.toThrow();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
