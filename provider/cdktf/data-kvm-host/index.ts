// https://example.net/providers/pulumi-kvm/kvm/latest/docs/data-sources/host
// generated from terraform resource schema

import { Construct } from 'constructs';
import * as cdktf from 'cdktf';

// Configuration

export interface DataKvmHostConfig extends cdktf.TerraformMetaArguments {
}

/**
* Represents a {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/data-sources/host kvm_host}
*/
export class DataKvmHost extends cdktf.TerraformDataSource {

  // =================
  // STATIC PROPERTIES
  // =================
  public static readonly tfResourceType = "kvm_host";

  // ==============
  // STATIC Methods
  // ==============
  /**
  * Generates CDKTF code for importing a DataKvmHost resource upon running "cdktf plan <stack-name>"
  * @param scope The scope in which to define this construct
  * @param importToId The construct id used in the generated config for the DataKvmHost to import
  * @param importFromId The id of the existing DataKvmHost that should be imported. Refer to the {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/data-sources/host#import import section} in the documentation of this resource for the id to use
  * @param provider? Optional instance of the provider where the DataKvmHost to import is found
  */
  public static generateConfigForImport(scope: Construct, importToId: string, importFromId: string, provider?: cdktf.TerraformProvider) {
        return new cdktf.ImportableResource(scope, importToId, { terraformResourceType: "kvm_host", importId: importFromId, provider });
      }

  // ===========
  // INITIALIZER
  // ===========

  /**
  * Create a new {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs/data-sources/host kvm_host} Data Source
  *
  * @param scope The scope in which to define this construct
  * @param id The scoped construct ID. Must be unique amongst siblings in the same scope
  * @param options DataKvmHostConfig = {}
  */
  public constructor(scope: Construct, id: string, config: DataKvmHostConfig = {}) {
    super(scope, id, {
      terraformResourceType: 'kvm_host',
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
  }

  // ==========
  // ATTRIBUTES
  // ==========

  // accelerator - computed: true, optional: false, required: false
  public get accelerator() {
    return this.getStringAttribute('accelerator');
  }

  // capabilities - computed: true, optional: false, required: false
  public get capabilities() {
    return this.getListAttribute('capabilities');
  }

  // cpu_models - computed: true, optional: false, required: false
  public get cpuModels() {
    return this.getListAttribute('cpu_models');
  }

  // hostname - computed: true, optional: false, required: false
  public get hostname() {
    return this.getStringAttribute('hostname');
  }

  // id - computed: true, optional: false, required: false
  public get id() {
    return this.getStringAttribute('id');
  }

  // qemu_version - computed: true, optional: false, required: false
  public get qemuVersion() {
    return this.getStringAttribute('qemu_version');
  }

  // version - computed: true, optional: false, required: false
  public get version() {
    return this.getStringAttribute('version');
  }

  // =========
  // SYNTHESIS
  // =========

  protected synthesizeAttributes(): { [name: string]: any } {
    return {
    };
  }

  protected synthesizeHclAttributes(): { [name: string]: any } {
    const attrs = {
    };
    return attrs;
  }
}
