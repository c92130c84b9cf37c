terraform {
  required_version = ">= 1.5"
  required_providers {
    libvirt = {
      source  = "dmacvicar/libvirt"
      version = "0.8.3"
    }
  }
}

provider "libvirt" {
  # qemu+unix:///system?socket=<private libvirtd socket> (bench/peer/env.sh sets it).
  uri = var.libvirt_uri
}
