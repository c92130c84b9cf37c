/**
 * A lab: one isolated network (DHCP and DNS by the host, no way out) and
 * three VMs on it. Each VM's address is an output, and each VM reaches the
 * others as `<vm>.<domain>`.
 *
 *   pulumi config set kernel /srv/images/vmlinuz   # files on the host
 *   pulumi config set initrd /srv/images/initrd.img
 *   pulumi config set cmdline "console=ttyS0"
 *   pulumi up
 *
 * Optional: `vmCount` (3), `cidr` (10.42.0.0/24), `domain` (lab.internal),
 * `mode` (isolated; `nat` lets the VMs out), `prefix` (lab) for the VM names.
 * The end-to-end test runs this very program.
 */
import * as pulumi from "@pulumi/pulumi";
import * as kvm from "pulumi-kvm";

const cfg = new pulumi.Config();
const prefix = cfg.get("prefix") ?? "lab";
const domain = cfg.get("domain") ?? "lab.internal";

const net = new kvm.Network("lab", {
  name: `${prefix}-net`,
  mode: (cfg.get("mode") as "isolated" | "nat" | undefined) ?? "isolated",
  ipv4: { cidr: cfg.get("cidr") ?? "10.42.0.0/24" },
  domain,
});

const kernel = { path: cfg.require("kernel"), initrd: cfg.get("initrd"), cmdline: cfg.get("cmdline") ?? "console=ttyS0" };
const vms = Array.from({ length: cfg.getNumber("vmCount") ?? 3 }, (_, i) =>
  new kvm.Vm(`vm${i + 1}`, {
    name: `${prefix}-vm${i + 1}`,
    memoryMiB: cfg.getNumber("memoryMiB") ?? 128,
    kernel,
    networkInterfaces: [{ network: net }],
    // `pulumi up` returns once every VM has its address.
    waitFor: "ip",
    timeoutSeconds: cfg.getNumber("timeoutSeconds") ?? 180,
  }),
);

export const network = { name: net.name, bridge: net.bridgeName, gateway: net.gateway, dhcpStart: net.dhcpStart, dhcpEnd: net.dhcpEnd };
/** VM name → its address on the lab network. */
export const ips = pulumi.all(vms.map((v) => pulumi.all([v.name, v.ipAddress]))).apply((pairs) => Object.fromEntries(pairs));
/** VM name → DNS name other VMs reach it by. */
export const dnsNames = pulumi.all(vms.map((v) => v.name)).apply((names) => Object.fromEntries(names.map((n) => [n, `${n}.${domain}`])));
export const vmIds = pulumi.all(vms.map((v) => pulumi.all([v.name, v.vmId]))).apply((pairs) => Object.fromEntries(pairs));
