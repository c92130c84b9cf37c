import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { LEGACY_NFT_TABLE, legacyTableVerdict, nftTableName, NftNetwork, renderRuleset, tableRules } from "./nft";

const TABLE = nftTableName("3f2a9c1e-7b4d-4e2a-9c1e-7b4d4e2a9c1e");

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

test("one table of hostd's own, named by its host id, with a forward and a srcnat chain", () => {
  expect(TABLE).toBe("pulumi_kvm_3f2a9c1e7b4d");
  expect(nftTableName("3f2a9c1e-7b4d-4e2a-9c1e-000000000000")).toBe(TABLE);
  expect(nftTableName("3f2a9c1e-7b4e-4e2a-9c1e-7b4d4e2a9c1e")).not.toBe(TABLE);
  const text = renderRuleset(TABLE, nets);
  expect(text.startsWith(`table inet ${TABLE} {\n`)).toBe(true);
  expect(text).toContain("type filter hook forward priority filter; policy accept;");
  expect(text).toContain("type nat hook postrouting priority srcnat; policy accept;");
  expect(text.endsWith("}\n")).toBe(true);
});

test("masquerade only for the nat subnet", () => {
  const post = chain(renderRuleset(TABLE, nets), "postrouting");
  const masq = post.filter((r) => r.endsWith("masquerade"));
  expect(masq).toEqual(["ip saddr 10.20.0.0/24 ip daddr != 10.20.0.0/24 masquerade"]);
  expect(post.some((r) => r.includes("10.30.0.0/24"))).toBe(false);
  // Multicast and broadcast leave unmasqueraded, and those returns come before the masquerade.
  expect(post.indexOf("ip saddr 10.20.0.0/24 ip daddr 224.0.0.0/24 return")).toBeLessThan(post.indexOf(masq[0]!));
  expect(post.indexOf("ip saddr 10.20.0.0/24 ip daddr 255.255.255.255 return")).toBeLessThan(post.indexOf(masq[0]!));
});

test("forwarding: same-bridge traffic passes, nat gets out and replies in, the rest is dropped", () => {
  const fwd = chain(renderRuleset(TABLE, nets), "forward");
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
  const text = renderRuleset(TABLE, []);
  expect(chain(text, "forward")).toEqual([]);
  expect(chain(text, "postrouting")).toEqual([]);
});

/** As `nft list table` prints a table (tabs, a blank line between chains), made by the hostd of `nets`. */
const listed = (n: NftNetwork[]) => renderRuleset(LEGACY_NFT_TABLE, n).replace("\t}\n\tchain postrouting", "\t}\n\n\tchain postrouting");

test("tableRules: every rule with its chain; anything else in the table is a stranger", () => {
  const rules = tableRules(listed(nets));
  expect(rules).toContain('forward: iifname "kvbr-aaaaaaaaaa" drop');
  expect(rules).toContain("postrouting: ip saddr 10.20.0.0/24 ip daddr != 10.20.0.0/24 masquerade");
  expect(rules.some((r) => r.includes("type "))).toBe(false);
  expect(tableRules("table inet x {\n\tset blocked {\n\t\ttype ipv4_addr\n\t}\n}\n")).toEqual(["?: set blocked {", "?: type ipv4_addr"]);
});

describe("the legacy shared table is deleted only when it is provably this hostd's", () => {
  const ours = nets.map(({ bridge, cidr }) => ({ bridge, cidr }));
  test("every rule is one this hostd renders for its networks, in either mode: ours", () => {
    expect(legacyTableVerdict(listed(nets), ours)).toEqual({ ours: true, strangers: [] });
    // A network that was nat then and is isolated now, and one of ours it had no rules for yet.
    expect(legacyTableVerdict(listed([{ ...nets[1]!, mode: "nat" }]), ours).ours).toBe(true);
  });
  test("a bridge, a subnet or a rule of anyone else's: not ours, and the strangers are named", () => {
    const other = { bridge: "kvbr-cccccccccc", cidr: "10.40.0.0/24", mode: "nat" as const };
    const v = legacyTableVerdict(listed([...nets, other]), ours);
    expect(v.ours).toBe(false);
    expect(v.strangers).toContain('forward: iifname "kvbr-cccccccccc" drop');
    expect(v.strangers).toContain("postrouting: ip saddr 10.40.0.0/24 ip daddr != 10.40.0.0/24 masquerade");
    // Same bridge, another subnet: someone else's network of that name.
    expect(legacyTableVerdict(listed([{ ...nets[0]!, cidr: "10.21.0.0/24" }]), ours).ours).toBe(false);
    const extra = listed(nets).replace("\t\tiifname", '\t\ttcp dport 22 accept\n\t\tiifname');
    expect(legacyTableVerdict(extra, ours)).toEqual({ ours: false, strangers: ["forward: tcp dport 22 accept"] });
  });
  test("no rules at all, or no networks of ours: nothing proves it ours", () => {
    expect(legacyTableVerdict(listed([]), ours).ours).toBe(false);
    expect(legacyTableVerdict(listed(nets), []).ours).toBe(false);
  });
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
      writeFileSync(file, renderRuleset(TABLE, n));
      expect(() => execFileSync("nft", ["-c", "-f", file], { stdio: ["ignore", "pipe", "pipe"] })).not.toThrow();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
