import * as pulumi from "@pulumi/pulumi";
import type { ConnectionArgs } from "./vm";
import type { NetworkOutputs } from "./network-provider";

export interface NetworkArgs {
  /** Network name on the host. Default: `<namePrefix>-<random>`, stable across updates. */
  name?: pulumi.Input<string>;
  namePrefix?: pulumi.Input<string>;
  /**
   * `nat` (default): private subnet, masqueraded out through the host's default route;
   * `isolated`: VMs and the host only; `bridge`: taps on an existing host bridge (the LAN's DHCP serves VMs).
   * Switching between nat and isolated is done in place.
   */
  mode?: pulumi.Input<"nat" | "isolated" | "bridge">;
  /** nat/isolated: the bridge hostd creates (default `kvbr-<hash>`); bridge: the existing host bridge. At most 15 characters. */
  bridge?: pulumi.Input<string>;
  /** nat/isolated: the subnet, e.g. `{ cidr: "10.20.0.0/24" }`; gateway defaults to the first address. Changing it replaces the network. */
  ipv4?: pulumi.Input<{ cidr: pulumi.Input<string>; gateway?: pulumi.Input<string> }>;
  /** DHCP range and lease time. Default: the whole subnet after the gateway, 1 hour. */
  dhcp?: pulumi.Input<{ start: pulumi.Input<string>; end: pulumi.Input<string>; leaseSeconds?: pulumi.Input<number> }>;
  /** DNS domain: `<vm>.<domain>` resolves to the VM's address for every VM on the network. */
  domain?: pulumi.Input<string>;
  /** MTU of the bridge and the VMs' taps. */
  mtu?: pulumi.Input<number>;
  connection?: pulumi.Input<ConnectionArgs>;
}

/**
 * A network on a host running hostd: a bridge with DHCP and DNS (dnsmasq),
 * and for `nat` a masquerade out; or, in `bridge` mode, the host's own bridge.
 *
 * ```ts
 * const lab = new kvm.Network("lab", { mode: "isolated", ipv4: { cidr: "10.20.0.0/24" }, domain: "lab.internal" });
 * new kvm.Vm("web", { ..., networkInterfaces: [{ network: lab }] });
 * ```
 */
export class Network extends pulumi.dynamic.Resource {
  declare readonly name: pulumi.Output<string>;
  declare readonly mode: pulumi.Output<string>;
  declare readonly networkId: pulumi.Output<string>;
  /** The id of the host it lives on (hostd's host id; a host is its id, never the route that reaches it). */
  declare readonly hostId: pulumi.Output<string>;
  declare readonly host: pulumi.Output<string>;
  /** The bridge VMs' taps are on. */
  declare readonly bridgeName: pulumi.Output<string>;
  declare readonly gateway: pulumi.Output<string | null>;
  declare readonly dhcpStart: pulumi.Output<string | null>;
  declare readonly dhcpEnd: pulumi.Output<string | null>;
  /** `active`, or `degraded` with the reasons in `problems`. */
  declare readonly state: pulumi.Output<string>;
  declare readonly problems: pulumi.Output<string[]>;
  declare readonly vms: pulumi.Output<string[]>;

  constructor(name: string, args: NetworkArgs, opts?: pulumi.CustomResourceOptions) {
    const inputs: Record<string, unknown> = {
      name: args.name,
      namePrefix: args.namePrefix ?? name,
      // Seeds the generated name, so a create that is interrupted and run again finds what it made.
      nameSeed: `${pulumi.getProject()}/${pulumi.getStack()}/kvm:Network/${name}`,
      mode: args.mode,
      bridge: args.bridge,
      ipv4: args.ipv4,
      dhcp: args.dhcp,
      domain: args.domain,
      mtu: args.mtu,
      connection: args.connection,
      networkId: undefined,
      hostId: undefined,
      route: undefined,
      host: undefined,
      bridgeName: undefined,
      gateway: undefined,
      dhcpStart: undefined,
      dhcpEnd: undefined,
      state: undefined,
      problems: undefined,
      vms: undefined,
    };
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const provider = require("./network-provider") as pulumi.dynamic.ResourceProvider;
    super(provider, name, inputs, {
      ...opts,
      additionalSecretOutputs: [...(opts?.additionalSecretOutputs ?? []), "connection"],
    }, "kvm", "Network");
  }
}

export type { NetworkOutputs };
