// https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/disk
// generated from terraform resource schema

import { Construct } from 'constructs';
import * as cdktf from 'cdktf';

// Configuration

export interface DiskConfig extends cdktf.TerraformMetaArguments {
  /**
  * `qcow2` or `raw`.
  *
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/disk#format Disk#format}
  */
  readonly format?: string;
  /**
  * Disk name on the host; generated from the resource name when not given, and kept across updates.
  *
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/disk#name Disk#name}
  */
  readonly name?: string;
  /**
  * Size in GiB; for image sources it may only be the image's size or larger.
  *
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/disk#size_gib Disk#size_gib}
  */
  readonly sizeGib?: number;
  /**
  * Where the content comes from: `{ kind: "blank" }`, `{ kind: "url", url, sha256, clone? }` (downloaded once per host into the image cache, verified; `clone` (default true) makes a thin copy-on-write overlay on the cached base) or `{ kind: "hostPath", path, clone?, blockDevice? }` (a copy, or an overlay, of a qcow2 or raw image already on the host, taken only if the caller could read it themselves — see docs/security.md; `blockDevice: true` takes a block device, from root callers only).
  *
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/disk#source Disk#source}
  */
  readonly source?: DiskSource;
  /**
  * Bound on creating the disk, downloads included, in seconds.
  *
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/disk#timeout_seconds Disk#timeout_seconds}
  */
  readonly timeoutSeconds?: number;
  /**
  * timeouts block
  *
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/disk#timeouts Disk#timeouts}
  */
  readonly timeouts?: DiskTimeouts;
}
export interface DiskSource {
  /**
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/disk#block_device Disk#block_device}
  */
  readonly blockDevice?: boolean | cdktf.IResolvable;
  /**
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/disk#clone Disk#clone}
  */
  readonly clone?: boolean | cdktf.IResolvable;
  /**
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/disk#kind Disk#kind}
  */
  readonly kind?: string;
  /**
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/disk#path Disk#path}
  */
  readonly path?: string;
  /**
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/disk#sha256 Disk#sha256}
  */
  readonly sha256?: string;
  /**
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/disk#url Disk#url}
  */
  readonly url?: string;
}

export function diskSourceToTerraform(struct?: DiskSource | cdktf.IResolvable): any {
  if (!cdktf.canInspect(struct) || cdktf.Tokenization.isResolvable(struct)) { return struct; }
  if (cdktf.isComplexElement(struct)) {
    throw new Error("A complex element was used as configuration, this is not supported: https://cdk.tf/complex-object-as-configuration");
  }
  return {
    block_device: cdktf.booleanToTerraform(struct!.blockDevice),
    clone: cdktf.booleanToTerraform(struct!.clone),
    kind: cdktf.stringToTerraform(struct!.kind),
    path: cdktf.stringToTerraform(struct!.path),
    sha256: cdktf.stringToTerraform(struct!.sha256),
    url: cdktf.stringToTerraform(struct!.url),
  }
}


export function diskSourceToHclTerraform(struct?: DiskSource | cdktf.IResolvable): any {
  if (!cdktf.canInspect(struct) || cdktf.Tokenization.isResolvable(struct)) { return struct; }
  if (cdktf.isComplexElement(struct)) {
    throw new Error("A complex element was used as configuration, this is not supported: https://cdk.tf/complex-object-as-configuration");
  }
  const attrs = {
    block_device: {
      value: cdktf.booleanToHclTerraform(struct!.blockDevice),
      isBlock: false,
      type: "simple",
      storageClassType: "boolean",
    },
    clone: {
      value: cdktf.booleanToHclTerraform(struct!.clone),
      isBlock: false,
      type: "simple",
      storageClassType: "boolean",
    },
    kind: {
      value: cdktf.stringToHclTerraform(struct!.kind),
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
    sha256: {
      value: cdktf.stringToHclTerraform(struct!.sha256),
      isBlock: false,
      type: "simple",
      storageClassType: "string",
    },
    url: {
      value: cdktf.stringToHclTerraform(struct!.url),
      isBlock: false,
      type: "simple",
      storageClassType: "string",
    },
  };

  // remove undefined attributes
  return Object.fromEntries(Object.entries(attrs).filter(([_, value]) => value !== undefined && value.value !== undefined));
}

export class DiskSourceOutputReference extends cdktf.ComplexObject {
  private isEmptyObject = false;
  private resolvableValue?: cdktf.IResolvable;

  /**
  * @param terraformResource The parent resource
  * @param terraformAttribute The attribute on the parent resource this class is referencing
  */
  public constructor(terraformResource: cdktf.IInterpolatingParent, terraformAttribute: string) {
    super(terraformResource, terraformAttribute, false);
  }

  public get internalValue(): DiskSource | cdktf.IResolvable | undefined {
    if (this.resolvableValue) {
      return this.resolvableValue;
    }
    let hasAnyValues = this.isEmptyObject;
    const internalValueResult: any = {};
    if (this._blockDevice !== undefined) {
      hasAnyValues = true;
      internalValueResult.blockDevice = this._blockDevice;
    }
    if (this._clone !== undefined) {
      hasAnyValues = true;
      internalValueResult.clone = this._clone;
    }
    if (this._kind !== undefined) {
      hasAnyValues = true;
      internalValueResult.kind = this._kind;
    }
    if (this._path !== undefined) {
      hasAnyValues = true;
      internalValueResult.path = this._path;
    }
    if (this._sha256 !== undefined) {
      hasAnyValues = true;
      internalValueResult.sha256 = this._sha256;
    }
    if (this._url !== undefined) {
      hasAnyValues = true;
      internalValueResult.url = this._url;
    }
    return hasAnyValues ? internalValueResult : undefined;
  }

  public set internalValue(value: DiskSource | cdktf.IResolvable | undefined) {
    if (value === undefined) {
      this.isEmptyObject = false;
      this.resolvableValue = undefined;
      this._blockDevice = undefined;
      this._clone = undefined;
      this._kind = undefined;
      this._path = undefined;
      this._sha256 = undefined;
      this._url = undefined;
    }
    else if (cdktf.Tokenization.isResolvable(value)) {
      this.isEmptyObject = false;
      this.resolvableValue = value;
    }
    else {
      this.isEmptyObject = Object.keys(value).length === 0;
      this.resolvableValue = undefined;
      this._blockDevice = value.blockDevice;
      this._clone = value.clone;
      this._kind = value.kind;
      this._path = value.path;
      this._sha256 = value.sha256;
      this._url = value.url;
    }
  }

  // block_device - computed: true, optional: true, required: false
  private _blockDevice?: boolean | cdktf.IResolvable; 
  public get blockDevice() {
    return this.getBooleanAttribute('block_device');
  }
  public set blockDevice(value: boolean | cdktf.IResolvable) {
    this._blockDevice = value;
  }
  public resetBlockDevice() {
    this._blockDevice = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get blockDeviceInput() {
    return this._blockDevice;
  }

  // clone - computed: true, optional: true, required: false
  private _clone?: boolean | cdktf.IResolvable; 
  public get clone() {
    return this.getBooleanAttribute('clone');
  }
  public set clone(value: boolean | cdktf.IResolvable) {
    this._clone = value;
  }
  public resetClone() {
    this._clone = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get cloneInput() {
    return this._clone;
  }

  // kind - computed: true, optional: true, required: false
  private _kind?: string; 
  public get kind() {
    return this.getStringAttribute('kind');
  }
  public set kind(value: string) {
    this._kind = value;
  }
  public resetKind() {
    this._kind = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get kindInput() {
    return this._kind;
  }

  // path - computed: true, optional: true, required: false
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

  // sha256 - computed: true, optional: true, required: false
  private _sha256?: string; 
  public get sha256() {
    return this.getStringAttribute('sha256');
  }
  public set sha256(value: string) {
    this._sha256 = value;
  }
  public resetSha256() {
    this._sha256 = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get sha256Input() {
    return this._sha256;
  }

  // url - computed: true, optional: true, required: false
  private _url?: string; 
  public get url() {
    return this.getStringAttribute('url');
  }
  public set url(value: string) {
    this._url = value;
  }
  public resetUrl() {
    this._url = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get urlInput() {
    return this._url;
  }
}
export interface DiskTimeouts {
  /**
  * How long create may take, e.g. "10m" (Go duration).
  *
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/disk#create Disk#create}
  */
  readonly create?: string;
  /**
  * How long delete may take, e.g. "10m" (Go duration).
  *
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/disk#delete Disk#delete}
  */
  readonly delete?: string;
  /**
  * How long update may take, e.g. "10m" (Go duration).
  *
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/disk#update Disk#update}
  */
  readonly update?: string;
}

export function diskTimeoutsToTerraform(struct?: DiskTimeouts | cdktf.IResolvable): any {
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


export function diskTimeoutsToHclTerraform(struct?: DiskTimeouts | cdktf.IResolvable): any {
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

export class DiskTimeoutsOutputReference extends cdktf.ComplexObject {
  private isEmptyObject = false;
  private resolvableValue?: cdktf.IResolvable;

  /**
  * @param terraformResource The parent resource
  * @param terraformAttribute The attribute on the parent resource this class is referencing
  */
  public constructor(terraformResource: cdktf.IInterpolatingParent, terraformAttribute: string) {
    super(terraformResource, terraformAttribute, false);
  }

  public get internalValue(): DiskTimeouts | cdktf.IResolvable | undefined {
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

  public set internalValue(value: DiskTimeouts | cdktf.IResolvable | undefined) {
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
* Represents a {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/disk kvm_disk}
*/
export class Disk extends cdktf.TerraformResource {

  // =================
  // STATIC PROPERTIES
  // =================
  public static readonly tfResourceType = "kvm_disk";

  // ==============
  // STATIC Methods
  // ==============
  /**
  * Generates CDKTF code for importing a Disk resource upon running "cdktf plan <stack-name>"
  * @param scope The scope in which to define this construct
  * @param importToId The construct id used in the generated config for the Disk to import
  * @param importFromId The id of the existing Disk that should be imported. Refer to the {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/disk#import import section} in the documentation of this resource for the id to use
  * @param provider? Optional instance of the provider where the Disk to import is found
  */
  public static generateConfigForImport(scope: Construct, importToId: string, importFromId: string, provider?: cdktf.TerraformProvider) {
        return new cdktf.ImportableResource(scope, importToId, { terraformResourceType: "kvm_disk", importId: importFromId, provider });
      }

  // ===========
  // INITIALIZER
  // ===========

  /**
  * Create a new {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/resources/disk kvm_disk} Resource
  *
  * @param scope The scope in which to define this construct
  * @param id The scoped construct ID. Must be unique amongst siblings in the same scope
  * @param options DiskConfig = {}
  */
  public constructor(scope: Construct, id: string, config: DiskConfig = {}) {
    super(scope, id, {
      terraformResourceType: 'kvm_disk',
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
    this._format = config.format;
    this._name = config.name;
    this._sizeGib = config.sizeGib;
    this._source.internalValue = config.source;
    this._timeoutSeconds = config.timeoutSeconds;
    this._timeouts.internalValue = config.timeouts;
  }

  // ==========
  // ATTRIBUTES
  // ==========

  // actual_size_bytes - computed: true, optional: false, required: false
  public get actualSizeBytes() {
    return this.getNumberAttribute('actual_size_bytes');
  }

  // attached_to - computed: true, optional: false, required: false
  public get attachedTo() {
    return this.getStringAttribute('attached_to');
  }

  // backing_file - computed: true, optional: false, required: false
  public get backingFile() {
    return this.getStringAttribute('backing_file');
  }

  // format - computed: true, optional: true, required: false
  private _format?: string; 
  public get format() {
    return this.getStringAttribute('format');
  }
  public set format(value: string) {
    this._format = value;
  }
  public resetFormat() {
    this._format = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get formatInput() {
    return this._format;
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

  // path - computed: true, optional: false, required: false
  public get path() {
    return this.getStringAttribute('path');
  }

  // size_gib - computed: true, optional: true, required: false
  private _sizeGib?: number; 
  public get sizeGib() {
    return this.getNumberAttribute('size_gib');
  }
  public set sizeGib(value: number) {
    this._sizeGib = value;
  }
  public resetSizeGib() {
    this._sizeGib = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get sizeGibInput() {
    return this._sizeGib;
  }

  // source - computed: true, optional: true, required: false
  private _source = new DiskSourceOutputReference(this, "source");
  public get source() {
    return this._source;
  }
  public putSource(value: DiskSource) {
    this._source.internalValue = value;
  }
  public resetSource() {
    this._source.internalValue = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get sourceInput() {
    return this._source.internalValue;
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

  // virtual_size_bytes - computed: true, optional: false, required: false
  public get virtualSizeBytes() {
    return this.getNumberAttribute('virtual_size_bytes');
  }

  // timeouts - computed: false, optional: true, required: false
  private _timeouts = new DiskTimeoutsOutputReference(this, "timeouts");
  public get timeouts() {
    return this._timeouts;
  }
  public putTimeouts(value: DiskTimeouts) {
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
      format: cdktf.stringToTerraform(this._format),
      name: cdktf.stringToTerraform(this._name),
      size_gib: cdktf.numberToTerraform(this._sizeGib),
      source: diskSourceToTerraform(this._source.internalValue),
      timeout_seconds: cdktf.numberToTerraform(this._timeoutSeconds),
      timeouts: diskTimeoutsToTerraform(this._timeouts.internalValue),
    };
  }

  protected synthesizeHclAttributes(): { [name: string]: any } {
    const attrs = {
      format: {
        value: cdktf.stringToHclTerraform(this._format),
        isBlock: false,
        type: "simple",
        storageClassType: "string",
      },
      name: {
        value: cdktf.stringToHclTerraform(this._name),
        isBlock: false,
        type: "simple",
        storageClassType: "string",
      },
      size_gib: {
        value: cdktf.numberToHclTerraform(this._sizeGib),
        isBlock: false,
        type: "simple",
        storageClassType: "number",
      },
      source: {
        value: diskSourceToHclTerraform(this._source.internalValue),
        isBlock: true,
        type: "struct",
        storageClassType: "DiskSource",
      },
      timeout_seconds: {
        value: cdktf.numberToHclTerraform(this._timeoutSeconds),
        isBlock: false,
        type: "simple",
        storageClassType: "number",
      },
      timeouts: {
        value: diskTimeoutsToHclTerraform(this._timeouts.internalValue),
        isBlock: true,
        type: "struct",
        storageClassType: "DiskTimeouts",
      },
    };

    // remove undefined attributes
    return Object.fromEntries(Object.entries(attrs).filter(([_, value]) => value !== undefined && value.value !== undefined ))
  }
}
