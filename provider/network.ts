import * as pulumi from "@pulumi/pulumi";
import { NETWORK_FIELDS } from "../sdk/protocol";
import type { NetworkOutputs } from "./network-provider";
import { NETWORK_OUTPUT_FIELDS } from "./outputs";
import { ArgsOf, PLACEMENT_OUTPUTS, placementArgs, resourceInputs, ResourceArgs, resourceOptions } from "./resource";

/** What the provider reports besides the table's fields (see NetworkOutputs). */
const NETWORK_OUTPUTS = [...PLACEMENT_OUTPUTS, "networkId", ...Object.keys(NETWORK_OUTPUT_FIELDS)];

/** A Network's arguments: the fields of `NETWORK_FIELDS` (sdk/protocol/network.ts; the README's `kvm.Network` table is generated from it). */
export type NetworkArgs = ArgsOf<typeof NETWORK_FIELDS> & ResourceArgs;

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
  /** The kvm.Host it is on (undefined: the stack's default host). */
  declare readonly hostName: pulumi.Output<string | undefined>;
  /** Where the program put it (its `host` and `connection` inputs): what a Vm using it checks against its own. */
  readonly placedBy: { host?: unknown; connection?: unknown };
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
    const inputs = resourceInputs("kvm:Network", name, NETWORK_FIELDS, args, {}, NETWORK_OUTPUTS);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const provider = require("./network-provider") as pulumi.dynamic.ResourceProvider;
    super(provider, name, inputs, resourceOptions(NETWORK_FIELDS, opts), "kvm", "Network");
    this.placedBy = placementArgs(args);
  }
}

export type { NetworkOutputs };
