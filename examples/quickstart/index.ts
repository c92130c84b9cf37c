/**
 * The quick-start lab: one VM booting the tiny test guest (a Debian cloud
 * kernel with a busybox initramfs, built by scripts/build-tiny-guest.sh)
 * through hostd on this machine. `npm run lab` sets the connection
 * (kvm:transport local, kvm:socketPath) and runs `pulumi up`.
 */
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import * as kvm from "pulumi-kvm";

const cfg = new pulumi.Config();
// Pulumi runs programs from the project root (the repo root for this lab).
const guest = cfg.get("guestDir") ?? path.resolve(".cache", "guest", "tiny");

const vm = new kvm.Vm("hello", {
  vcpus: 1,
  memoryMiB: cfg.getNumber("memoryMiB") ?? 128,
  kernel: {
    path: path.join(guest, "vmlinuz"),
    initrd: path.join(guest, "initrd.img"),
    cmdline: "console=ttyS0 no_timer_check panic=-1",
  },
});

export const name = vm.name;
export const state = vm.state;
export const accelerator = vm.accelerator;
export const host = vm.host;
export const vmId = vm.vmId;
