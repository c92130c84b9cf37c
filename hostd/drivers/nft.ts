/**
 * hostd's firewall and NAT rules: one nftables table of its own,
 * `inet pulumi_kvm_<12 hex of the host id>` ({@link nftTableName}), rendered
 * whole from the list of networks and replaced in one atomic `nft -f`
 * transaction. Nothing outside that table is touched, and with no network
 * left the table is deleted. The host id in the name keeps two hostds in one
 * network namespace from replacing each other's rules.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { ExecError, run } from "../exec";

/** The one table every hostd shared before tables carried the host id. */
export const LEGACY_NFT_TABLE = "pulumi_kvm";

/** The table of the hostd with this host id. */
export function nftTableName(hostId: string): string {
  return `${LEGACY_NFT_TABLE}_${hostId.replace(/-/g, "").slice(0, 12)}`;
}

export interface NftNetwork {
  bridge: string;
  cidr: string;
  mode: "nat" | "isolated";
}

/**
 * The whole table. Forwarding rules per network:
 * - traffic between ports of the same bridge passes (matters with br_netfilter);
 * - nat: out from the subnet, and replies back in; new connections from outside are dropped;
 * - isolated: nothing is forwarded in or out.
 * Masquerade for nat subnets on their way anywhere but their own subnet.
 */
export function renderRuleset(table: string, nets: NftNetwork[]): string {
  const q = (s: string) => JSON.stringify(s);
  const fwd: string[] = [];
  const nat: string[] = [];
  for (const n of nets) {
    fwd.push(`iifname ${q(n.bridge)} oifname ${q(n.bridge)} accept`);
    if (n.mode === "nat") {
      fwd.push(`iifname ${q(n.bridge)} ip saddr ${n.cidr} accept`);
      fwd.push(`oifname ${q(n.bridge)} ip daddr ${n.cidr} ct state established,related accept`);
      nat.push(`ip saddr ${n.cidr} ip daddr 224.0.0.0/24 return`);
      nat.push(`ip saddr ${n.cidr} ip daddr 255.255.255.255 return`);
      nat.push(`ip saddr ${n.cidr} ip daddr != ${n.cidr} masquerade`);
    }
    fwd.push(`iifname ${q(n.bridge)} drop`);
    fwd.push(`oifname ${q(n.bridge)} drop`);
  }
  const ind = (rules: string[]) => rules.map((r) => `\t\t${r}\n`).join("");
  return (
    `table inet ${table} {\n` +
    `\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n${ind(fwd)}\t}\n` +
    `\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n${ind(nat)}\t}\n` +
    `}\n`
  );
}

/** Pure: the rules of a table as `nft list table` (or {@link renderRuleset}) prints it, as "chain: rule" lines. */
export function tableRules(text: string): string[] {
  const out: string[] = [];
  let chain: string | undefined;
  for (const line of text.split("\n")) {
    const head = /^\tchain (\S+) \{$/.exec(line);
    if (head) chain = head[1];
    else if (line === "\t}") chain = undefined;
    else if (chain !== undefined && line.startsWith("\t\ttype ")) continue;
    else if (chain !== undefined && line.startsWith("\t\t")) out.push(`${chain}: ${line.trim()}`);
    else if (line.trim() !== "" && !line.startsWith("table ") && line !== "}") out.push(`?: ${line.trim()}`);
  }
  return out;
}

/**
 * Pure: whether the legacy shared table is provably the work of a hostd with
 * these networks: it has rules, and every one of them is a rule such a hostd
 * renders for one of its networks (in either mode: a network may have
 * changed mode since). `strangers` are the rules that prove otherwise.
 */
export function legacyTableVerdict(text: string, nets: Omit<NftNetwork, "mode">[]): { ours: boolean; strangers: string[] } {
  const mine = new Set(tableRules(renderRuleset(LEGACY_NFT_TABLE, nets.flatMap((n) => [{ ...n, mode: "nat" as const }, { ...n, mode: "isolated" as const }]))));
  const rules = tableRules(text);
  const strangers = rules.filter((r) => !mine.has(r));
  return { ours: rules.length > 0 && strangers.length === 0, strangers };
}

export class NftDriver {
  constructor(
    /** This hostd's table ({@link nftTableName}). */
    readonly table: string,
    readonly binary = "nft",
  ) {}

  /** Replaces hostd's table with the rules for `nets` in one transaction (removes it when empty). */
  async apply(nets: NftNetwork[]): Promise<void> {
    // Creating the table first makes the delete valid whether or not it existed.
    const script = `table inet ${this.table}\ndelete table inet ${this.table}\n` + (nets.length > 0 ? renderRuleset(this.table, nets) : "");
    await this.runScript(script);
  }

  /** Deletes another table of the inet family (only the legacy one, once it is proven this hostd's). */
  async deleteTable(table: string): Promise<void> {
    await this.runScript(`table inet ${table}\ndelete table inet ${table}\n`);
  }

  /** hostd's table as the kernel has it, or undefined when it does not exist. */
  current(): Promise<string | undefined> {
    return this.read(this.table);
  }

  /** A table of the inet family as the kernel has it, or undefined when it does not exist. */
  async read(table: string): Promise<string | undefined> {
    try {
      return (await run(this.binary, ["list", "table", "inet", table])).stdout;
    } catch (e) {
      if (e instanceof ExecError && /No such file or directory|does not exist/i.test(e.stderr)) return undefined;
      throw e;
    }
  }

  private async runScript(script: string): Promise<void> {
    const dir = mkdtempSync(path.join(tmpdir(), "hostd-nft-"));
    const file = path.join(dir, "ruleset.nft");
    try {
      writeFileSync(file, script, { mode: 0o600 });
      await run(this.binary, ["-f", file]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}
