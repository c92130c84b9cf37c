/**
 * A VM on a remote host running hostd, reached over SSH.
 *
 *   pulumi config set kvm:host kvm1.example.net
 *   pulumi config set kvm:user deploy
 *   pulumi config set --secret kvm:privateKey -- "$(cat ~/.ssh/id_ed25519)"
 *   pulumi config set kvm:hostKey SHA256:...      # or rely on ~/.ssh/known_hosts
 *   pulumi config set kernel /srv/images/vmlinuz  # files on the host
 *   pulumi config set initrd /srv/images/initrd.img
 *   pulumi up
 *
 * The end-to-end test runs this very program against a real sshd and hostd.
 */
import * as pulumi from "@pulumi/pulumi";
import * as kvm from "pulumi-kvm";

const cfg = new pulumi.Config();

const vm = new kvm.Vm("app", {
  vcpus: cfg.getNumber("vcpus") ?? 1,
  memoryMiB: cfg.getNumber("memoryMiB") ?? 256,
  kernel: {
    path: cfg.require("kernel"),
    initrd: cfg.get("initrd"),
    cmdline: cfg.get("cmdline") ?? "console=ttyS0",
  },
  timeoutSeconds: 120,
});

export const name = vm.name;
export const vmId = vm.vmId;
export const state = vm.state;
export const running = vm.running;
export const pid = vm.pid;
export const accelerator = vm.accelerator;
export const host = vm.host;
export const memoryMiB = vm.memoryMiB;
