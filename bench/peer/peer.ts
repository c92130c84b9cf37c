/**
 * The peer side of the lab benchmark: Terraform + terraform-provider-libvirt
 * driving Debian's libvirtd, all built or installed by bench/peer/setup.sh
 * and run inside a network namespace by bench/peer/libvirt.sh (see
 * bench/peer/README.md). This module only calls those scripts and times them.
 */
import { execFile } from "node:child_process";
import * as path from "node:path";
import { promisify } from "node:util";
import { REPO } from "../../test/fixtures/env";
import { BenchContext } from "../lib/context";

const run = promisify(execFile);
const HERE = path.join(REPO, "bench", "peer");

async function sh(script: string, args: string[], timeoutMs = 1_800_000): Promise<string> {
  try {
    const { stdout } = await run("bash", [path.join(HERE, script), ...args], { maxBuffer: 64 << 20, timeout: timeoutMs });
    return stdout;
  } catch (e) {
    const err = e as Error & { stdout?: string; stderr?: string };
    const tail = `${err.stdout ?? ""}${err.stderr ?? ""}`.trim().split("\n").slice(-15).join("\n");
    throw new Error(`bench/peer/${script} ${args.join(" ")} failed: ${tail || err.message}`);
  }
}

export interface PeerOptions {
  vmCount: number;
  kernel: string;
  initrd: string;
  cmdline: string;
}

export class Peer {
  private constructor(
    private readonly o: PeerOptions,
    readonly versions: { terraform: string; provider: string; libvirt: string },
  ) {}

  /** Installs/builds what is missing (slow only the first time), starts libvirtd, runs `terraform init`. */
  static async start(ctx: BenchContext, o: PeerOptions): Promise<Peer> {
    ctx.log("lab: preparing the peer (bench/peer/setup.sh; the first run builds Terraform and the provider)");
    await sh("setup.sh", []);
    await sh("libvirt.sh", ["start"]);
    try {
      await sh("tf.sh", ["init", "-input=false", "-no-color"]);
      const v = JSON.parse(await sh("tf.sh", ["version", "-json"])) as { terraform_version: string; provider_selections?: Record<string, string> };
      const libvirt = (await run("libvirtd", ["--version"])).stdout.trim().split(/\s+/).at(-1) ?? "unknown";
      const provider = Object.entries(v.provider_selections ?? {}).find(([k]) => k.endsWith("/libvirt"))?.[1] ?? "unknown";
      return new Peer(o, { terraform: v.terraform_version, provider, libvirt });
    } catch (e) {
      await sh("libvirt.sh", ["stop"]).catch(() => undefined);
      throw e;
    }
  }

  private vars(): string[] {
    return ["-var", `vm_count=${this.o.vmCount}`, "-var", `kernel=${this.o.kernel}`, "-var", `initrd=${this.o.initrd}`, "-var", `cmdline=${this.o.cmdline}`];
  }

  /** One `terraform apply` (checked: every VM has an address) and one `terraform destroy`, timed in ms. */
  async round(): Promise<{ up: number; destroy: number }> {
    const t0 = performance.now();
    await sh("tf.sh", ["apply", "-auto-approve", "-input=false", "-no-color", ...this.vars()]);
    const up = performance.now() - t0;
    const ips = JSON.parse(await sh("tf.sh", ["output", "-json", "ips"])) as Record<string, string | null>;
    const got = Object.values(ips).filter((a) => a).length;
    if (got !== this.o.vmCount) throw new Error(`terraform apply gave ${got} of ${this.o.vmCount} VMs an address`);
    const t1 = performance.now();
    await sh("tf.sh", ["destroy", "-auto-approve", "-input=false", "-no-color", ...this.vars()]);
    return { up, destroy: performance.now() - t1 };
  }

  async stop(): Promise<void> {
    await sh("tf.sh", ["destroy", "-auto-approve", "-input=false", "-no-color", ...this.vars()]).catch(() => undefined);
    await sh("libvirt.sh", ["stop"]);
  }
}
