/**
 * The dynamic provider of `kvm.Vm`.
 *
 * This module IS the provider: its top-level exports are the provider
 * methods, and the Vm resource passes the module itself to Pulumi. Pulumi's
 * closure serializer then stores only `require("pulumi-kvm/dist/provider/vm-provider.js")`
 * in state, so no connection, key or schema object is ever captured, and old
 * state keeps working after upgrades. Keep this path stable.
 */
import type * as dynamic from "@pulumi/pulumi/dynamic";
import { z } from "zod";
import { KvmError } from "../sdk/errors";
import { isUsableAddress, VM_FIELDS, VmInfo, VmProviderSettings, VmSpec, VmUpdate, WaitFor } from "../sdk/protocol";
import { clientFor, ConnectionSettings, HostRef } from "./connection";
import { classify, inputsSchema, specFromHost, specOf, VM_PROVIDER_FIELDS, withDefaults } from "./fields";
import { mustBeOnHost, onItsHost, ownerOf, Placement, placementOf, routeChange, sameHostFailures, Use } from "./placement";
import { alreadyThere, moveIfAsked, moveVmOnce, planVmMove, vmMoveText } from "./moves";
import { mustReach } from "./reachable";
import {
  configureFromStack,
  failuresOf,
  hasUnknown,
  hostRefOf,
  identified,
  ownInputs,
  same,
  settingsFor,
  withoutUnknowns,
  withUserErrors,
  definedOnly,
  mustOwn,
  ownedOrGone,
  CallOptions,
  inputsFromOutputs,
} from "./common";

export { UNKNOWN } from "./common";

/** Inputs after check (every default of the table filled in): what diff/create/update see. */
export type VmInputs = VmSpec &
  z.output<typeof VmProviderSettings> & {
    namePrefix?: string;
    /** `<project>/<stack>/kvm:Vm/<name>`: seeds the generated name and is the owner hostd records. */
    nameSeed?: string;
    connection?: ConnectionSettings;
    /** The kvm.Host it is to be on (absent: the stack's default host). */
    host?: HostRef;
    /** The Disks and Networks it uses, and where each is (set by the Vm class). */
    uses?: Use[];
  };

/** Outputs: the inputs (the spec fields as the host has them) plus what the host reports. */
export interface VmOutputs extends Omit<VmInputs, "running" | "host">, Placement {
  /** True while QEMU runs the VM: the real power state, so refresh shows a VM that stopped or crashed. */
  running: boolean;
  vmId: string;
  state: string;
  accelerator: string | null;
  pid: number | null;
  qemuStatus: string | null;
  lastExit: VmInfo["lastExit"];
  /** MAC of each NIC, in order. */
  macAddresses: string[];
  /** Each NIC: network, MAC, tap and the addresses it has now. */
  nics: { network: string | null; mac: string; tap: string | null; ipAddresses: string[] }[];
  /** The primary IPv4 address (first NIC with one), from DHCP leases or the guest agent. */
  ipAddress: string | null;
  /** Every address of every NIC. */
  ipAddresses: string[];
  guestHostname: string | null;
  guestOs: string | null;
}

/** What a program may give: the table's fields and the resource's own (unknown inputs are refused at preview). */
const Inputs = inputsSchema(VM_FIELDS, VM_PROVIDER_FIELDS);

export const configure = configureFromStack;

// ---- check -------------------------------------------------------------------

export async function check(olds: Partial<VmOutputs>, allNews: Record<string, unknown>): Promise<dynamic.CheckResult> {
  const news = ownInputs(allNews);
  // Validate the known part with the protocol's own schemas; unknown values are checked at apply time.
  const shape = Inputs.safeParse(withoutUnknowns(news));
  if (!shape.success) return { inputs: news, failures: failuresOf(shape.error) };
  const inputs = withDefaults(VM_FIELDS, identified(olds, news, "vm"));
  // The whole spec as hostd will see it, when every part is known (defaults of nested objects included).
  if (!hasUnknown(specOf(VM_FIELDS, inputs))) {
    const spec = VmSpec.safeParse(specOf(VM_FIELDS, inputs));
    if (!spec.success) return { inputs, failures: failuresOf(spec.error) };
    Object.assign(inputs, { disks: spec.data.disks, networkInterfaces: spec.data.networkInterfaces });
  }
  // A VM uses only its own host's disks and networks: refused here, at preview, naming both hosts.
  const failures = await sameHostFailures("Vm", String(inputs.name), inputs, inputs.uses as Use[] | undefined);
  return { inputs, failures };
}

/** Apply time: the same rule with every value known now (a preview may not have known them all). */
async function mustUseOwnHost(i: VmInputs): Promise<void> {
  const failures = await sameHostFailures("Vm", i.name, i, i.uses);
  if (failures.length > 0) throw new KvmError("wrong_host", failures.map((f) => f.reason.replace(/^\[wrong_host\] /, "")).join(" "));
}

// ---- diff --------------------------------------------------------------------

export async function diff(_id: string, olds: VmOutputs, news: VmInputs): Promise<dynamic.DiffResult> {
  const { replaces, changed, effects } = classify(VM_FIELDS, olds, news);
  const route = await routeChange("Vm", olds, news);
  // Preview contacts the host: reachable, and (unless the route moved: asked above) the one the state says.
  await mustReach("Vm", olds.name, settingsFor(news), route.changed ? undefined : olds.hostId);
  const hostChanged = route.replace;
  if (hostChanged) replaces.push("connection");
  else if (route.changed) changed.push(same(olds.connection, news.connection) ? "host" : "connection");
  if (route.moveTo && replaces.length === 0) {
    // A move is an update in place; the SDK says what it copies, or refuses it here, before anything moves.
    // In an `up` this diff runs after its Disks' updates, which may have moved the VM already (moves.ts).
    const dst = clientFor(settingsFor(news), 60_000);
    if (await alreadyThere(olds.vmId, () => dst.vm.get(olds.name))) {
      console.log(`kvm: Vm "${olds.name}": moved to ${route.moveTo.label} with its disks (same VM id); this update records it there.`);
    } else {
      const plan = await planVmMove(olds.name, clientFor(settingsFor(olds), 60_000), dst, route.moveTo.label, olds.hostId);
      console.log(vmMoveText(olds.name, route.moveTo.label, plan));
    }
  }

  // Dynamic providers cannot annotate the plan, so say what happens where the CLI shows provider output.
  if (replaces.length === 0 && olds.running && news.running !== false) {
    const restartFor = changed.filter((k) => effects.get(k) === "restart");
    if (restartFor.length > 0) {
      console.log(`kvm: Vm "${olds.name}": changing ${restartFor.join(", ")} restarts the running VM in place (same VM, same id; the guest is shut down and booted again).`);
    } else if (changed.some((k) => effects.get(k) === "hotplug")) {
      const hot = changed.filter((k) => effects.get(k) === "hotplug");
      const grown = hot.filter((k) => k === "vcpus" || k === "memoryMiB");
      const devices = hot.filter((k) => k !== "vcpus" && k !== "memoryMiB");
      if (grown.length > 0) {
        const what = grown.map((k) => `${k} ${String(olds[k as "vcpus"])} → ${String(news[k as "vcpus"])}`).join(" and ");
        console.log(`kvm: Vm "${olds.name}": ${what} by hot-plug into the running VM (no restart; the guest brings the new CPUs and memory online).`);
      }
      if (devices.length > 0) {
        console.log(`kvm: Vm "${olds.name}": ${devices.join(" and ")} change on the running VM by hot-plug (no restart; other devices and every kept NIC's MAC unchanged).`);
      }
    }
  }
  if (replaces.length === 0 && !olds.running && news.running !== false) {
    console.log(`kvm: Vm "${olds.name}": it is ${olds.state} on the host (running: false => true), so the update starts it${changed.length > 1 ? " and applies the other changes" : ""}.`);
  }
  if (changed.includes("cloudInit") && olds.cloudInit && news.cloudInit) {
    const rerun = !same(olds.cloudInit.instanceId, news.cloudInit.instanceId);
    console.log(
      `kvm: Vm "${olds.name}": cloud-init data changes: the seed is rewritten now and the guest reads it at its next boot; ` +
        (rerun
          ? `instanceId changes, so cloud-init runs its per-instance steps (users, keys, runcmd) again.`
          : `instanceId is unchanged, so per-instance steps (users, keys, runcmd) do NOT run again; change cloudInit.instanceId to re-run them.`),
    );
  }
  return {
    changes: replaces.length > 0 || changed.length > 0,
    replaces,
    stables: route.moveTo ? ["vmId"] : ["vmId", "hostId"],
    // The same name cannot exist twice on one host, and a Disk belongs to one VM at a time: a replacement
    // that keeps the name or the disks there (including `pulumi up --replace`) must delete first.
    deleteBeforeReplace: !hostChanged && (same(olds.name, news.name) || (news.disks ?? []).length > 0),
  };
}

// ---- create / read / update / delete -------------------------------------------

/** Every address hostd reports for the VM: per NIC (DHCP leases of this boot, guest agent), then other agent-reported ones. */
function usableAddresses(vm: VmInfo): string[] {
  const all = vm.nics.flatMap((n) => n.ipAddresses);
  for (const i of vm.guest?.interfaces ?? []) {
    for (const a of i.addresses) {
      if (isUsableAddress(a.address) && !all.includes(a.address)) all.push(a.address);
    }
  }
  return all;
}

function outputsOf(inputs: Omit<VmInputs, "host">, vm: VmInfo, where: Placement): VmOutputs {
  const addrs = usableAddresses(vm);
  // `uses` is read afresh from the program on every run; outputs need not keep (secret) copies of other resources' hosts.
  const { uses: _uses, ...i } = inputs;
  return definedOnly({
    ...i,
    ...where,
    // The spec as the host has it, so refresh shows a change made there; and the real power state.
    ...(specFromHost(VM_FIELDS, vm.spec) as Partial<VmSpec>),
    running: vm.state === "running" || vm.state === "paused",
    vmId: vm.id,
    state: vm.state,
    accelerator: vm.accelerator,
    pid: vm.pid,
    qemuStatus: vm.qemuStatus,
    lastExit: vm.lastExit,
    macAddresses: vm.nics.map((n) => n.mac),
    nics: vm.nics.map((n) => ({ network: n.network, mac: n.mac, tap: n.tap, ipAddresses: n.ipAddresses })),
    ipAddress: vm.primaryIp ?? addrs.find((a) => !a.includes(":")) ?? null,
    ipAddresses: addrs,
    guestHostname: vm.guest?.hostname ?? null,
    guestOs: vm.guest?.os ?? null,
  });
}

/** Polls until the VM is as ready as asked, bounded. Refresh never calls this. */
async function waitReady(client: ReturnType<typeof clientFor>, name: string, waitFor: WaitFor, timeoutSeconds: number, signal?: AbortSignal): Promise<VmInfo> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  for (;;) {
    // Terraform's StopProvider (after Ctrl-C): stop waiting; the caller undoes what it made.
    if (signal?.aborted) throw new KvmError("cancelled", `VM "${name}": stopped while waiting for it to be ${waitFor === "running" ? "running" : waitFor === "agent" ? "answering through its guest agent" : "reporting an IP address"} (the caller asked to stop).`);
    const vm = await client.vm.get(name);
    const ready =
      vm.state === "running" &&
      (waitFor === "running" || (waitFor === "agent" && vm.guest !== null) || (waitFor === "ip" && usableAddresses(vm).length > 0));
    if (ready) return vm;
    const gone = vm.state === "stopped" || vm.state === "crashed";
    if (!gone && waitFor === "ip" && Date.now() > deadline) throw noIpError(vm, timeoutSeconds);
    if (gone || Date.now() > deadline) {
      const what = waitFor === "running" ? "running" : waitFor === "agent" ? "answering through its guest agent" : "reporting an IP address through its guest agent";
      throw new KvmError(
        "timeout",
        `VM "${name}" is not ${what}${gone ? "" : ` after ${timeoutSeconds} s`}: it is ${vm.state}${vm.qemuStatus ? ` (QEMU: ${vm.qemuStatus})` : ""}${
          vm.lastExit && gone ? `; last exit: ${vm.lastExit.reason} (${vm.lastExit.detail ?? ""})` : ""
        }${waitFor !== "running" && !gone ? "; is qemu-guest-agent installed and running in the guest?" : ""}. See the serial log on the host.`,
      );
    }
    await new Promise<void>((r) => {
      const t = setTimeout(done, 500);
      function done() {
        clearTimeout(t);
        signal?.removeEventListener("abort", done);
        r();
      }
      signal?.addEventListener("abort", done, { once: true });
    });
  }
}

/** Names the VM, each NIC's network and MAC, and what was (not) seen, so the user knows where to look. */
function noIpError(vm: VmInfo, timeoutSeconds: number): KvmError {
  const nics = vm.nics.map((n) => (n.network ? `network "${n.network}" (MAC ${n.mac}${n.tap ? `, tap ${n.tap}` : ""})` : `user-mode NIC (MAC ${n.mac})`));
  return new KvmError(
    "timeout",
    `VM "${vm.name}" got no IP address within ${timeoutSeconds} s: ${nics.length > 0 ? `no DHCP lease from this boot for its NIC on ${nics.join(", ")}` : "it has no NICs"}` +
      `, and ${vm.guest ? "the guest agent reports no address either" : "no guest agent answered"}. ` +
      `Does the guest run a DHCP client on that interface? See the VM's serial log on the host.`,
    { vm: vm.name, nics: vm.nics.map((n) => ({ network: n.network, mac: n.mac })) },
  );
}

export async function create(inputs: VmInputs, o: CallOptions = {}): Promise<dynamic.CreateResult<VmOutputs>> {
  return withUserErrors(`creating VM "${inputs.name}"`, async () => {
    await mustUseOwnHost(inputs);
    const settings = settingsFor(inputs);
    const client = clientFor(settings, inputs.timeoutSeconds * 1000);
    const hostId = (await client.helloOnce()).hostId;
    const owner = ownerOf(inputs);
    let vm = await client.vm.create({ ...(specOf(VM_FIELDS, inputs) as VmSpec), owner });
    if (inputs.running) {
      try {
        vm = await waitReady(client, inputs.name, inputs.waitFor, inputs.timeoutSeconds, o.signal);
      } catch (e) {
        // A failed create leaves no state behind in Pulumi, so it must leave no VM behind on the host either.
        const id = vm.id;
        const undone = await client.vm.delete({ name: inputs.name, id, owner, hostId }).then(() => true, () => false);
        if (e instanceof KvmError) {
          throw new KvmError(e.code, `${e.message} ${undone ? "The VM was deleted again, so nothing is left half-made." : "Deleting the VM again failed too: delete it on the host."}`, e.details, e.requestId);
        }
        throw e;
      }
    }
    return { id: vm.id, outs: outputsOf(inputs, vm, placementOf(settings, hostId, hostRefOf(inputs))) };
  });
}

/** A refresh that finds the VM stopped or crashed records `running: false`, so the next preview shows `running: false => true`. */
function inputsFoundStopped(outs: VmOutputs): VmInputs {
  return { ...inputsFromOutputs(VM_FIELDS, outs), running: false } as VmInputs;
}

export async function read(id: string, props: VmOutputs): Promise<dynamic.ReadResult<VmOutputs>> {
  return withUserErrors(`reading VM "${props.name}"`, async () => {
    const settings = settingsFor(props);
    const client = clientFor(settings, 60_000);
    // On another host "not found" would drop the VM from state: the host id is checked first.
    const hostId = await mustBeOnHost("VM", props.name, client, props.hostId);
    const vm = await ownedOrGone(id, () => client.vm.get(props.name));
    if (!vm) return { id: "", props: {} as VmOutputs };
    // What differs from the declared VM on the host, in hostd's words; the outputs already show it, and up puts it back.
    for (const d of vm.drift ?? []) console.log(`kvm: Vm "${props.name}": ${d.field} drifted: ${d.detail}.`);
    const outs = outputsOf(props, vm, placementOf(settings, hostId, props.hostRef));
    // ReadResult types `inputs` as the outputs' type; they are the inputs.
    return { id, props: outs, ...(!outs.running && { inputs: inputsFoundStopped(outs) as unknown as VmOutputs }) };
  });
}

export async function update(id: string, olds: VmOutputs, news: VmInputs, o: CallOptions = {}): Promise<dynamic.UpdateResult<VmOutputs>> {
  return withUserErrors(`updating VM "${news.name}"`, async () => {
    const settings = settingsFor(news);
    const client = clientFor(settings, news.timeoutSeconds * 1000 + 120_000);
    // Every field that changes in place, from the table; a removed optional one is sent as null.
    // `olds.running` is the real state from the last read, so this also starts a VM that stopped or crashed.
    const { changed } = classify(VM_FIELDS, olds, news);
    const u: Record<string, unknown> = { name: news.name };
    for (const k of changed) {
      if (k in VmUpdate.shape && k !== "name") u[k] = (news as Record<string, unknown>)[k] ?? null;
    }
    await mustUseOwnHost(news);
    // A `host` that names another host moves the VM there first, live when it runs (see moves.ts).
    const movedTo = await moveIfAsked("VM", id, olds, news, client, (c, name) => c.vm.get(name), (src, from) =>
      moveVmOnce(src, client, from, { vm: olds.name, owner: ownerOf(olds) ?? "", timeoutMs: news.timeoutSeconds * 1000 }),
    );
    // Check it is still the stack's VM on its host before touching it: a namesake must not be changed.
    const hostId = await mustBeOnHost("VM", news.name, client, movedTo ?? olds.hostId);
    let vm = await mustOwn("VM", news.name, id, () => client.vm.get(news.name));
    if (Object.keys(u).length > 1) vm = (await client.vm.update({ ...(u as z.input<typeof VmUpdate>), stopTimeoutSeconds: news.stopTimeoutSeconds })).vm;
    if (news.running) vm = await waitReady(client, news.name, news.waitFor, news.timeoutSeconds, o.signal);
    return { outs: outputsOf(news, vm, placementOf(settings, hostId, hostRefOf(news))) };
  });
}

async function deleteVm(id: string, props: VmOutputs, o: CallOptions = {}): Promise<void> {
  return withUserErrors(`deleting VM "${props.name}"`, async () => {
    await onItsHost(props, o.timeoutMs ?? 180_000, (client) => client.vm.delete({ name: props.name, id, owner: ownerOf(props), hostId: props.hostId }));
  });
}
export { deleteVm as delete };
