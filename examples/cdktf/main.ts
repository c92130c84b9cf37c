/**
 * The lab as a CDK for Terraform app: one isolated network, a data disk and
 * two VMs on a host reached over SSH, written in TypeScript with the
 * bindings generated from terraform-provider-kvm's schema
 * (`pulumi-kvm/cdktf`). The app writes Terraform JSON; Terraform applies it.
 *
 *   npm install pulumi-kvm cdktf constructs
 *   PKVM_HOST=kvm1.example PKVM_USER=ops PKVM_KEY=~/.ssh/id_ed25519 \
 *   PKVM_KERNEL=/srv/images/vmlinuz PKVM_INITRD=/srv/images/initrd.img node main.js
 *   cd cdktf.out/stacks/lab && terraform init && terraform apply
 *
 * Optional: PKVM_PORT (22), PKVM_KNOWN_HOSTS (a known_hosts file), PKVM_SOCKET
 * (hostd's socket on the host), PKVM_CMDLINE (console=ttyS0), PKVM_PREFIX
 * (cdk) for the object names. test/terraform-e2e.test.ts synthesizes this app
 * and applies it with the real Terraform CLI.
 */
import * as path from "node:path";
import { App, TerraformOutput, TerraformStack } from "cdktf";
import { Construct } from "constructs";
import { disk, network, provider, vm } from "pulumi-kvm/cdktf";

export interface LabSettings {
  host: string;
  port?: number;
  user: string;
  privateKeyPath: string;
  knownHostsPath?: string;
  socketPath?: string;
  kernel: { path: string; initrd?: string; cmdline?: string };
  prefix?: string;
}

export class Lab extends TerraformStack {
  constructor(scope: Construct, id: string, s: LabSettings) {
    super(scope, id);
    new provider.KvmProvider(this, "kvm", {
      host: s.host,
      port: s.port,
      user: s.user,
      privateKeyPath: s.privateKeyPath,
      knownHostsPath: s.knownHostsPath,
      socketPath: s.socketPath,
    });
    const prefix = s.prefix ?? "cdk";
    const net = new network.Network(this, "net", { name: `${prefix}-net`, mode: "isolated", ipv4: { cidr: "10.78.0.0/24" } });
    const data = new disk.Disk(this, "data", { name: `${prefix}-data`, sizeGib: 1 });
    const vms = ["a", "b"].map(
      (n) =>
        new vm.Vm(this, `vm-${n}`, {
          name: `${prefix}-${n}`,
          memoryMib: 128,
          kernel: { path: s.kernel.path, initrd: s.kernel.initrd, cmdline: s.kernel.cmdline ?? "console=ttyS0" },
          disks: n === "a" ? [{ disk: data.name }] : [],
          networkInterfaces: [{ network: net.name }],
        }),
    );
    new TerraformOutput(this, "vm_ids", { value: Object.fromEntries(vms.map((v, i) => [["a", "b"][i], v.id])) });
    new TerraformOutput(this, "host_id", { value: vms[0]!.hostId });
  }
}

/** Writes the app's Terraform JSON under `outdir`; returns the stack's folder (where `terraform apply` runs). */
export function synth(outdir: string, s: LabSettings): string {
  const app = new App({ outdir });
  new Lab(app, "lab", s);
  app.synth();
  return path.join(outdir, "stacks", "lab");
}

function required(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: see the comment at the top of examples/cdktf/main.ts`);
  return v;
}

if (require.main === module) {
  const dir = synth("cdktf.out", {
    host: required("PKVM_HOST"),
    port: process.env.PKVM_PORT ? Number(process.env.PKVM_PORT) : undefined,
    user: required("PKVM_USER"),
    privateKeyPath: required("PKVM_KEY"),
    knownHostsPath: process.env.PKVM_KNOWN_HOSTS,
    socketPath: process.env.PKVM_SOCKET,
    kernel: { path: required("PKVM_KERNEL"), initrd: process.env.PKVM_INITRD, cmdline: process.env.PKVM_CMDLINE },
    prefix: process.env.PKVM_PREFIX,
  });
  process.stdout.write(`wrote ${dir}/cdk.tf.json: cd there, then terraform init && terraform apply\n`);
}
