/**
 * A Debian cloud VM:
 * - its root disk is a thin copy-on-write clone of a Debian image, downloaded
 *   once per host from `imageUrl` and verified against `imageSha256`;
 * - cloud-init creates the user `tester` with your SSH public key and sets the
 *   hostname from meta-data;
 * - SSH reaches it through a port forward on the host's loopback;
 * - the guest agent reports its IP address, which `waitFor: "ip"` waits for.
 *
 *   pulumi config set imageUrl https://…/debian-12.qcow2
 *   pulumi config set imageSha256 <sha256>
 *   pulumi config set publicKey "$(cat ~/.ssh/id_ed25519.pub)"
 *   pulumi config set sshPort 2222
 *   pulumi up && ssh -p 2222 tester@127.0.0.1    # on the KVM host
 *
 * Optional config: rootSizeGiB (grow it and `pulumi up`: online, no restart),
 * withData (attach a data disk: hot-plugged), vmName, firmware (bios|uefi),
 * revision (changes the user-data: the seed is rewritten, the VM is not replaced).
 * The end-to-end tests run this very program.
 */
import * as pulumi from "@pulumi/pulumi";
import * as kvm from "pulumi-kvm";

const cfg = new pulumi.Config();

const root = new kvm.Disk("root", {
  sizeGiB: cfg.getNumber("rootSizeGiB") ?? 4,
  source: { kind: "url", url: cfg.require("imageUrl"), sha256: cfg.require("imageSha256") },
});

// The data disk outlives the VM: it stays while `keepData` is set, attached or not.
const withData = cfg.getBoolean("withData") ?? false;
const data = withData || cfg.getBoolean("keepData") ? new kvm.Disk("data", { sizeGiB: 1 }) : undefined;

const hostname = cfg.get("hostname") ?? "debian-lab";
const vm = new kvm.Vm("debian", {
  name: cfg.get("vmName"),
  vcpus: 1,
  memoryMiB: 512,
  firmware: (cfg.get("firmware") as "bios" | "uefi" | undefined) ?? "bios",
  disks: withData && data ? [{ disk: root }, { disk: data }] : [{ disk: root }],
  networkInterfaces: [{ type: "user", portForwards: [{ hostPort: cfg.requireNumber("sshPort"), guestPort: 22 }] }],
  cloudInit: {
    userData: [
      "#cloud-config",
      "users:",
      "  - name: tester",
      "    shell: /bin/bash",
      "    sudo: ALL=(ALL) NOPASSWD:ALL",
      `    ssh_authorized_keys: [${JSON.stringify(cfg.require("publicKey"))}]`,
      `# revision ${cfg.get("revision") ?? "1"}`,
      "",
    ].join("\n"),
    metaData: `local-hostname: ${hostname}\n`,
  },
  waitFor: "ip",
  timeoutSeconds: 600,
});

export const vmName = vm.name;
export const vmId = vm.vmId;
export const pid = vm.pid;
export const state = vm.state;
export const ipAddress = vm.ipAddress;
export const macAddresses = vm.macAddresses;
export const guestHostname = vm.guestHostname;
export const rootDisk = root.name;
export const rootPath = root.path;
export const rootBacking = root.backingFile;
export const dataDisk = data?.name;
