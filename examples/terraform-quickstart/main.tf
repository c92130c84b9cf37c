# The quick-start lab in HCL: one VM booting the tiny test guest (built by
# scripts/build-tiny-guest.sh) through a hostd on this machine, the same VM
# as the Pulumi quick start (Pulumi.yaml, examples/quickstart/index.ts).
#
#   terraform init            # with terraform-provider-kvm installed (README, "Terraform")
#   terraform apply -var socket_path=/run/hostd/hostd.sock -var guest_dir=$PWD/../../.cache/guest/tiny
#   terraform destroy
#
# Over SSH instead: replace `transport` and `socket_path` in the provider block
# with host, user, private_key_path and known_hosts_path.
# test/terraform-e2e.test.ts applies this file as it is.

terraform {
  required_providers {
    kvm = { source = "example.net/pulumi-kvm/kvm" }
  }
}

variable "socket_path" {
  type        = string
  description = "hostd's socket on this machine."
  default     = "/run/hostd/hostd.sock"
}

variable "guest_dir" {
  type        = string
  description = "The tiny guest's folder (vmlinuz, initrd.img)."
}

variable "memory_mib" {
  type    = number
  default = 128
}

provider "kvm" {
  transport   = "local"
  socket_path = var.socket_path
}

resource "kvm_vm" "hello" {
  name       = "hello"
  vcpus      = 1
  memory_mib = var.memory_mib
  kernel = {
    path    = "${var.guest_dir}/vmlinuz"
    initrd  = "${var.guest_dir}/initrd.img"
    cmdline = "console=ttyS0 no_timer_check panic=-1"
  }
}

output "state" { value = kvm_vm.hello.state }
output "accelerator" { value = kvm_vm.hello.accelerator }
output "vm_id" { value = kvm_vm.hello.id }
output "host" { value = kvm_vm.hello.host }
