/**
 * hostd's firewall and NAT rules: one nftables table of its own
 * (`inet pulumi_kvm`), rendered whole from the list of networks and
 * replaced in one atomic `nft -f` transaction. Nothing outside that table is
 * touched, and with no network left the table is deleted.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { ExecError, run } from "../exec";

export const NFT_TABLE = "pulumi_kvm";

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
export function renderRuleset(nets: NftNetwork[]): string {
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
    `table inet ${NFT_TABLE} {\n` +
    `\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n${ind(fwd)}\t}\n` +
    `\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n${ind(nat)}\t}\n` +
    `}\n`
  );
}

export class NftDriver {
  constructor(readonly binary = "nft") {}

  /** Replaces hostd's table with the rules for `nets` in one transaction (removes it when empty). */
  async apply(nets: NftNetwork[]): Promise<void> {
    // Creating the table first makes the delete valid whether or not it existed.
    const script = `table inet ${NFT_TABLE}\ndelete table inet ${NFT_TABLE}\n` + (nets.length > 0 ? renderRuleset(nets) : "");
    const dir = mkdtempSync(path.join(tmpdir(), "hostd-nft-"));
    const file = path.join(dir, "ruleset.nft");
    try {
      writeFileSync(file, script, { mode: 0o600 });
      await run(this.binary, ["-f", file]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /** The table as the kernel has it, or undefined when it does not exist. */
  async current(): Promise<string | undefined> {
    try {
      return (await run(this.binary, ["list", "table", "inet", NFT_TABLE])).stdout;
    } catch (e) {
      if (e instanceof ExecError && /No such file or directory|does not exist/i.test(e.stderr)) return undefined;
      throw e;
    }
  }
}
