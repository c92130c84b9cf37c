/**
 * The dynamic provider of `kvm.Vm`.
 *
 * This module IS the provider: its top-level exports are the provider
 * methods, and the Vm resource passes the module itself to Pulumi. Pulumi's
 * closure serializer then stores only `require("pulumi-kvm/dist/provider/vm-provider.js")`
 * in state, so no connection, key or schema object is ever captured, and old
 * state keeps working after upgrades. Keep this path stable.
 */
import { randomBytes } from "node:crypto";
import type * as dynamic from "@pulumi/pulumi/dynamic";
import { z } from "zod";
import { isKvmError, KvmError } from "../sdk/errors";
import { KernelBoot, MemoryMiB, Name, Vcpus, VmInfo, VmSpec } from "../sdk/protocol";
import { clientFor, CONFIG_KEYS, ConnectionSettings, targetOf } from "./connection";

/** What Pulumi sends as a value that is not known yet during preview. */
export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

/** Default bound on waiting for a VM to run, when `timeoutSeconds` is not given. */
const DEFAULT_TIMEOUT_SECONDS = 300;

/** Inputs after check: what diff/create/update see. */
export interface VmInputs {
  name: string;
  namePrefix?: string;
  vcpus: number;
  memoryMiB: number;
  running: boolean;
  kernel: { path: string; initrd?: string; cmdline?: string };
  timeoutSeconds: number;
  connection?: ConnectionSettings;
}

/** Outputs: the inputs plus what the host reports. */
export interface VmOutputs extends VmInputs {
  vmId: string;
  host: string;
  state: string;
  accelerator: string | null;
  pid: number | null;
  qemuStatus: string | null;
  lastExit: VmInfo["lastExit"];
}

const Inputs = z.strictObject({
  name: Name.optional(),
  namePrefix: z.string().max(40).optional(),
  vcpus: Vcpus.optional(),
  memoryMiB: MemoryMiB.optional(),
  running: z.boolean().optional(),
  kernel: KernelBoot,
  timeoutSeconds: z.int().min(1).max(86_400).optional(),
  connection: ConnectionSettings.optional(),
});

// ---- configuration -----------------------------------------------------------

/** Stack config, set by `configure`. Module state is safe here: this module is required, not serialized. */
let stackConnection: ConnectionSettings = {};

export async function configure(req: dynamic.ConfigureRequest): Promise<void> {
  const raw: Record<string, unknown> = {};
  for (const key of CONFIG_KEYS) {
    const v = req.config.get(`kvm:${key}`);
    if (v === undefined) continue;
    raw[key] = key === "dialCommand" ? safeJson(v) : v;
  }
  const parsed = ConnectionSettings.safeParse(raw);
  if (!parsed.success) {
    throw new Error(`[invalid_params] stack config kvm:*: ${z.prettifyError(parsed.error)}`);
  }
  stackConnection = parsed.data;
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return s;
  }
}

function settingsFor(inputs: { connection?: ConnectionSettings }): ConnectionSettings {
  return { ...stackConnection, ...(inputs.connection ?? {}) };
}

// ---- check -------------------------------------------------------------------

function hasUnknown(v: unknown): boolean {
  if (v === UNKNOWN) return true;
  if (Array.isArray(v)) return v.some(hasUnknown);
  if (v && typeof v === "object") return Object.values(v).some(hasUnknown);
  return false;
}

/** Drops properties that are unknown during preview, so the rest can still be validated. */
function withoutUnknowns(v: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(v).filter(([, x]) => !hasUnknown(x)));
}

/** A stable auto-generated name: `<prefix>-<7 hex>`, kept across updates. */
function autoName(prefix: string | undefined): string {
  const base =
    (prefix ?? "vm")
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, "-")
      .replace(/^-+|-+$/g, "")
      .slice(0, 55) || "vm";
  return `${base}-${randomBytes(4).toString("hex").slice(0, 7)}`;
}

export async function check(olds: Partial<VmOutputs>, allNews: Record<string, unknown>): Promise<dynamic.CheckResult> {
  // Pulumi's own serialized provider reference rides along with the inputs; it is not ours to check.
  const { __provider: _provider, ...news } = allNews;
  const failures: dynamic.CheckFailure[] = [];
  const known = withoutUnknowns(news);
  // Validate the known part with the protocol's own schemas; unknown values are checked at apply time.
  const shape = Inputs.partial({ kernel: true }).safeParse(known);
  if (!shape.success) {
    for (const i of shape.error.issues) {
      failures.push({
        property: i.path.length ? i.path.map(String).join(".") : "(resource)",
        reason: `[invalid_params] ${i.path.length ? i.path.map(String).join(".") + ": " : ""}${i.message}`,
      });
    }
  }
  if (news.kernel === undefined) {
    failures.push({ property: "kernel", reason: "[invalid_params] kernel: a boot source is required (kernel.path)" });
  }
  if (failures.length > 0) return { inputs: news, failures };

  const inputs: Record<string, unknown> = { ...news };
  if (news.name === undefined) {
    inputs.name = olds.name !== undefined && olds.namePrefix === news.namePrefix ? olds.name : autoName(news.namePrefix as string | undefined);
  }
  inputs.vcpus ??= 1;
  inputs.memoryMiB ??= 512;
  inputs.running ??= true;
  inputs.timeoutSeconds ??= DEFAULT_TIMEOUT_SECONDS;

  // The whole spec as hostd will see it, when every part is known.
  if (!hasUnknown(inputs)) {
    const spec = VmSpec.safeParse(specOf(inputs as unknown as VmInputs));
    if (!spec.success) {
      for (const i of spec.error.issues) {
        failures.push({ property: i.path.map(String).join("."), reason: `[invalid_params] ${i.message}` });
      }
    }
  }
  return { inputs, failures };
}

// ---- diff --------------------------------------------------------------------

/** Properties hostd changes in place; the ones marked restart need QEMU restarted while it runs. */
const IN_PLACE: Record<string, "restart" | "live" | "none"> = {
  vcpus: "restart",
  memoryMiB: "restart",
  kernel: "restart",
  running: "live",
  timeoutSeconds: "none",
};

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

export async function diff(_id: string, olds: VmOutputs, news: VmInputs): Promise<dynamic.DiffResult> {
  const replaces: string[] = [];
  const changed: string[] = [];
  if (!same(olds.name, news.name)) replaces.push("name");
  const hostChanged = !hasUnknown(news.connection) && olds.host !== undefined && targetOf(settingsFor(news)) !== olds.host;
  if (hostChanged) replaces.push("connection");
  else if (!same(olds.connection, news.connection)) changed.push("connection");
  for (const k of Object.keys(IN_PLACE) as (keyof VmInputs)[]) {
    if (!same(olds[k], news[k])) changed.push(k);
  }
  if (!same(olds.namePrefix, news.namePrefix) && news.name === olds.name) changed.push("namePrefix");

  const restartFor = changed.filter((k) => IN_PLACE[k] === "restart");
  if (replaces.length === 0 && restartFor.length > 0 && olds.running && news.running !== false) {
    // Dynamic providers cannot annotate the plan, so say it where the CLI shows provider output.
    console.log(
      `kvm: Vm "${olds.name}": changing ${restartFor.join(", ")} restarts the running VM in place (same VM, same id; the guest is shut down and booted again).`,
    );
  }
  return {
    changes: replaces.length > 0 || changed.length > 0,
    replaces,
    stables: ["vmId"],
    // The same name cannot exist twice on one host, so any replacement that keeps the name there
    // (including `pulumi up --replace`, which skips our replaces list) must delete first.
    deleteBeforeReplace: !hostChanged && same(olds.name, news.name),
  };
}

// ---- create / read / update / delete -------------------------------------------

function specOf(i: VmInputs): z.input<typeof VmSpec> {
  return { name: i.name, vcpus: i.vcpus, memoryMiB: i.memoryMiB, running: i.running, kernel: i.kernel };
}

function outputsOf(i: VmInputs, vm: VmInfo, host: string): VmOutputs {
  return {
    ...i,
    vcpus: vm.spec.vcpus,
    memoryMiB: vm.spec.memoryMiB,
    kernel: vm.spec.kernel,
    // The real power state, so `pulumi refresh` shows a VM that stopped or crashed.
    running: vm.state === "running" || vm.state === "paused",
    vmId: vm.id,
    host,
    state: vm.state,
    accelerator: vm.accelerator,
    pid: vm.pid,
    qemuStatus: vm.qemuStatus,
    lastExit: vm.lastExit,
  };
}

/** Errors reach the user through the CLI as `[code] message (hostd request id)`. */
async function withUserErrors<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (isKvmError(e)) throw new Error(`${what}: ${e.toString()}`);
    throw e;
  }
}

/** Polls until the VM runs, bounded: refresh never calls this. */
async function waitRunning(client: ReturnType<typeof clientFor>, name: string, timeoutSeconds: number): Promise<VmInfo> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  for (;;) {
    const vm = await client.vm.get(name);
    if (vm.state === "running") return vm;
    if (vm.state === "stopped" || vm.state === "crashed" || Date.now() > deadline) {
      throw new KvmError(
        "timeout",
        `VM "${name}" is ${vm.state}${vm.qemuStatus ? ` (QEMU: ${vm.qemuStatus})` : ""}, not running${
          vm.state === "paused" ? ` after ${timeoutSeconds} s` : ""
        }${vm.lastExit ? `; last exit: ${vm.lastExit.reason} (${vm.lastExit.detail ?? ""})` : ""}. See the serial log on the host.`,
      );
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

export async function create(inputs: VmInputs): Promise<dynamic.CreateResult<VmOutputs>> {
  return withUserErrors(`creating VM "${inputs.name}"`, async () => {
    const settings = settingsFor(inputs);
    const client = clientFor(settings, inputs.timeoutSeconds * 1000);
    await client.helloOnce();
    let vm = await client.vm.create(specOf(inputs));
    if (inputs.running) vm = await waitRunning(client, inputs.name, inputs.timeoutSeconds);
    return { id: vm.id, outs: outputsOf(inputs, vm, targetOf(settings)) };
  });
}

export async function read(id: string, props: VmOutputs): Promise<dynamic.ReadResult<VmOutputs>> {
  return withUserErrors(`reading VM "${props.name}"`, async () => {
    const settings = settingsFor(props);
    const client = clientFor(settings, 60_000);
    let vm: VmInfo;
    try {
      vm = await client.vm.get(props.name);
    } catch (e) {
      if (isKvmError(e, "not_found")) return { id: "", props: {} as VmOutputs };
      throw e;
    }
    // A VM of the same name but another id is a namesake; ours is gone.
    if (vm.id !== id) return { id: "", props: {} as VmOutputs };
    return { id, props: outputsOf(props, vm, props.host ?? targetOf(settings)) };
  });
}

export async function update(id: string, olds: VmOutputs, news: VmInputs): Promise<dynamic.UpdateResult<VmOutputs>> {
  return withUserErrors(`updating VM "${news.name}"`, async () => {
    const settings = settingsFor(news);
    const client = clientFor(settings, news.timeoutSeconds * 1000 + 120_000);
    const u: Parameters<typeof client.vm.update>[0] = { name: news.name };
    if (olds.vcpus !== news.vcpus) u.vcpus = news.vcpus;
    if (olds.memoryMiB !== news.memoryMiB) u.memoryMiB = news.memoryMiB;
    if (!same(olds.kernel, news.kernel)) u.kernel = news.kernel;
    // `olds.running` is the real state from the last read, so this also starts a VM that stopped or crashed.
    if (olds.running !== news.running) u.running = news.running;
    let vm: VmInfo;
    if (Object.keys(u).length > 1) {
      const res = await client.vm.update(u);
      vm = res.vm;
      if (vm.id !== id) throw new KvmError("not_found", `VM "${news.name}" on the host is not the one in this stack (id ${vm.id}, expected ${id}). Run \`pulumi refresh\`.`);
    } else {
      vm = await client.vm.get(news.name);
    }
    if (news.running) vm = await waitRunning(client, news.name, news.timeoutSeconds);
    return { outs: outputsOf(news, vm, olds.host ?? targetOf(settings)) };
  });
}

async function deleteVm(id: string, props: VmOutputs): Promise<void> {
  return withUserErrors(`deleting VM "${props.name}"`, async () => {
    const client = clientFor(settingsFor(props), 180_000);
    await client.vm.delete({ name: props.name, id });
  });
}
export { deleteVm as delete };
