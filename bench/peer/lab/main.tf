# The peer of examples/lab (Pulumi): ONE isolated network with DHCP + DNS and
# var.vm_count direct-kernel-boot VMs on it; apply returns once every VM has
# its DHCP lease (wait_for_lease = the Pulumi lab's waitFor: "ip").

locals {
  # The provider takes the kernel command line as a list of maps: {key = value}
  # for key=value words, {"_" = word} for bare words.
  cmdline = [
    for w in split(" ", trimspace(var.cmdline)) :
    length(split("=", w)) > 1
    ? tomap({ (split("=", w)[0]) = join("=", slice(split("=", w), 1, length(split("=", w)))) })
    : tomap({ "_" = w })
  ]
  # XSLT applied to the provider's domain XML: keep a serial log (like hostd's
  # serial logfile) and, when headless, drop the default SPICE display, video
  # card and guest-agent channel (hostd runs QEMU with -display none -nodefaults).
  domain_xslt = <<-XSLT
    <?xml version="1.0"?>
    <xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
      <xsl:output omit-xml-declaration="yes" indent="yes"/>
      <xsl:template match="node()|@*">
        <xsl:copy><xsl:apply-templates select="node()|@*"/></xsl:copy>
      </xsl:template>
      <xsl:template match="/domain/devices/console">
        <xsl:copy>
          <xsl:apply-templates select="node()|@*"/>
          <log append="off"><xsl:attribute name="file"><xsl:value-of select="concat('/var/log/libvirt/qemu/', /domain/name, '.serial.log')"/></xsl:attribute></log>
        </xsl:copy>
      </xsl:template>
    %{~if var.headless}
      <xsl:template match="/domain/devices/graphics"/>
      <xsl:template match="/domain/devices/video"/>
      <xsl:template match="/domain/devices/channel"/>
    %{~endif}
    </xsl:stylesheet>
  XSLT
}

resource "libvirt_network" "lab" {
  name      = "${var.prefix}-net"
  mode      = "none" # isolated: no forward, no NAT
  domain    = var.domain
  addresses = [var.cidr]
  autostart = false
  dhcp {
    enabled = true
  }
  dns {
    enabled    = true
    local_only = true
  }
}

resource "libvirt_domain" "vm" {
  count   = var.vm_count
  name    = "${var.prefix}-vm${count.index + 1}"
  type    = var.domain_type
  machine = "q35"
  memory  = var.memory_mib
  vcpu    = var.vcpus

  cpu {
    mode = var.cpu_mode
  }

  kernel  = var.kernel
  initrd  = var.initrd
  cmdline = local.cmdline

  network_interface {
    network_id     = libvirt_network.lab.id
    # With a hostname the provider pins an address for the VM's MAC in the
    # network's DHCP host table (and so its DNS name <vm>.<domain>, like the
    # Pulumi lab's dnsNames); without one the guest takes any address from the pool.
    hostname       = var.dhcp_hostnames ? "${var.prefix}-vm${count.index + 1}" : null
    wait_for_lease = true
  }

  # Serial console (the guest prints "READY ip=..." on ttyS0), readable with
  # `virsh console`; the XSLT below also logs it to
  # .cache/peer/libvirt/log/qemu/<name>.serial.log.
  console {
    type        = "pty"
    target_type = "serial"
    target_port = "0"
  }

  xml {
    xslt = local.domain_xslt
  }
}

output "ips" {
  description = "VM name -> its address on the lab network."
  value       = { for d in libvirt_domain.vm : d.name => try(d.network_interface[0].addresses[0], null) }
}

output "network" {
  value = { name = libvirt_network.lab.name, bridge = libvirt_network.lab.bridge, cidr = var.cidr }
}
