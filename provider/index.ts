/**
 * pulumi-kvm: KVM virtual machines as code.
 *
 * ```ts
 * import * as kvm from "pulumi-kvm";
 * ```
 */
export { Vm, VmArgs, KernelBootArgs, ConnectionArgs, VmDiskArgs, UserNicArgs, NetworkNicArgs, PortForwardArgs, CloudInitArgs } from "./vm";
export { Disk, DiskArgs, DiskSourceArgs } from "./disk";
export { Network, NetworkArgs } from "./network";
export { Host, HostArgs } from "./host";
export { KvmError } from "../sdk/errors";
