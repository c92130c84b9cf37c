// https://example.net/providers/pulumi-kvm/kvm/latest/docs
// generated from terraform resource schema

import { Construct } from 'constructs';
import * as cdktf from 'cdktf';

// Configuration

export interface KvmProviderConfig {
  /**
  * argv run on the host when stream-local forwarding is refused (default `hostd dial-stdio`).
  *
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs#dial_command KvmProvider#dial_command}
  */
  readonly dialCommand?: string[];
  /**
  * SSH target host.
  *
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs#host KvmProvider#host}
  */
  readonly host?: string;
  /**
  * Expected host key fingerprint, `SHA256:...`.
  *
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs#host_key KvmProvider#host_key}
  */
  readonly hostKey?: string;
  /**
  * Accept any host key (throwaway labs only).
  *
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs#insecure_skip_host_key_check KvmProvider#insecure_skip_host_key_check}
  */
  readonly insecureSkipHostKeyCheck?: boolean | cdktf.IResolvable;
  /**
  * known_hosts content.
  *
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs#known_hosts KvmProvider#known_hosts}
  */
  readonly knownHosts?: string;
  /**
  * known_hosts file on the machine running Pulumi (default ~/.ssh/known_hosts).
  *
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs#known_hosts_path KvmProvider#known_hosts_path}
  */
  readonly knownHostsPath?: string;
  /**
  * SSH port (default 22).
  *
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs#port KvmProvider#port}
  */
  readonly port?: number;
  /**
  * Private key text (`pulumi config set --secret kvm:privateKey < key`).
  *
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs#private_key KvmProvider#private_key}
  */
  readonly privateKey?: string;
  /**
  * Passphrase of the private key.
  *
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs#private_key_passphrase KvmProvider#private_key_passphrase}
  */
  readonly privateKeyPassphrase?: string;
  /**
  * Path of a private key file on the machine running Pulumi; otherwise SSH_AUTH_SOCK.
  *
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs#private_key_path KvmProvider#private_key_path}
  */
  readonly privateKeyPath?: string;
  /**
  * hostd's socket on the host (default /run/hostd/hostd.sock).
  *
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs#socket_path KvmProvider#socket_path}
  */
  readonly socketPath?: string;
  /**
  * `ssh` (default when `host` is set) or `local` (hostd on the machine running Pulumi).
  *
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs#transport KvmProvider#transport}
  */
  readonly transport?: string;
  /**
  * SSH user (default `$USER`).
  *
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs#user KvmProvider#user}
  */
  readonly user?: string;
  /**
  * Alias name
  *
  * Docs at Terraform Registry: {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs#alias KvmProvider#alias}
  */
  readonly alias?: string;
}

/**
* Represents a {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs kvm}
*/
export class KvmProvider extends cdktf.TerraformProvider {

  // =================
  // STATIC PROPERTIES
  // =================
  public static readonly tfResourceType = "kvm";

  // ==============
  // STATIC Methods
  // ==============
  /**
  * Generates CDKTF code for importing a KvmProvider resource upon running "cdktf plan <stack-name>"
  * @param scope The scope in which to define this construct
  * @param importToId The construct id used in the generated config for the KvmProvider to import
  * @param importFromId The id of the existing KvmProvider that should be imported. Refer to the {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs#import import section} in the documentation of this resource for the id to use
  * @param provider? Optional instance of the provider where the KvmProvider to import is found
  */
  public static generateConfigForImport(scope: Construct, importToId: string, importFromId: string, provider?: cdktf.TerraformProvider) {
        return new cdktf.ImportableResource(scope, importToId, { terraformResourceType: "kvm", importId: importFromId, provider });
      }

  // ===========
  // INITIALIZER
  // ===========

  /**
  * Create a new {@link https://example.net/providers/pulumi-kvm/kvm/latest/docs kvm} Resource
  *
  * @param scope The scope in which to define this construct
  * @param id The scoped construct ID. Must be unique amongst siblings in the same scope
  * @param options KvmProviderConfig = {}
  */
  public constructor(scope: Construct, id: string, config: KvmProviderConfig = {}) {
    super(scope, id, {
      terraformResourceType: 'kvm',
      terraformGeneratorMetadata: {
        providerName: 'kvm'
      },
      terraformProviderSource: 'example.net/pulumi-kvm/kvm'
    });
    this._dialCommand = config.dialCommand;
    this._host = config.host;
    this._hostKey = config.hostKey;
    this._insecureSkipHostKeyCheck = config.insecureSkipHostKeyCheck;
    this._knownHosts = config.knownHosts;
    this._knownHostsPath = config.knownHostsPath;
    this._port = config.port;
    this._privateKey = config.privateKey;
    this._privateKeyPassphrase = config.privateKeyPassphrase;
    this._privateKeyPath = config.privateKeyPath;
    this._socketPath = config.socketPath;
    this._transport = config.transport;
    this._user = config.user;
    this._alias = config.alias;
  }

  // ==========
  // ATTRIBUTES
  // ==========

  // dial_command - computed: false, optional: true, required: false
  private _dialCommand?: string[]; 
  public get dialCommand() {
    return this._dialCommand;
  }
  public set dialCommand(value: string[] | undefined) {
    this._dialCommand = value;
  }
  public resetDialCommand() {
    this._dialCommand = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get dialCommandInput() {
    return this._dialCommand;
  }

  // host - computed: false, optional: true, required: false
  private _host?: string; 
  public get host() {
    return this._host;
  }
  public set host(value: string | undefined) {
    this._host = value;
  }
  public resetHost() {
    this._host = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get hostInput() {
    return this._host;
  }

  // host_key - computed: false, optional: true, required: false
  private _hostKey?: string; 
  public get hostKey() {
    return this._hostKey;
  }
  public set hostKey(value: string | undefined) {
    this._hostKey = value;
  }
  public resetHostKey() {
    this._hostKey = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get hostKeyInput() {
    return this._hostKey;
  }

  // insecure_skip_host_key_check - computed: false, optional: true, required: false
  private _insecureSkipHostKeyCheck?: boolean | cdktf.IResolvable; 
  public get insecureSkipHostKeyCheck() {
    return this._insecureSkipHostKeyCheck;
  }
  public set insecureSkipHostKeyCheck(value: boolean | cdktf.IResolvable | undefined) {
    this._insecureSkipHostKeyCheck = value;
  }
  public resetInsecureSkipHostKeyCheck() {
    this._insecureSkipHostKeyCheck = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get insecureSkipHostKeyCheckInput() {
    return this._insecureSkipHostKeyCheck;
  }

  // known_hosts - computed: false, optional: true, required: false
  private _knownHosts?: string; 
  public get knownHosts() {
    return this._knownHosts;
  }
  public set knownHosts(value: string | undefined) {
    this._knownHosts = value;
  }
  public resetKnownHosts() {
    this._knownHosts = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get knownHostsInput() {
    return this._knownHosts;
  }

  // known_hosts_path - computed: false, optional: true, required: false
  private _knownHostsPath?: string; 
  public get knownHostsPath() {
    return this._knownHostsPath;
  }
  public set knownHostsPath(value: string | undefined) {
    this._knownHostsPath = value;
  }
  public resetKnownHostsPath() {
    this._knownHostsPath = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get knownHostsPathInput() {
    return this._knownHostsPath;
  }

  // port - computed: false, optional: true, required: false
  private _port?: number; 
  public get port() {
    return this._port;
  }
  public set port(value: number | undefined) {
    this._port = value;
  }
  public resetPort() {
    this._port = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get portInput() {
    return this._port;
  }

  // private_key - computed: false, optional: true, required: false
  private _privateKey?: string; 
  public get privateKey() {
    return this._privateKey;
  }
  public set privateKey(value: string | undefined) {
    this._privateKey = value;
  }
  public resetPrivateKey() {
    this._privateKey = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get privateKeyInput() {
    return this._privateKey;
  }

  // private_key_passphrase - computed: false, optional: true, required: false
  private _privateKeyPassphrase?: string; 
  public get privateKeyPassphrase() {
    return this._privateKeyPassphrase;
  }
  public set privateKeyPassphrase(value: string | undefined) {
    this._privateKeyPassphrase = value;
  }
  public resetPrivateKeyPassphrase() {
    this._privateKeyPassphrase = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get privateKeyPassphraseInput() {
    return this._privateKeyPassphrase;
  }

  // private_key_path - computed: false, optional: true, required: false
  private _privateKeyPath?: string; 
  public get privateKeyPath() {
    return this._privateKeyPath;
  }
  public set privateKeyPath(value: string | undefined) {
    this._privateKeyPath = value;
  }
  public resetPrivateKeyPath() {
    this._privateKeyPath = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get privateKeyPathInput() {
    return this._privateKeyPath;
  }

  // socket_path - computed: false, optional: true, required: false
  private _socketPath?: string; 
  public get socketPath() {
    return this._socketPath;
  }
  public set socketPath(value: string | undefined) {
    this._socketPath = value;
  }
  public resetSocketPath() {
    this._socketPath = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get socketPathInput() {
    return this._socketPath;
  }

  // transport - computed: false, optional: true, required: false
  private _transport?: string; 
  public get transport() {
    return this._transport;
  }
  public set transport(value: string | undefined) {
    this._transport = value;
  }
  public resetTransport() {
    this._transport = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get transportInput() {
    return this._transport;
  }

  // user - computed: false, optional: true, required: false
  private _user?: string; 
  public get user() {
    return this._user;
  }
  public set user(value: string | undefined) {
    this._user = value;
  }
  public resetUser() {
    this._user = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get userInput() {
    return this._user;
  }

  // alias - computed: false, optional: true, required: false
  private _alias?: string; 
  public get alias() {
    return this._alias;
  }
  public set alias(value: string | undefined) {
    this._alias = value;
  }
  public resetAlias() {
    this._alias = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get aliasInput() {
    return this._alias;
  }

  // =========
  // SYNTHESIS
  // =========

  protected synthesizeAttributes(): { [name: string]: any } {
    return {
      dial_command: cdktf.listMapper(cdktf.stringToTerraform, false)(this._dialCommand),
      host: cdktf.stringToTerraform(this._host),
      host_key: cdktf.stringToTerraform(this._hostKey),
      insecure_skip_host_key_check: cdktf.booleanToTerraform(this._insecureSkipHostKeyCheck),
      known_hosts: cdktf.stringToTerraform(this._knownHosts),
      known_hosts_path: cdktf.stringToTerraform(this._knownHostsPath),
      port: cdktf.numberToTerraform(this._port),
      private_key: cdktf.stringToTerraform(this._privateKey),
      private_key_passphrase: cdktf.stringToTerraform(this._privateKeyPassphrase),
      private_key_path: cdktf.stringToTerraform(this._privateKeyPath),
      socket_path: cdktf.stringToTerraform(this._socketPath),
      transport: cdktf.stringToTerraform(this._transport),
      user: cdktf.stringToTerraform(this._user),
      alias: cdktf.stringToTerraform(this._alias),
    };
  }

  protected synthesizeHclAttributes(): { [name: string]: any } {
    const attrs = {
      dial_command: {
        value: cdktf.listMapperHcl(cdktf.stringToHclTerraform, false)(this._dialCommand),
        isBlock: false,
        type: "list",
        storageClassType: "stringList",
      },
      host: {
        value: cdktf.stringToHclTerraform(this._host),
        isBlock: false,
        type: "simple",
        storageClassType: "string",
      },
      host_key: {
        value: cdktf.stringToHclTerraform(this._hostKey),
        isBlock: false,
        type: "simple",
        storageClassType: "string",
      },
      insecure_skip_host_key_check: {
        value: cdktf.booleanToHclTerraform(this._insecureSkipHostKeyCheck),
        isBlock: false,
        type: "simple",
        storageClassType: "boolean",
      },
      known_hosts: {
        value: cdktf.stringToHclTerraform(this._knownHosts),
        isBlock: false,
        type: "simple",
        storageClassType: "string",
      },
      known_hosts_path: {
        value: cdktf.stringToHclTerraform(this._knownHostsPath),
        isBlock: false,
        type: "simple",
        storageClassType: "string",
      },
      port: {
        value: cdktf.numberToHclTerraform(this._port),
        isBlock: false,
        type: "simple",
        storageClassType: "number",
      },
      private_key: {
        value: cdktf.stringToHclTerraform(this._privateKey),
        isBlock: false,
        type: "simple",
        storageClassType: "string",
      },
      private_key_passphrase: {
        value: cdktf.stringToHclTerraform(this._privateKeyPassphrase),
        isBlock: false,
        type: "simple",
        storageClassType: "string",
      },
      private_key_path: {
        value: cdktf.stringToHclTerraform(this._privateKeyPath),
        isBlock: false,
        type: "simple",
        storageClassType: "string",
      },
      socket_path: {
        value: cdktf.stringToHclTerraform(this._socketPath),
        isBlock: false,
        type: "simple",
        storageClassType: "string",
      },
      transport: {
        value: cdktf.stringToHclTerraform(this._transport),
        isBlock: false,
        type: "simple",
        storageClassType: "string",
      },
      user: {
        value: cdktf.stringToHclTerraform(this._user),
        isBlock: false,
        type: "simple",
        storageClassType: "string",
      },
      alias: {
        value: cdktf.stringToHclTerraform(this._alias),
        isBlock: false,
        type: "simple",
        storageClassType: "string",
      },
    };

    // remove undefined attributes
    return Object.fromEntries(Object.entries(attrs).filter(([_, value]) => value !== undefined && value.value !== undefined ))
  }
}
