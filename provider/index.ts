/**
 * pulumi-kvm: KVM virtual machines as code.
 *
 * ```ts
 * import * as kvm from "pulumi-kvm";
 * ```
 */
export { Vm, VmArgs, KernelBootArgs, ConnectionArgs } from "./vm";
export { KvmError } from "../sdk/errors";
