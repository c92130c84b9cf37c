// https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/vm
// generated from terraform resource schema

import { Construct } from 'constructs';
import * as cdktf from 'cdktf';

// Configuration

export interface VmConfig extends cdktf.TerraformMetaArguments {
  /**
  * `cdrom` and `disk` in boot order.
  *
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/vm#boot_order Vm#boot_order}
  */
  readonly bootOrder?: string[];
  /**
  * A read-only ISO on the host `{ path }`, e.g. an installer; booted first by default.
  *
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/vm#cdrom Vm#cdrom}
  */
  readonly cdrom?: VmCdrom;
  /**
  * cloud-init NoCloud data `{ userData, metaData?, networkConfig?, instanceId? }` on a seed disk hostd builds; kept secret in state.
  *
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/vm#cloud_init Vm#cloud_init}
  */
  readonly cloudInit?: VmCloudInit;
  /**
  * The guest's CPU: `host` is this host's own (KVM: passthrough; TCG: QEMU's `max`), fastest, and moves live only to a host whose CPU offers exactly the same features; a named QEMU model (e.g. `Haswell-v4`, `EPYC-v4`, `qemu64`) is the same CPU on every host, starts only where the host offers all of it, and moves live to any such host.
  *
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/vm#cpu_model Vm#cpu_model}
  */
  readonly cpuModel?: string;
  /**
  * Disks `[{ disk, bus? }]`, boot disk first; bus `virtio` (default), `scsi` or `sata`.
  *
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/vm#disks Vm#disks}
  */
  readonly disks?: VmDisks[] | cdktf.IResolvable;
  /**
  * `bios` (SeaBIOS) or `uefi` (OVMF with the VM's own NVRAM, kept across restarts, removed with the VM).
  *
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/vm#firmware Vm#firmware}
  */
  readonly firmware?: string;
  /**
  * Add the qemu-guest-agent channel (IPs, hostname, OS, clean shutdown).
  *
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/vm#guest_agent Vm#guest_agent}
  */
  readonly guestAgent?: boolean | cdktf.IResolvable;
  /**
  * Direct kernel boot from host files `{ path, initrd?, cmdline? }` (skips firmware and boot loader).
  *
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/vm#kernel Vm#kernel}
  */
  readonly kernel?: VmKernel;
  /**
  * Memory in MiB the running VM can grow to without a restart (up to 8 hot-added DIMMs between restarts).
  *
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/vm#max_memory_mib Vm#max_memory_mib}
  */
  readonly maxMemoryMib?: number;
  /**
  * vCPUs the running VM can grow to without a restart (QEMU's maxcpus).
  *
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/vm#max_vcpus Vm#max_vcpus}
  */
  readonly maxVcpus?: number;
  /**
  * Memory in MiB.
  *
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/vm#memory_mib Vm#memory_mib}
  */
  readonly memoryMib?: number;
  /**
  * VM name on the host; generated from the resource name when not given, and kept across updates.
  *
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/vm#name Vm#name}
  */
  readonly name?: string;
  /**
  * NICs in guest order: `{ network, mac?, ip?, model? }` on a kvm.Network (a tap on its bridge; `ip` is a static DHCP lease; model `virtio` or `e1000e`), or `{ type: "user", portForwards? }`.
  *
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/vm#network_interfaces Vm#network_interfaces}
  */
  readonly networkInterfaces?: VmNetworkInterfaces[] | cdktf.IResolvable;
  /**
  * `on-crash`: hostd starts the VM again when QEMU crashes or is killed (backing off; gives up after 5 restarts in 10 minutes). `never`: the next `pulumi up` does.
  *
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/vm#restart_policy Vm#restart_policy}
  */
  readonly restartPolicy?: string;
  /**
  * Desired power state.
  *
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/vm#running Vm#running}
  */
  readonly running?: boolean | cdktf.IResolvable;
  /**
  * How long the guest gets to shut down (guest agent, else ACPI) when an update stops or restarts it, before it is powered off. 0 powers it off at once: for guests that ignore ACPI (firmware alone, installers).
  *
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/vm#stop_timeout_seconds Vm#stop_timeout_seconds}
  */
  readonly stopTimeoutSeconds?: number;
  /**
  * Bound on that wait, in seconds (customTimeouts do not reach dynamic providers).
  *
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/vm#timeout_seconds Vm#timeout_seconds}
  */
  readonly timeoutSeconds?: number;
  /**
  * Virtual CPUs.
  *
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/vm#vcpus Vm#vcpus}
  */
  readonly vcpus?: number;
  /**
  * What create and update wait for: `running`, `agent` (the guest agent answers) or `ip` (an address from this boot's DHCP lease or the agent). Refresh never waits. Set PULUMI_PARALLEL above the number of VMs that wait at once.
  *
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/vm#wait_for Vm#wait_for}
  */
  readonly waitFor?: string;
  /**
  * timeouts block
  *
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/vm#timeouts Vm#timeouts}
  */
  readonly timeouts?: VmTimeouts;
}
export interface VmCdrom {
  /**
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/vm#path Vm#path}
  */
  readonly path?: string;
}

export function vmCdromToTerraform(struct?: VmCdrom | cdktf.IResolvable): any {
  if (!cdktf.canInspect(struct) || cdktf.Tokenization.isResolvable(struct)) { return struct; }
  if (cdktf.isComplexElement(struct)) {
    throw new Error("A complex element was used as configuration, this is not supported: https://cdk.tf/complex-object-as-configuration");
  }
  return {
    path: cdktf.stringToTerraform(struct!.path),
  }
}


export function vmCdromToHclTerraform(struct?: VmCdrom | cdktf.IResolvable): any {
  if (!cdktf.canInspect(struct) || cdktf.Tokenization.isResolvable(struct)) { return struct; }
  if (cdktf.isComplexElement(struct)) {
    throw new Error("A complex element was used as configuration, this is not supported: https://cdk.tf/complex-object-as-configuration");
  }
  const attrs = {
    path: {
      value: cdktf.stringToHclTerraform(struct!.path),
      isBlock: false,
      type: "simple",
      storageClassType: "string",
    },
  };

  // remove undefined attributes
  return Object.fromEntries(Object.entries(attrs).filter(([_, value]) => value !== undefined && value.value !== undefined));
}

export class VmCdromOutputReference extends cdktf.ComplexObject {
  private isEmptyObject = false;
  private resolvableValue?: cdktf.IResolvable;

  /**
  * @param terraformResource The parent resource
  * @param terraformAttribute The attribute on the parent resource this class is referencing
  */
  public constructor(terraformResource: cdktf.IInterpolatingParent, terraformAttribute: string) {
    super(terraformResource, terraformAttribute, false);
  }

  public get internalValue(): VmCdrom | cdktf.IResolvable | undefined {
    if (this.resolvableValue) {
      return this.resolvableValue;
    }
    let hasAnyValues = this.isEmptyObject;
    const internalValueResult: any = {};
    if (this._path !== undefined) {
      hasAnyValues = true;
      internalValueResult.path = this._path;
    }
    return hasAnyValues ? internalValueResult : undefined;
  }

  public set internalValue(value: VmCdrom | cdktf.IResolvable | undefined) {
    if (value === undefined) {
      this.isEmptyObject = false;
      this.resolvableValue = undefined;
      this._path = undefined;
    }
    else if (cdktf.Tokenization.isResolvable(value)) {
      this.isEmptyObject = false;
      this.resolvableValue = value;
    }
    else {
      this.isEmptyObject = Object.keys(value).length === 0;
      this.resolvableValue = undefined;
      this._path = value.path;
    }
  }

  // path - computed: false, optional: true, required: false
  private _path?: string; 
  public get path() {
    return this.getStringAttribute('path');
  }
  public set path(value: string) {
    this._path = value;
  }
  public resetPath() {
    this._path = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get pathInput() {
    return this._path;
  }
}
export interface VmCloudInit {
  /**
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/vm#instance_id Vm#instance_id}
  */
  readonly instanceId?: string;
  /**
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/vm#meta_data Vm#meta_data}
  */
  readonly metaData?: string;
  /**
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/vm#network_config Vm#network_config}
  */
  readonly networkConfig?: string;
  /**
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/vm#user_data Vm#user_data}
  */
  readonly userData?: string;
}

export function vmCloudInitToTerraform(struct?: VmCloudInit | cdktf.IResolvable): any {
  if (!cdktf.canInspect(struct) || cdktf.Tokenization.isResolvable(struct)) { return struct; }
  if (cdktf.isComplexElement(struct)) {
    throw new Error("A complex element was used as configuration, this is not supported: https://cdk.tf/complex-object-as-configuration");
  }
  return {
    instance_id: cdktf.stringToTerraform(struct!.instanceId),
    meta_data: cdktf.stringToTerraform(struct!.metaData),
    network_config: cdktf.stringToTerraform(struct!.networkConfig),
    user_data: cdktf.stringToTerraform(struct!.userData),
  }
}


export function vmCloudInitToHclTerraform(struct?: VmCloudInit | cdktf.IResolvable): any {
  if (!cdktf.canInspect(struct) || cdktf.Tokenization.isResolvable(struct)) { return struct; }
  if (cdktf.isComplexElement(struct)) {
    throw new Error("A complex element was used as configuration, this is not supported: https://cdk.tf/complex-object-as-configuration");
  }
  const attrs = {
    instance_id: {
      value: cdktf.stringToHclTerraform(struct!.instanceId),
      isBlock: false,
      type: "simple",
      storageClassType: "string",
    },
    meta_data: {
      value: cdktf.stringToHclTerraform(struct!.metaData),
      isBlock: false,
      type: "simple",
      storageClassType: "string",
    },
    network_config: {
      value: cdktf.stringToHclTerraform(struct!.networkConfig),
      isBlock: false,
      type: "simple",
      storageClassType: "string",
    },
    user_data: {
      value: cdktf.stringToHclTerraform(struct!.userData),
      isBlock: false,
      type: "simple",
      storageClassType: "string",
    },
  };

  // remove undefined attributes
  return Object.fromEntries(Object.entries(attrs).filter(([_, value]) => value !== undefined && value.value !== undefined));
}

export class VmCloudInitOutputReference extends cdktf.ComplexObject {
  private isEmptyObject = false;
  private resolvableValue?: cdktf.IResolvable;

  /**
  * @param terraformResource The parent resource
  * @param terraformAttribute The attribute on the parent resource this class is referencing
  */
  public constructor(terraformResource: cdktf.IInterpolatingParent, terraformAttribute: string) {
    super(terraformResource, terraformAttribute, false);
  }

  public get internalValue(): VmCloudInit | cdktf.IResolvable | undefined {
    if (this.resolvableValue) {
      return this.resolvableValue;
    }
    let hasAnyValues = this.isEmptyObject;
    const internalValueResult: any = {};
    if (this._instanceId !== undefined) {
      hasAnyValues = true;
      internalValueResult.instanceId = this._instanceId;
    }
    if (this._metaData !== undefined) {
      hasAnyValues = true;
      internalValueResult.metaData = this._metaData;
    }
    if (this._networkConfig !== undefined) {
      hasAnyValues = true;
      internalValueResult.networkConfig = this._networkConfig;
    }
    if (this._userData !== undefined) {
      hasAnyValues = true;
      internalValueResult.userData = this._userData;
    }
    return hasAnyValues ? internalValueResult : undefined;
  }

  public set internalValue(value: VmCloudInit | cdktf.IResolvable | undefined) {
    if (value === undefined) {
      this.isEmptyObject = false;
      this.resolvableValue = undefined;
      this._instanceId = undefined;
      this._metaData = undefined;
      this._networkConfig = undefined;
      this._userData = undefined;
    }
    else if (cdktf.Tokenization.isResolvable(value)) {
      this.isEmptyObject = false;
      this.resolvableValue = value;
    }
    else {
      this.isEmptyObject = Object.keys(value).length === 0;
      this.resolvableValue = undefined;
      this._instanceId = value.instanceId;
      this._metaData = value.metaData;
      this._networkConfig = value.networkConfig;
      this._userData = value.userData;
    }
  }

  // instance_id - computed: false, optional: true, required: false
  private _instanceId?: string; 
  public get instanceId() {
    return this.getStringAttribute('instance_id');
  }
  public set instanceId(value: string) {
    this._instanceId = value;
  }
  public resetInstanceId() {
    this._instanceId = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get instanceIdInput() {
    return this._instanceId;
  }

  // meta_data - computed: false, optional: true, required: false
  private _metaData?: string; 
  public get metaData() {
    return this.getStringAttribute('meta_data');
  }
  public set metaData(value: string) {
    this._metaData = value;
  }
  public resetMetaData() {
    this._metaData = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get metaDataInput() {
    return this._metaData;
  }

  // network_config - computed: false, optional: true, required: false
  private _networkConfig?: string; 
  public get networkConfig() {
    return this.getStringAttribute('network_config');
  }
  public set networkConfig(value: string) {
    this._networkConfig = value;
  }
  public resetNetworkConfig() {
    this._networkConfig = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get networkConfigInput() {
    return this._networkConfig;
  }

  // user_data - computed: false, optional: true, required: false
  private _userData?: string; 
  public get userData() {
    return this.getStringAttribute('user_data');
  }
  public set userData(value: string) {
    this._userData = value;
  }
  public resetUserData() {
    this._userData = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get userDataInput() {
    return this._userData;
  }
}
export interface VmDisks {
  /**
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/vm#bus Vm#bus}
  */
  readonly bus?: string;
  /**
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/vm#disk Vm#disk}
  */
  readonly disk?: string;
}

export function vmDisksToTerraform(struct?: VmDisks | cdktf.IResolvable): any {
  if (!cdktf.canInspect(struct) || cdktf.Tokenization.isResolvable(struct)) { return struct; }
  if (cdktf.isComplexElement(struct)) {
    throw new Error("A complex element was used as configuration, this is not supported: https://cdk.tf/complex-object-as-configuration");
  }
  return {
    bus: cdktf.stringToTerraform(struct!.bus),
    disk: cdktf.stringToTerraform(struct!.disk),
  }
}


export function vmDisksToHclTerraform(struct?: VmDisks | cdktf.IResolvable): any {
  if (!cdktf.canInspect(struct) || cdktf.Tokenization.isResolvable(struct)) { return struct; }
  if (cdktf.isComplexElement(struct)) {
    throw new Error("A complex element was used as configuration, this is not supported: https://cdk.tf/complex-object-as-configuration");
  }
  const attrs = {
    bus: {
      value: cdktf.stringToHclTerraform(struct!.bus),
      isBlock: false,
      type: "simple",
      storageClassType: "string",
    },
    disk: {
      value: cdktf.stringToHclTerraform(struct!.disk),
      isBlock: false,
      type: "simple",
      storageClassType: "string",
    },
  };

  // remove undefined attributes
  return Object.fromEntries(Object.entries(attrs).filter(([_, value]) => value !== undefined && value.value !== undefined));
}

export class VmDisksOutputReference extends cdktf.ComplexObject {
  private isEmptyObject = false;
  private resolvableValue?: cdktf.IResolvable;

  /**
  * @param terraformResource The parent resource
  * @param terraformAttribute The attribute on the parent resource this class is referencing
  * @param complexObjectIndex the index of this item in the list
  * @param complexObjectIsFromSet whether the list is wrapping a set (will add tolist() to be able to access an item via an index)
  */
  public constructor(terraformResource: cdktf.IInterpolatingParent, terraformAttribute: string, complexObjectIndex: number, complexObjectIsFromSet: boolean) {
    super(terraformResource, terraformAttribute, complexObjectIsFromSet, complexObjectIndex);
  }

  public get internalValue(): VmDisks | cdktf.IResolvable | undefined {
    if (this.resolvableValue) {
      return this.resolvableValue;
    }
    let hasAnyValues = this.isEmptyObject;
    const internalValueResult: any = {};
    if (this._bus !== undefined) {
      hasAnyValues = true;
      internalValueResult.bus = this._bus;
    }
    if (this._disk !== undefined) {
      hasAnyValues = true;
      internalValueResult.disk = this._disk;
    }
    return hasAnyValues ? internalValueResult : undefined;
  }

  public set internalValue(value: VmDisks | cdktf.IResolvable | undefined) {
    if (value === undefined) {
      this.isEmptyObject = false;
      this.resolvableValue = undefined;
      this._bus = undefined;
      this._disk = undefined;
    }
    else if (cdktf.Tokenization.isResolvable(value)) {
      this.isEmptyObject = false;
      this.resolvableValue = value;
    }
    else {
      this.isEmptyObject = Object.keys(value).length === 0;
      this.resolvableValue = undefined;
      this._bus = value.bus;
      this._disk = value.disk;
    }
  }

  // bus - computed: true, optional: true, required: false
  private _bus?: string; 
  public get bus() {
    return this.getStringAttribute('bus');
  }
  public set bus(value: string) {
    this._bus = value;
  }
  public resetBus() {
    this._bus = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get busInput() {
    return this._bus;
  }

  // disk - computed: true, optional: true, required: false
  private _disk?: string; 
  public get disk() {
    return this.getStringAttribute('disk');
  }
  public set disk(value: string) {
    this._disk = value;
  }
  public resetDisk() {
    this._disk = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get diskInput() {
    return this._disk;
  }
}

export class VmDisksList extends cdktf.ComplexList {
  public internalValue? : VmDisks[] | cdktf.IResolvable

  /**
  * @param terraformResource The parent resource
  * @param terraformAttribute The attribute on the parent resource this class is referencing
  * @param wrapsSet whether the list is wrapping a set (will add tolist() to be able to access an item via an index)
  */
  constructor(protected terraformResource: cdktf.IInterpolatingParent, protected terraformAttribute: string, protected wrapsSet: boolean) {
    super(terraformResource, terraformAttribute, wrapsSet)
  }

  /**
  * @param index the index of the item to return
  */
  public get(index: number): VmDisksOutputReference {
    return new VmDisksOutputReference(this.terraformResource, this.terraformAttribute, index, this.wrapsSet);
  }
}
export interface VmKernel {
  /**
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/vm#cmdline Vm#cmdline}
  */
  readonly cmdline?: string;
  /**
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/vm#initrd Vm#initrd}
  */
  readonly initrd?: string;
  /**
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/vm#path Vm#path}
  */
  readonly path?: string;
}

export function vmKernelToTerraform(struct?: VmKernel | cdktf.IResolvable): any {
  if (!cdktf.canInspect(struct) || cdktf.Tokenization.isResolvable(struct)) { return struct; }
  if (cdktf.isComplexElement(struct)) {
    throw new Error("A complex element was used as configuration, this is not supported: https://cdk.tf/complex-object-as-configuration");
  }
  return {
    cmdline: cdktf.stringToTerraform(struct!.cmdline),
    initrd: cdktf.stringToTerraform(struct!.initrd),
    path: cdktf.stringToTerraform(struct!.path),
  }
}


export function vmKernelToHclTerraform(struct?: VmKernel | cdktf.IResolvable): any {
  if (!cdktf.canInspect(struct) || cdktf.Tokenization.isResolvable(struct)) { return struct; }
  if (cdktf.isComplexElement(struct)) {
    throw new Error("A complex element was used as configuration, this is not supported: https://cdk.tf/complex-object-as-configuration");
  }
  const attrs = {
    cmdline: {
      value: cdktf.stringToHclTerraform(struct!.cmdline),
      isBlock: false,
      type: "simple",
      storageClassType: "string",
    },
    initrd: {
      value: cdktf.stringToHclTerraform(struct!.initrd),
      isBlock: false,
      type: "simple",
      storageClassType: "string",
    },
    path: {
      value: cdktf.stringToHclTerraform(struct!.path),
      isBlock: false,
      type: "simple",
      storageClassType: "string",
    },
  };

  // remove undefined attributes
  return Object.fromEntries(Object.entries(attrs).filter(([_, value]) => value !== undefined && value.value !== undefined));
}

export class VmKernelOutputReference extends cdktf.ComplexObject {
  private isEmptyObject = false;
  private resolvableValue?: cdktf.IResolvable;

  /**
  * @param terraformResource The parent resource
  * @param terraformAttribute The attribute on the parent resource this class is referencing
  */
  public constructor(terraformResource: cdktf.IInterpolatingParent, terraformAttribute: string) {
    super(terraformResource, terraformAttribute, false);
  }

  public get internalValue(): VmKernel | cdktf.IResolvable | undefined {
    if (this.resolvableValue) {
      return this.resolvableValue;
    }
    let hasAnyValues = this.isEmptyObject;
    const internalValueResult: any = {};
    if (this._cmdline !== undefined) {
      hasAnyValues = true;
      internalValueResult.cmdline = this._cmdline;
    }
    if (this._initrd !== undefined) {
      hasAnyValues = true;
      internalValueResult.initrd = this._initrd;
    }
    if (this._path !== undefined) {
      hasAnyValues = true;
      internalValueResult.path = this._path;
    }
    return hasAnyValues ? internalValueResult : undefined;
  }

  public set internalValue(value: VmKernel | cdktf.IResolvable | undefined) {
    if (value === undefined) {
      this.isEmptyObject = false;
      this.resolvableValue = undefined;
      this._cmdline = undefined;
      this._initrd = undefined;
      this._path = undefined;
    }
    else if (cdktf.Tokenization.isResolvable(value)) {
      this.isEmptyObject = false;
      this.resolvableValue = value;
    }
    else {
      this.isEmptyObject = Object.keys(value).length === 0;
      this.resolvableValue = undefined;
      this._cmdline = value.cmdline;
      this._initrd = value.initrd;
      this._path = value.path;
    }
  }

  // cmdline - computed: false, optional: true, required: false
  private _cmdline?: string; 
  public get cmdline() {
    return this.getStringAttribute('cmdline');
  }
  public set cmdline(value: string) {
    this._cmdline = value;
  }
  public resetCmdline() {
    this._cmdline = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get cmdlineInput() {
    return this._cmdline;
  }

  // initrd - computed: false, optional: true, required: false
  private _initrd?: string; 
  public get initrd() {
    return this.getStringAttribute('initrd');
  }
  public set initrd(value: string) {
    this._initrd = value;
  }
  public resetInitrd() {
    this._initrd = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get initrdInput() {
    return this._initrd;
  }

  // path - computed: false, optional: true, required: false
  private _path?: string; 
  public get path() {
    return this.getStringAttribute('path');
  }
  public set path(value: string) {
    this._path = value;
  }
  public resetPath() {
    this._path = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get pathInput() {
    return this._path;
  }
}
export interface VmLastExit {
  /**
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/vm#at Vm#at}
  */
  readonly at?: string;
  /**
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/vm#detail Vm#detail}
  */
  readonly detail?: string;
  /**
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/vm#reason Vm#reason}
  */
  readonly reason?: string;
}

export function vmLastExitToTerraform(struct?: VmLastExit): any {
  if (!cdktf.canInspect(struct) || cdktf.Tokenization.isResolvable(struct)) { return struct; }
  if (cdktf.isComplexElement(struct)) {
    throw new Error("A complex element was used as configuration, this is not supported: https://cdk.tf/complex-object-as-configuration");
  }
  return {
    at: cdktf.stringToTerraform(struct!.at),
    detail: cdktf.stringToTerraform(struct!.detail),
    reason: cdktf.stringToTerraform(struct!.reason),
  }
}


export function vmLastExitToHclTerraform(struct?: VmLastExit): any {
  if (!cdktf.canInspect(struct) || cdktf.Tokenization.isResolvable(struct)) { return struct; }
  if (cdktf.isComplexElement(struct)) {
    throw new Error("A complex element was used as configuration, this is not supported: https://cdk.tf/complex-object-as-configuration");
  }
  const attrs = {
    at: {
      value: cdktf.stringToHclTerraform(struct!.at),
      isBlock: false,
      type: "simple",
      storageClassType: "string",
    },
    detail: {
      value: cdktf.stringToHclTerraform(struct!.detail),
      isBlock: false,
      type: "simple",
      storageClassType: "string",
    },
    reason: {
      value: cdktf.stringToHclTerraform(struct!.reason),
      isBlock: false,
      type: "simple",
      storageClassType: "string",
    },
  };

  // remove undefined attributes
  return Object.fromEntries(Object.entries(attrs).filter(([_, value]) => value !== undefined && value.value !== undefined));
}

export class VmLastExitOutputReference extends cdktf.ComplexObject {
  private isEmptyObject = false;

  /**
  * @param terraformResource The parent resource
  * @param terraformAttribute The attribute on the parent resource this class is referencing
  */
  public constructor(terraformResource: cdktf.IInterpolatingParent, terraformAttribute: string) {
    super(terraformResource, terraformAttribute, false);
  }

  public get internalValue(): VmLastExit | undefined {
    let hasAnyValues = this.isEmptyObject;
    const internalValueResult: any = {};
    if (this._at !== undefined) {
      hasAnyValues = true;
      internalValueResult.at = this._at;
    }
    if (this._detail !== undefined) {
      hasAnyValues = true;
      internalValueResult.detail = this._detail;
    }
    if (this._reason !== undefined) {
      hasAnyValues = true;
      internalValueResult.reason = this._reason;
    }
    return hasAnyValues ? internalValueResult : undefined;
  }

  public set internalValue(value: VmLastExit | undefined) {
    if (value === undefined) {
      this.isEmptyObject = false;
      this._at = undefined;
      this._detail = undefined;
      this._reason = undefined;
    }
    else {
      this.isEmptyObject = Object.keys(value).length === 0;
      this._at = value.at;
      this._detail = value.detail;
      this._reason = value.reason;
    }
  }

  // at - computed: true, optional: true, required: false
  private _at?: string; 
  public get at() {
    return this.getStringAttribute('at');
  }
  public set at(value: string) {
    this._at = value;
  }
  public resetAt() {
    this._at = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get atInput() {
    return this._at;
  }

  // detail - computed: true, optional: true, required: false
  private _detail?: string; 
  public get detail() {
    return this.getStringAttribute('detail');
  }
  public set detail(value: string) {
    this._detail = value;
  }
  public resetDetail() {
    this._detail = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get detailInput() {
    return this._detail;
  }

  // reason - computed: true, optional: true, required: false
  private _reason?: string; 
  public get reason() {
    return this.getStringAttribute('reason');
  }
  public set reason(value: string) {
    this._reason = value;
  }
  public resetReason() {
    this._reason = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get reasonInput() {
    return this._reason;
  }
}
export interface VmNetworkInterfacesPortForwards {
  /**
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/vm#guest_port Vm#guest_port}
  */
  readonly guestPort?: number;
  /**
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/vm#host_address Vm#host_address}
  */
  readonly hostAddress?: string;
  /**
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/vm#host_port Vm#host_port}
  */
  readonly hostPort?: number;
  /**
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/vm#protocol Vm#protocol}
  */
  readonly protocol?: string;
}

export function vmNetworkInterfacesPortForwardsToTerraform(struct?: VmNetworkInterfacesPortForwards | cdktf.IResolvable): any {
  if (!cdktf.canInspect(struct) || cdktf.Tokenization.isResolvable(struct)) { return struct; }
  if (cdktf.isComplexElement(struct)) {
    throw new Error("A complex element was used as configuration, this is not supported: https://cdk.tf/complex-object-as-configuration");
  }
  return {
    guest_port: cdktf.numberToTerraform(struct!.guestPort),
    host_address: cdktf.stringToTerraform(struct!.hostAddress),
    host_port: cdktf.numberToTerraform(struct!.hostPort),
    protocol: cdktf.stringToTerraform(struct!.protocol),
  }
}


export function vmNetworkInterfacesPortForwardsToHclTerraform(struct?: VmNetworkInterfacesPortForwards | cdktf.IResolvable): any {
  if (!cdktf.canInspect(struct) || cdktf.Tokenization.isResolvable(struct)) { return struct; }
  if (cdktf.isComplexElement(struct)) {
    throw new Error("A complex element was used as configuration, this is not supported: https://cdk.tf/complex-object-as-configuration");
  }
  const attrs = {
    guest_port: {
      value: cdktf.numberToHclTerraform(struct!.guestPort),
      isBlock: false,
      type: "simple",
      storageClassType: "number",
    },
    host_address: {
      value: cdktf.stringToHclTerraform(struct!.hostAddress),
      isBlock: false,
      type: "simple",
      storageClassType: "string",
    },
    host_port: {
      value: cdktf.numberToHclTerraform(struct!.hostPort),
      isBlock: false,
      type: "simple",
      storageClassType: "number",
    },
    protocol: {
      value: cdktf.stringToHclTerraform(struct!.protocol),
      isBlock: false,
      type: "simple",
      storageClassType: "string",
    },
  };

  // remove undefined attributes
  return Object.fromEntries(Object.entries(attrs).filter(([_, value]) => value !== undefined && value.value !== undefined));
}

export class VmNetworkInterfacesPortForwardsOutputReference extends cdktf.ComplexObject {
  private isEmptyObject = false;
  private resolvableValue?: cdktf.IResolvable;

  /**
  * @param terraformResource The parent resource
  * @param terraformAttribute The attribute on the parent resource this class is referencing
  * @param complexObjectIndex the index of this item in the list
  * @param complexObjectIsFromSet whether the list is wrapping a set (will add tolist() to be able to access an item via an index)
  */
  public constructor(terraformResource: cdktf.IInterpolatingParent, terraformAttribute: string, complexObjectIndex: number, complexObjectIsFromSet: boolean) {
    super(terraformResource, terraformAttribute, complexObjectIsFromSet, complexObjectIndex);
  }

  public get internalValue(): VmNetworkInterfacesPortForwards | cdktf.IResolvable | undefined {
    if (this.resolvableValue) {
      return this.resolvableValue;
    }
    let hasAnyValues = this.isEmptyObject;
    const internalValueResult: any = {};
    if (this._guestPort !== undefined) {
      hasAnyValues = true;
      internalValueResult.guestPort = this._guestPort;
    }
    if (this._hostAddress !== undefined) {
      hasAnyValues = true;
      internalValueResult.hostAddress = this._hostAddress;
    }
    if (this._hostPort !== undefined) {
      hasAnyValues = true;
      internalValueResult.hostPort = this._hostPort;
    }
    if (this._protocol !== undefined) {
      hasAnyValues = true;
      internalValueResult.protocol = this._protocol;
    }
    return hasAnyValues ? internalValueResult : undefined;
  }

  public set internalValue(value: VmNetworkInterfacesPortForwards | cdktf.IResolvable | undefined) {
    if (value === undefined) {
      this.isEmptyObject = false;
      this.resolvableValue = undefined;
      this._guestPort = undefined;
      this._hostAddress = undefined;
      this._hostPort = undefined;
      this._protocol = undefined;
    }
    else if (cdktf.Tokenization.isResolvable(value)) {
      this.isEmptyObject = false;
      this.resolvableValue = value;
    }
    else {
      this.isEmptyObject = Object.keys(value).length === 0;
      this.resolvableValue = undefined;
      this._guestPort = value.guestPort;
      this._hostAddress = value.hostAddress;
      this._hostPort = value.hostPort;
      this._protocol = value.protocol;
    }
  }

  // guest_port - computed: true, optional: true, required: false
  private _guestPort?: number; 
  public get guestPort() {
    return this.getNumberAttribute('guest_port');
  }
  public set guestPort(value: number) {
    this._guestPort = value;
  }
  public resetGuestPort() {
    this._guestPort = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get guestPortInput() {
    return this._guestPort;
  }

  // host_address - computed: true, optional: true, required: false
  private _hostAddress?: string; 
  public get hostAddress() {
    return this.getStringAttribute('host_address');
  }
  public set hostAddress(value: string) {
    this._hostAddress = value;
  }
  public resetHostAddress() {
    this._hostAddress = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get hostAddressInput() {
    return this._hostAddress;
  }

  // host_port - computed: true, optional: true, required: false
  private _hostPort?: number; 
  public get hostPort() {
    return this.getNumberAttribute('host_port');
  }
  public set hostPort(value: number) {
    this._hostPort = value;
  }
  public resetHostPort() {
    this._hostPort = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get hostPortInput() {
    return this._hostPort;
  }

  // protocol - computed: true, optional: true, required: false
  private _protocol?: string; 
  public get protocol() {
    return this.getStringAttribute('protocol');
  }
  public set protocol(value: string) {
    this._protocol = value;
  }
  public resetProtocol() {
    this._protocol = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get protocolInput() {
    return this._protocol;
  }
}

export class VmNetworkInterfacesPortForwardsList extends cdktf.ComplexList {
  public internalValue? : VmNetworkInterfacesPortForwards[] | cdktf.IResolvable

  /**
  * @param terraformResource The parent resource
  * @param terraformAttribute The attribute on the parent resource this class is referencing
  * @param wrapsSet whether the list is wrapping a set (will add tolist() to be able to access an item via an index)
  */
  constructor(protected terraformResource: cdktf.IInterpolatingParent, protected terraformAttribute: string, protected wrapsSet: boolean) {
    super(terraformResource, terraformAttribute, wrapsSet)
  }

  /**
  * @param index the index of the item to return
  */
  public get(index: number): VmNetworkInterfacesPortForwardsOutputReference {
    return new VmNetworkInterfacesPortForwardsOutputReference(this.terraformResource, this.terraformAttribute, index, this.wrapsSet);
  }
}
export interface VmNetworkInterfaces {
  /**
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/vm#ip Vm#ip}
  */
  readonly ip?: string;
  /**
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/vm#mac Vm#mac}
  */
  readonly mac?: string;
  /**
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/vm#model Vm#model}
  */
  readonly model?: string;
  /**
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/vm#network Vm#network}
  */
  readonly network?: string;
  /**
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/vm#port_forwards Vm#port_forwards}
  */
  readonly portForwards?: VmNetworkInterfacesPortForwards[] | cdktf.IResolvable;
  /**
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/vm#type Vm#type}
  */
  readonly type?: string;
}

export function vmNetworkInterfacesToTerraform(struct?: VmNetworkInterfaces | cdktf.IResolvable): any {
  if (!cdktf.canInspect(struct) || cdktf.Tokenization.isResolvable(struct)) { return struct; }
  if (cdktf.isComplexElement(struct)) {
    throw new Error("A complex element was used as configuration, this is not supported: https://cdk.tf/complex-object-as-configuration");
  }
  return {
    ip: cdktf.stringToTerraform(struct!.ip),
    mac: cdktf.stringToTerraform(struct!.mac),
    model: cdktf.stringToTerraform(struct!.model),
    network: cdktf.stringToTerraform(struct!.network),
    port_forwards: cdktf.listMapper(vmNetworkInterfacesPortForwardsToTerraform, false)(struct!.portForwards),
    type: cdktf.stringToTerraform(struct!.type),
  }
}


export function vmNetworkInterfacesToHclTerraform(struct?: VmNetworkInterfaces | cdktf.IResolvable): any {
  if (!cdktf.canInspect(struct) || cdktf.Tokenization.isResolvable(struct)) { return struct; }
  if (cdktf.isComplexElement(struct)) {
    throw new Error("A complex element was used as configuration, this is not supported: https://cdk.tf/complex-object-as-configuration");
  }
  const attrs = {
    ip: {
      value: cdktf.stringToHclTerraform(struct!.ip),
      isBlock: false,
      type: "simple",
      storageClassType: "string",
    },
    mac: {
      value: cdktf.stringToHclTerraform(struct!.mac),
      isBlock: false,
      type: "simple",
      storageClassType: "string",
    },
    model: {
      value: cdktf.stringToHclTerraform(struct!.model),
      isBlock: false,
      type: "simple",
      storageClassType: "string",
    },
    network: {
      value: cdktf.stringToHclTerraform(struct!.network),
      isBlock: false,
      type: "simple",
      storageClassType: "string",
    },
    port_forwards: {
      value: cdktf.listMapperHcl(vmNetworkInterfacesPortForwardsToHclTerraform, false)(struct!.portForwards),
      isBlock: true,
      type: "list",
      storageClassType: "VmNetworkInterfacesPortForwardsList",
    },
    type: {
      value: cdktf.stringToHclTerraform(struct!.type),
      isBlock: false,
      type: "simple",
      storageClassType: "string",
    },
  };

  // remove undefined attributes
  return Object.fromEntries(Object.entries(attrs).filter(([_, value]) => value !== undefined && value.value !== undefined));
}

export class VmNetworkInterfacesOutputReference extends cdktf.ComplexObject {
  private isEmptyObject = false;
  private resolvableValue?: cdktf.IResolvable;

  /**
  * @param terraformResource The parent resource
  * @param terraformAttribute The attribute on the parent resource this class is referencing
  * @param complexObjectIndex the index of this item in the list
  * @param complexObjectIsFromSet whether the list is wrapping a set (will add tolist() to be able to access an item via an index)
  */
  public constructor(terraformResource: cdktf.IInterpolatingParent, terraformAttribute: string, complexObjectIndex: number, complexObjectIsFromSet: boolean) {
    super(terraformResource, terraformAttribute, complexObjectIsFromSet, complexObjectIndex);
  }

  public get internalValue(): VmNetworkInterfaces | cdktf.IResolvable | undefined {
    if (this.resolvableValue) {
      return this.resolvableValue;
    }
    let hasAnyValues = this.isEmptyObject;
    const internalValueResult: any = {};
    if (this._ip !== undefined) {
      hasAnyValues = true;
      internalValueResult.ip = this._ip;
    }
    if (this._mac !== undefined) {
      hasAnyValues = true;
      internalValueResult.mac = this._mac;
    }
    if (this._model !== undefined) {
      hasAnyValues = true;
      internalValueResult.model = this._model;
    }
    if (this._network !== undefined) {
      hasAnyValues = true;
      internalValueResult.network = this._network;
    }
    if (this._portForwards?.internalValue !== undefined) {
      hasAnyValues = true;
      internalValueResult.portForwards = this._portForwards?.internalValue;
    }
    if (this._type !== undefined) {
      hasAnyValues = true;
      internalValueResult.type = this._type;
    }
    return hasAnyValues ? internalValueResult : undefined;
  }

  public set internalValue(value: VmNetworkInterfaces | cdktf.IResolvable | undefined) {
    if (value === undefined) {
      this.isEmptyObject = false;
      this.resolvableValue = undefined;
      this._ip = undefined;
      this._mac = undefined;
      this._model = undefined;
      this._network = undefined;
      this._portForwards.internalValue = undefined;
      this._type = undefined;
    }
    else if (cdktf.Tokenization.isResolvable(value)) {
      this.isEmptyObject = false;
      this.resolvableValue = value;
    }
    else {
      this.isEmptyObject = Object.keys(value).length === 0;
      this.resolvableValue = undefined;
      this._ip = value.ip;
      this._mac = value.mac;
      this._model = value.model;
      this._network = value.network;
      this._portForwards.internalValue = value.portForwards;
      this._type = value.type;
    }
  }

  // ip - computed: true, optional: true, required: false
  private _ip?: string; 
  public get ip() {
    return this.getStringAttribute('ip');
  }
  public set ip(value: string) {
    this._ip = value;
  }
  public resetIp() {
    this._ip = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get ipInput() {
    return this._ip;
  }

  // mac - computed: true, optional: true, required: false
  private _mac?: string; 
  public get mac() {
    return this.getStringAttribute('mac');
  }
  public set mac(value: string) {
    this._mac = value;
  }
  public resetMac() {
    this._mac = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get macInput() {
    return this._mac;
  }

  // model - computed: true, optional: true, required: false
  private _model?: string; 
  public get model() {
    return this.getStringAttribute('model');
  }
  public set model(value: string) {
    this._model = value;
  }
  public resetModel() {
    this._model = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get modelInput() {
    return this._model;
  }

  // network - computed: true, optional: true, required: false
  private _network?: string; 
  public get network() {
    return this.getStringAttribute('network');
  }
  public set network(value: string) {
    this._network = value;
  }
  public resetNetwork() {
    this._network = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get networkInput() {
    return this._network;
  }

  // port_forwards - computed: true, optional: true, required: false
  private _portForwards = new VmNetworkInterfacesPortForwardsList(this, "port_forwards", false);
  public get portForwards() {
    return this._portForwards;
  }
  public putPortForwards(value: VmNetworkInterfacesPortForwards[] | cdktf.IResolvable) {
    this._portForwards.internalValue = value;
  }
  public resetPortForwards() {
    this._portForwards.internalValue = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get portForwardsInput() {
    return this._portForwards.internalValue;
  }

  // type - computed: true, optional: true, required: false
  private _type?: string; 
  public get type() {
    return this.getStringAttribute('type');
  }
  public set type(value: string) {
    this._type = value;
  }
  public resetType() {
    this._type = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get typeInput() {
    return this._type;
  }
}

export class VmNetworkInterfacesList extends cdktf.ComplexList {
  public internalValue? : VmNetworkInterfaces[] | cdktf.IResolvable

  /**
  * @param terraformResource The parent resource
  * @param terraformAttribute The attribute on the parent resource this class is referencing
  * @param wrapsSet whether the list is wrapping a set (will add tolist() to be able to access an item via an index)
  */
  constructor(protected terraformResource: cdktf.IInterpolatingParent, protected terraformAttribute: string, protected wrapsSet: boolean) {
    super(terraformResource, terraformAttribute, wrapsSet)
  }

  /**
  * @param index the index of the item to return
  */
  public get(index: number): VmNetworkInterfacesOutputReference {
    return new VmNetworkInterfacesOutputReference(this.terraformResource, this.terraformAttribute, index, this.wrapsSet);
  }
}
export interface VmNics {
  /**
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/vm#ip_addresses Vm#ip_addresses}
  */
  readonly ipAddresses?: string[];
  /**
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/vm#mac Vm#mac}
  */
  readonly mac?: string;
  /**
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/vm#network Vm#network}
  */
  readonly network?: string;
  /**
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/vm#tap Vm#tap}
  */
  readonly tap?: string;
}

export function vmNicsToTerraform(struct?: VmNics): any {
  if (!cdktf.canInspect(struct) || cdktf.Tokenization.isResolvable(struct)) { return struct; }
  if (cdktf.isComplexElement(struct)) {
    throw new Error("A complex element was used as configuration, this is not supported: https://cdk.tf/complex-object-as-configuration");
  }
  return {
    ip_addresses: cdktf.listMapper(cdktf.stringToTerraform, false)(struct!.ipAddresses),
    mac: cdktf.stringToTerraform(struct!.mac),
    network: cdktf.stringToTerraform(struct!.network),
    tap: cdktf.stringToTerraform(struct!.tap),
  }
}


export function vmNicsToHclTerraform(struct?: VmNics): any {
  if (!cdktf.canInspect(struct) || cdktf.Tokenization.isResolvable(struct)) { return struct; }
  if (cdktf.isComplexElement(struct)) {
    throw new Error("A complex element was used as configuration, this is not supported: https://cdk.tf/complex-object-as-configuration");
  }
  const attrs = {
    ip_addresses: {
      value: cdktf.listMapperHcl(cdktf.stringToHclTerraform, false)(struct!.ipAddresses),
      isBlock: false,
      type: "list",
      storageClassType: "stringList",
    },
    mac: {
      value: cdktf.stringToHclTerraform(struct!.mac),
      isBlock: false,
      type: "simple",
      storageClassType: "string",
    },
    network: {
      value: cdktf.stringToHclTerraform(struct!.network),
      isBlock: false,
      type: "simple",
      storageClassType: "string",
    },
    tap: {
      value: cdktf.stringToHclTerraform(struct!.tap),
      isBlock: false,
      type: "simple",
      storageClassType: "string",
    },
  };

  // remove undefined attributes
  return Object.fromEntries(Object.entries(attrs).filter(([_, value]) => value !== undefined && value.value !== undefined));
}

export class VmNicsOutputReference extends cdktf.ComplexObject {
  private isEmptyObject = false;

  /**
  * @param terraformResource The parent resource
  * @param terraformAttribute The attribute on the parent resource this class is referencing
  * @param complexObjectIndex the index of this item in the list
  * @param complexObjectIsFromSet whether the list is wrapping a set (will add tolist() to be able to access an item via an index)
  */
  public constructor(terraformResource: cdktf.IInterpolatingParent, terraformAttribute: string, complexObjectIndex: number, complexObjectIsFromSet: boolean) {
    super(terraformResource, terraformAttribute, complexObjectIsFromSet, complexObjectIndex);
  }

  public get internalValue(): VmNics | undefined {
    let hasAnyValues = this.isEmptyObject;
    const internalValueResult: any = {};
    if (this._ipAddresses !== undefined) {
      hasAnyValues = true;
      internalValueResult.ipAddresses = this._ipAddresses;
    }
    if (this._mac !== undefined) {
      hasAnyValues = true;
      internalValueResult.mac = this._mac;
    }
    if (this._network !== undefined) {
      hasAnyValues = true;
      internalValueResult.network = this._network;
    }
    if (this._tap !== undefined) {
      hasAnyValues = true;
      internalValueResult.tap = this._tap;
    }
    return hasAnyValues ? internalValueResult : undefined;
  }

  public set internalValue(value: VmNics | undefined) {
    if (value === undefined) {
      this.isEmptyObject = false;
      this._ipAddresses = undefined;
      this._mac = undefined;
      this._network = undefined;
      this._tap = undefined;
    }
    else {
      this.isEmptyObject = Object.keys(value).length === 0;
      this._ipAddresses = value.ipAddresses;
      this._mac = value.mac;
      this._network = value.network;
      this._tap = value.tap;
    }
  }

  // ip_addresses - computed: true, optional: true, required: false
  private _ipAddresses?: string[]; 
  public get ipAddresses() {
    return this.getListAttribute('ip_addresses');
  }
  public set ipAddresses(value: string[]) {
    this._ipAddresses = value;
  }
  public resetIpAddresses() {
    this._ipAddresses = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get ipAddressesInput() {
    return this._ipAddresses;
  }

  // mac - computed: true, optional: true, required: false
  private _mac?: string; 
  public get mac() {
    return this.getStringAttribute('mac');
  }
  public set mac(value: string) {
    this._mac = value;
  }
  public resetMac() {
    this._mac = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get macInput() {
    return this._mac;
  }

  // network - computed: true, optional: true, required: false
  private _network?: string; 
  public get network() {
    return this.getStringAttribute('network');
  }
  public set network(value: string) {
    this._network = value;
  }
  public resetNetwork() {
    this._network = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get networkInput() {
    return this._network;
  }

  // tap - computed: true, optional: true, required: false
  private _tap?: string; 
  public get tap() {
    return this.getStringAttribute('tap');
  }
  public set tap(value: string) {
    this._tap = value;
  }
  public resetTap() {
    this._tap = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get tapInput() {
    return this._tap;
  }
}

export class VmNicsList extends cdktf.ComplexList {
  public internalValue? : VmNics[] | cdktf.IResolvable

  /**
  * @param terraformResource The parent resource
  * @param terraformAttribute The attribute on the parent resource this class is referencing
  * @param wrapsSet whether the list is wrapping a set (will add tolist() to be able to access an item via an index)
  */
  constructor(protected terraformResource: cdktf.IInterpolatingParent, protected terraformAttribute: string, protected wrapsSet: boolean) {
    super(terraformResource, terraformAttribute, wrapsSet)
  }

  /**
  * @param index the index of the item to return
  */
  public get(index: number): VmNicsOutputReference {
    return new VmNicsOutputReference(this.terraformResource, this.terraformAttribute, index, this.wrapsSet);
  }
}
export interface VmTimeouts {
  /**
  * How long create may take, e.g. "10m" (Go duration).
  *
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/vm#create Vm#create}
  */
  readonly create?: string;
  /**
  * How long delete may take, e.g. "10m" (Go duration).
  *
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/vm#delete Vm#delete}
  */
  readonly delete?: string;
  /**
  * How long update may take, e.g. "10m" (Go duration).
  *
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/vm#update Vm#update}
  */
  readonly update?: string;
}

export function vmTimeoutsToTerraform(struct?: VmTimeouts | cdktf.IResolvable): any {
  if (!cdktf.canInspect(struct) || cdktf.Tokenization.isResolvable(struct)) { return struct; }
  if (cdktf.isComplexElement(struct)) {
    throw new Error("A complex element was used as configuration, this is not supported: https://cdk.tf/complex-object-as-configuration");
  }
  return {
    create: cdktf.stringToTerraform(struct!.create),
    delete: cdktf.stringToTerraform(struct!.delete),
    update: cdktf.stringToTerraform(struct!.update),
  }
}


export function vmTimeoutsToHclTerraform(struct?: VmTimeouts | cdktf.IResolvable): any {
  if (!cdktf.canInspect(struct) || cdktf.Tokenization.isResolvable(struct)) { return struct; }
  if (cdktf.isComplexElement(struct)) {
    throw new Error("A complex element was used as configuration, this is not supported: https://cdk.tf/complex-object-as-configuration");
  }
  const attrs = {
    create: {
      value: cdktf.stringToHclTerraform(struct!.create),
      isBlock: false,
      type: "simple",
      storageClassType: "string",
    },
    delete: {
      value: cdktf.stringToHclTerraform(struct!.delete),
      isBlock: false,
      type: "simple",
      storageClassType: "string",
    },
    update: {
      value: cdktf.stringToHclTerraform(struct!.update),
      isBlock: false,
      type: "simple",
      storageClassType: "string",
    },
  };

  // remove undefined attributes
  return Object.fromEntries(Object.entries(attrs).filter(([_, value]) => value !== undefined && value.value !== undefined));
}

export class VmTimeoutsOutputReference extends cdktf.ComplexObject {
  private isEmptyObject = false;
  private resolvableValue?: cdktf.IResolvable;

  /**
  * @param terraformResource The parent resource
  * @param terraformAttribute The attribute on the parent resource this class is referencing
  */
  public constructor(terraformResource: cdktf.IInterpolatingParent, terraformAttribute: string) {
    super(terraformResource, terraformAttribute, false);
  }

  public get internalValue(): VmTimeouts | cdktf.IResolvable | undefined {
    if (this.resolvableValue) {
      return this.resolvableValue;
    }
    let hasAnyValues = this.isEmptyObject;
    const internalValueResult: any = {};
    if (this._create !== undefined) {
      hasAnyValues = true;
      internalValueResult.create = this._create;
    }
    if (this._delete !== undefined) {
      hasAnyValues = true;
      internalValueResult.delete = this._delete;
    }
    if (this._update !== undefined) {
      hasAnyValues = true;
      internalValueResult.update = this._update;
    }
    return hasAnyValues ? internalValueResult : undefined;
  }

  public set internalValue(value: VmTimeouts | cdktf.IResolvable | undefined) {
    if (value === undefined) {
      this.isEmptyObject = false;
      this.resolvableValue = undefined;
      this._create = undefined;
      this._delete = undefined;
      this._update = undefined;
    }
    else if (cdktf.Tokenization.isResolvable(value)) {
      this.isEmptyObject = false;
      this.resolvableValue = value;
    }
    else {
      this.isEmptyObject = Object.keys(value).length === 0;
      this.resolvableValue = undefined;
      this._create = value.create;
      this._delete = value.delete;
      this._update = value.update;
    }
  }

  // create - computed: false, optional: true, required: false
  private _create?: string; 
  public get create() {
    return this.getStringAttribute('create');
  }
  public set create(value: string) {
    this._create = value;
  }
  public resetCreate() {
    this._create = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get createInput() {
    return this._create;
  }

  // delete - computed: false, optional: true, required: false
  private _delete?: string; 
  public get delete() {
    return this.getStringAttribute('delete');
  }
  public set delete(value: string) {
    this._delete = value;
  }
  public resetDelete() {
    this._delete = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get deleteInput() {
    return this._delete;
  }

  // update - computed: false, optional: true, required: false
  private _update?: string; 
  public get update() {
    return this.getStringAttribute('update');
  }
  public set update(value: string) {
    this._update = value;
  }
  public resetUpdate() {
    this._update = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get updateInput() {
    return this._update;
  }
}

/**
* Represents a {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/vm kvm_vm}
*/
export class Vm extends cdktf.TerraformResource {

  // =================
  // STATIC PROPERTIES
  // =================
  public static readonly tfResourceType = "kvm_vm";

  // ==============
  // STATIC Methods
  // ==============
  /**
  * Generates CDKTF code for importing a Vm resource upon running "cdktf plan <stack-name>"
  * @param scope The scope in which to define this construct
  * @param importToId The construct id used in the generated config for the Vm to import
  * @param importFromId The id of the existing Vm that should be imported. Refer to the {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/vm#import import section} in the documentation of this resource for the id to use
  * @param provider? Optional instance of the provider where the Vm to import is found
  */
  public static generateConfigForImport(scope: Construct, importToId: string, importFromId: string, provider?: cdktf.TerraformProvider) {
        return new cdktf.ImportableResource(scope, importToId, { terraformResourceType: "kvm_vm", importId: importFromId, provider });
      }

  // ===========
  // INITIALIZER
  // ===========

  /**
  * Create a new {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/vm kvm_vm} Resource
  *
  * @param scope The scope in which to define this construct
  * @param id The scoped construct ID. Must be unique amongst siblings in the same scope
  * @param options VmConfig = {}
  */
  public constructor(scope: Construct, id: string, config: VmConfig = {}) {
    super(scope, id, {
      terraformResourceType: 'kvm_vm',
      terraformGeneratorMetadata: {
        providerName: 'kvm'
      },
      provider: config.provider,
      dependsOn: config.dependsOn,
      count: config.count,
      lifecycle: config.lifecycle,
      provisioners: config.provisioners,
      connection: config.connection,
      forEach: config.forEach
    });
    this._bootOrder = config.bootOrder;
    this._cdrom.internalValue = config.cdrom;
    this._cloudInit.internalValue = config.cloudInit;
    this._cpuModel = config.cpuModel;
    this._disks.internalValue = config.disks;
    this._firmware = config.firmware;
    this._guestAgent = config.guestAgent;
    this._kernel.internalValue = config.kernel;
    this._maxMemoryMib = config.maxMemoryMib;
    this._maxVcpus = config.maxVcpus;
    this._memoryMib = config.memoryMib;
    this._name = config.name;
    this._networkInterfaces.internalValue = config.networkInterfaces;
    this._restartPolicy = config.restartPolicy;
    this._running = config.running;
    this._stopTimeoutSeconds = config.stopTimeoutSeconds;
    this._timeoutSeconds = config.timeoutSeconds;
    this._vcpus = config.vcpus;
    this._waitFor = config.waitFor;
    this._timeouts.internalValue = config.timeouts;
  }

  // ==========
  // ATTRIBUTES
  // ==========

  // accelerator - computed: true, optional: false, required: false
  public get accelerator() {
    return this.getStringAttribute('accelerator');
  }

  // boot_order - computed: true, optional: true, required: false
  private _bootOrder?: string[]; 
  public get bootOrder() {
    return this.getListAttribute('boot_order');
  }
  public set bootOrder(value: string[]) {
    this._bootOrder = value;
  }
  public resetBootOrder() {
    this._bootOrder = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get bootOrderInput() {
    return this._bootOrder;
  }

  // cdrom - computed: false, optional: true, required: false
  private _cdrom = new VmCdromOutputReference(this, "cdrom");
  public get cdrom() {
    return this._cdrom;
  }
  public putCdrom(value: VmCdrom) {
    this._cdrom.internalValue = value;
  }
  public resetCdrom() {
    this._cdrom.internalValue = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get cdromInput() {
    return this._cdrom.internalValue;
  }

  // cloud_init - computed: false, optional: true, required: false
  private _cloudInit = new VmCloudInitOutputReference(this, "cloud_init");
  public get cloudInit() {
    return this._cloudInit;
  }
  public putCloudInit(value: VmCloudInit) {
    this._cloudInit.internalValue = value;
  }
  public resetCloudInit() {
    this._cloudInit.internalValue = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get cloudInitInput() {
    return this._cloudInit.internalValue;
  }

  // cpu_model - computed: true, optional: true, required: false
  private _cpuModel?: string; 
  public get cpuModel() {
    return this.getStringAttribute('cpu_model');
  }
  public set cpuModel(value: string) {
    this._cpuModel = value;
  }
  public resetCpuModel() {
    this._cpuModel = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get cpuModelInput() {
    return this._cpuModel;
  }

  // disks - computed: true, optional: true, required: false
  private _disks = new VmDisksList(this, "disks", false);
  public get disks() {
    return this._disks;
  }
  public putDisks(value: VmDisks[] | cdktf.IResolvable) {
    this._disks.internalValue = value;
  }
  public resetDisks() {
    this._disks.internalValue = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get disksInput() {
    return this._disks.internalValue;
  }

  // firmware - computed: true, optional: true, required: false
  private _firmware?: string; 
  public get firmware() {
    return this.getStringAttribute('firmware');
  }
  public set firmware(value: string) {
    this._firmware = value;
  }
  public resetFirmware() {
    this._firmware = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get firmwareInput() {
    return this._firmware;
  }

  // guest_agent - computed: true, optional: true, required: false
  private _guestAgent?: boolean | cdktf.IResolvable; 
  public get guestAgent() {
    return this.getBooleanAttribute('guest_agent');
  }
  public set guestAgent(value: boolean | cdktf.IResolvable) {
    this._guestAgent = value;
  }
  public resetGuestAgent() {
    this._guestAgent = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get guestAgentInput() {
    return this._guestAgent;
  }

  // guest_hostname - computed: true, optional: false, required: false
  public get guestHostname() {
    return this.getStringAttribute('guest_hostname');
  }

  // guest_os - computed: true, optional: false, required: false
  public get guestOs() {
    return this.getStringAttribute('guest_os');
  }

  // host - computed: true, optional: false, required: false
  public get host() {
    return this.getStringAttribute('host');
  }

  // host_id - computed: true, optional: false, required: false
  public get hostId() {
    return this.getStringAttribute('host_id');
  }

  // id - computed: true, optional: false, required: false
  public get id() {
    return this.getStringAttribute('id');
  }

  // ip_address - computed: true, optional: false, required: false
  public get ipAddress() {
    return this.getStringAttribute('ip_address');
  }

  // ip_addresses - computed: true, optional: false, required: false
  public get ipAddresses() {
    return this.getListAttribute('ip_addresses');
  }

  // kernel - computed: false, optional: true, required: false
  private _kernel = new VmKernelOutputReference(this, "kernel");
  public get kernel() {
    return this._kernel;
  }
  public putKernel(value: VmKernel) {
    this._kernel.internalValue = value;
  }
  public resetKernel() {
    this._kernel.internalValue = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get kernelInput() {
    return this._kernel.internalValue;
  }

  // last_exit - computed: true, optional: false, required: false
  private _lastExit = new VmLastExitOutputReference(this, "last_exit");
  public get lastExit() {
    return this._lastExit;
  }

  // mac_addresses - computed: true, optional: false, required: false
  public get macAddresses() {
    return this.getListAttribute('mac_addresses');
  }

  // max_memory_mib - computed: true, optional: true, required: false
  private _maxMemoryMib?: number; 
  public get maxMemoryMib() {
    return this.getNumberAttribute('max_memory_mib');
  }
  public set maxMemoryMib(value: number) {
    this._maxMemoryMib = value;
  }
  public resetMaxMemoryMib() {
    this._maxMemoryMib = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get maxMemoryMibInput() {
    return this._maxMemoryMib;
  }

  // max_vcpus - computed: true, optional: true, required: false
  private _maxVcpus?: number; 
  public get maxVcpus() {
    return this.getNumberAttribute('max_vcpus');
  }
  public set maxVcpus(value: number) {
    this._maxVcpus = value;
  }
  public resetMaxVcpus() {
    this._maxVcpus = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get maxVcpusInput() {
    return this._maxVcpus;
  }

  // memory_mib - computed: true, optional: true, required: false
  private _memoryMib?: number; 
  public get memoryMib() {
    return this.getNumberAttribute('memory_mib');
  }
  public set memoryMib(value: number) {
    this._memoryMib = value;
  }
  public resetMemoryMib() {
    this._memoryMib = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get memoryMibInput() {
    return this._memoryMib;
  }

  // name - computed: true, optional: true, required: false
  private _name?: string; 
  public get name() {
    return this.getStringAttribute('name');
  }
  public set name(value: string) {
    this._name = value;
  }
  public resetName() {
    this._name = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get nameInput() {
    return this._name;
  }

  // network_interfaces - computed: true, optional: true, required: false
  private _networkInterfaces = new VmNetworkInterfacesList(this, "network_interfaces", false);
  public get networkInterfaces() {
    return this._networkInterfaces;
  }
  public putNetworkInterfaces(value: VmNetworkInterfaces[] | cdktf.IResolvable) {
    this._networkInterfaces.internalValue = value;
  }
  public resetNetworkInterfaces() {
    this._networkInterfaces.internalValue = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get networkInterfacesInput() {
    return this._networkInterfaces.internalValue;
  }

  // nics - computed: true, optional: false, required: false
  private _nics = new VmNicsList(this, "nics", false);
  public get nics() {
    return this._nics;
  }

  // pid - computed: true, optional: false, required: false
  public get pid() {
    return this.getNumberAttribute('pid');
  }

  // qemu_status - computed: true, optional: false, required: false
  public get qemuStatus() {
    return this.getStringAttribute('qemu_status');
  }

  // restart_policy - computed: true, optional: true, required: false
  private _restartPolicy?: string; 
  public get restartPolicy() {
    return this.getStringAttribute('restart_policy');
  }
  public set restartPolicy(value: string) {
    this._restartPolicy = value;
  }
  public resetRestartPolicy() {
    this._restartPolicy = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get restartPolicyInput() {
    return this._restartPolicy;
  }

  // running - computed: true, optional: true, required: false
  private _running?: boolean | cdktf.IResolvable; 
  public get running() {
    return this.getBooleanAttribute('running');
  }
  public set running(value: boolean | cdktf.IResolvable) {
    this._running = value;
  }
  public resetRunning() {
    this._running = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get runningInput() {
    return this._running;
  }

  // state - computed: true, optional: false, required: false
  public get state() {
    return this.getStringAttribute('state');
  }

  // stop_timeout_seconds - computed: true, optional: true, required: false
  private _stopTimeoutSeconds?: number; 
  public get stopTimeoutSeconds() {
    return this.getNumberAttribute('stop_timeout_seconds');
  }
  public set stopTimeoutSeconds(value: number) {
    this._stopTimeoutSeconds = value;
  }
  public resetStopTimeoutSeconds() {
    this._stopTimeoutSeconds = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get stopTimeoutSecondsInput() {
    return this._stopTimeoutSeconds;
  }

  // timeout_seconds - computed: true, optional: true, required: false
  private _timeoutSeconds?: number; 
  public get timeoutSeconds() {
    return this.getNumberAttribute('timeout_seconds');
  }
  public set timeoutSeconds(value: number) {
    this._timeoutSeconds = value;
  }
  public resetTimeoutSeconds() {
    this._timeoutSeconds = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get timeoutSecondsInput() {
    return this._timeoutSeconds;
  }

  // vcpus - computed: true, optional: true, required: false
  private _vcpus?: number; 
  public get vcpus() {
    return this.getNumberAttribute('vcpus');
  }
  public set vcpus(value: number) {
    this._vcpus = value;
  }
  public resetVcpus() {
    this._vcpus = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get vcpusInput() {
    return this._vcpus;
  }

  // wait_for - computed: true, optional: true, required: false
  private _waitFor?: string; 
  public get waitFor() {
    return this.getStringAttribute('wait_for');
  }
  public set waitFor(value: string) {
    this._waitFor = value;
  }
  public resetWaitFor() {
    this._waitFor = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get waitForInput() {
    return this._waitFor;
  }

  // timeouts - computed: false, optional: true, required: false
  private _timeouts = new VmTimeoutsOutputReference(this, "timeouts");
  public get timeouts() {
    return this._timeouts;
  }
  public putTimeouts(value: VmTimeouts) {
    this._timeouts.internalValue = value;
  }
  public resetTimeouts() {
    this._timeouts.internalValue = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get timeoutsInput() {
    return this._timeouts.internalValue;
  }

  // =========
  // SYNTHESIS
  // =========

  protected synthesizeAttributes(): { [name: string]: any } {
    return {
      boot_order: cdktf.listMapper(cdktf.stringToTerraform, false)(this._bootOrder),
      cdrom: vmCdromToTerraform(this._cdrom.internalValue),
      cloud_init: vmCloudInitToTerraform(this._cloudInit.internalValue),
      cpu_model: cdktf.stringToTerraform(this._cpuModel),
      disks: cdktf.listMapper(vmDisksToTerraform, false)(this._disks.internalValue),
      firmware: cdktf.stringToTerraform(this._firmware),
      guest_agent: cdktf.booleanToTerraform(this._guestAgent),
      kernel: vmKernelToTerraform(this._kernel.internalValue),
      max_memory_mib: cdktf.numberToTerraform(this._maxMemoryMib),
      max_vcpus: cdktf.numberToTerraform(this._maxVcpus),
      memory_mib: cdktf.numberToTerraform(this._memoryMib),
      name: cdktf.stringToTerraform(this._name),
      network_interfaces: cdktf.listMapper(vmNetworkInterfacesToTerraform, false)(this._networkInterfaces.internalValue),
      restart_policy: cdktf.stringToTerraform(this._restartPolicy),
      running: cdktf.booleanToTerraform(this._running),
      stop_timeout_seconds: cdktf.numberToTerraform(this._stopTimeoutSeconds),
      timeout_seconds: cdktf.numberToTerraform(this._timeoutSeconds),
      vcpus: cdktf.numberToTerraform(this._vcpus),
      wait_for: cdktf.stringToTerraform(this._waitFor),
      timeouts: vmTimeoutsToTerraform(this._timeouts.internalValue),
    };
  }

  protected synthesizeHclAttributes(): { [name: string]: any } {
    const attrs = {
      boot_order: {
        value: cdktf.listMapperHcl(cdktf.stringToHclTerraform, false)(this._bootOrder),
        isBlock: false,
        type: "list",
        storageClassType: "stringList",
      },
      cdrom: {
        value: vmCdromToHclTerraform(this._cdrom.internalValue),
        isBlock: true,
        type: "struct",
        storageClassType: "VmCdrom",
      },
      cloud_init: {
        value: vmCloudInitToHclTerraform(this._cloudInit.internalValue),
        isBlock: true,
        type: "struct",
        storageClassType: "VmCloudInit",
      },
      cpu_model: {
        value: cdktf.stringToHclTerraform(this._cpuModel),
        isBlock: false,
        type: "simple",
        storageClassType: "string",
      },
      disks: {
        value: cdktf.listMapperHcl(vmDisksToHclTerraform, false)(this._disks.internalValue),
        isBlock: true,
        type: "list",
        storageClassType: "VmDisksList",
      },
      firmware: {
        value: cdktf.stringToHclTerraform(this._firmware),
        isBlock: false,
        type: "simple",
        storageClassType: "string",
      },
      guest_agent: {
        value: cdktf.booleanToHclTerraform(this._guestAgent),
        isBlock: false,
        type: "simple",
        storageClassType: "boolean",
      },
      kernel: {
        value: vmKernelToHclTerraform(this._kernel.internalValue),
        isBlock: true,
        type: "struct",
        storageClassType: "VmKernel",
      },
      max_memory_mib: {
        value: cdktf.numberToHclTerraform(this._maxMemoryMib),
        isBlock: false,
        type: "simple",
        storageClassType: "number",
      },
      max_vcpus: {
        value: cdktf.numberToHclTerraform(this._maxVcpus),
        isBlock: false,
        type: "simple",
        storageClassType: "number",
      },
      memory_mib: {
        value: cdktf.numberToHclTerraform(this._memoryMib),
        isBlock: false,
        type: "simple",
        storageClassType: "number",
      },
      name: {
        value: cdktf.stringToHclTerraform(this._name),
        isBlock: false,
        type: "simple",
        storageClassType: "string",
      },
      network_interfaces: {
        value: cdktf.listMapperHcl(vmNetworkInterfacesToHclTerraform, false)(this._networkInterfaces.internalValue),
        isBlock: true,
        type: "list",
        storageClassType: "VmNetworkInterfacesList",
      },
      restart_policy: {
        value: cdktf.stringToHclTerraform(this._restartPolicy),
        isBlock: false,
        type: "simple",
        storageClassType: "string",
      },
      running: {
        value: cdktf.booleanToHclTerraform(this._running),
        isBlock: false,
        type: "simple",
        storageClassType: "boolean",
      },
      stop_timeout_seconds: {
        value: cdktf.numberToHclTerraform(this._stopTimeoutSeconds),
        isBlock: false,
        type: "simple",
        storageClassType: "number",
      },
      timeout_seconds: {
        value: cdktf.numberToHclTerraform(this._timeoutSeconds),
        isBlock: false,
        type: "simple",
        storageClassType: "number",
      },
      vcpus: {
        value: cdktf.numberToHclTerraform(this._vcpus),
        isBlock: false,
        type: "simple",
        storageClassType: "number",
      },
      wait_for: {
        value: cdktf.stringToHclTerraform(this._waitFor),
        isBlock: false,
        type: "simple",
        storageClassType: "string",
      },
      timeouts: {
        value: vmTimeoutsToHclTerraform(this._timeouts.internalValue),
        isBlock: true,
        type: "struct",
        storageClassType: "VmTimeouts",
      },
    };

    // remove undefined attributes
    return Object.fromEntries(Object.entries(attrs).filter(([_, value]) => value !== undefined && value.value !== undefined ))
  }
}
