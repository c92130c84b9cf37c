variable "libvirt_uri" {
  description = "libvirt connection URI (the private libvirtd started by bench/peer/libvirt.sh)."
  type        = string
}

variable "vm_count" {
  description = "Number of VMs on the lab network."
  type        = number
  default     = 10
}

variable "prefix" {
  description = "Name prefix of the network and the VMs."
  type        = string
  default     = "peer"
}

variable "cidr" {
  description = "Address range of the isolated lab network (DHCP on it)."
  type        = string
  default     = "10.77.0.0/24"
}

variable "domain" {
  description = "DNS domain served on the lab network."
  type        = string
  default     = "lab.internal"
}

variable "memory_mib" {
  type    = number
  default = 128
}

variable "vcpus" {
  type    = number
  default = 1
}

variable "kernel" {
  description = "Path of the guest kernel on the libvirt host."
  type        = string
}

variable "initrd" {
  description = "Path of the guest initrd on the libvirt host."
  type        = string
}

variable "cmdline" {
  description = "Kernel command line (space separated)."
  type        = string
  default     = "console=ttyS0 no_timer_check panic=-1"
}

variable "domain_type" {
  description = "libvirt domain type: qemu (TCG) here, since /dev/kvm cannot run guests on this machine."
  type        = string
  default     = "qemu"
}

variable "headless" {
  description = "Drop the provider's default SPICE display, video card and guest-agent channel (like hostd's -display none -nodefaults)."
  type        = bool
  default     = true
}

variable "cpu_mode" {
  description = "libvirt CPU mode; \"maximum\" is QEMU's -cpu max, as hostd uses under TCG."
  type        = string
  default     = "maximum"
}

variable "dhcp_hostnames" {
  description = "Register each VM's name (DHCP host entry + DNS) on the network, as the Pulumi lab does."
  type        = bool
  default     = true
}
