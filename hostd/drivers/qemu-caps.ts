/**
 * What this host's QEMU offers guests, under the accelerator hostd chose:
 * asked once at start of a QEMU with no machine (`-machine none`, as
 * libvirt probes), over QMP:
 *
 * - its machine types (`query-machines`) and what the `q35` alias stands
 *   for here (e.g. `pc-q35-7.2`): a VM keeps the versioned type it first
 *   started with, so a move to a newer QEMU gives it the same machine;
 *
 * - the features of the host's own model (`host` on KVM, `max` on TCG),
 *   from `query-cpu-model-expansion` (full) — what a VM with cpuModel
 *   `host` sees, and what must match for it to move live;
 * - each named model and the features this host lacks for it, from
 *   `query-cpu-definitions` (`unavailable-features`) — a named model runs
 *   (with `enforce`) only where that list is empty.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { run } from "../exec";
import type { AcceleratorKind } from "./accel";
import { QmpClient } from "./qmp";

export interface QemuCaps {
  /** The QEMU model behind cpuModel `host` here. */
  native: "host" | "max";
  /** Features the native model gives a guest here, sorted. */
  features: string[];
  /** Named models this QEMU knows, each with the features this host lacks for it (empty: usable). */
  models: Map<string, string[]>;
  /** The machine types this QEMU has, and the versioned one behind `q35` (what new VMs get). */
  machines: string[];
  q35: string;
  /** Why QEMU could not be asked (the features, models and machines are then empty). */
  error?: string;
}

/** Probes the QEMU `binary` under `accel` (about a third of a second). */
export async function probeQemuCaps(binary: string, accel: AcceleratorKind): Promise<QemuCaps> {
  const dir = mkdtempSync(path.join(tmpdir(), "hostd-cpu-"));
  const sock = path.join(dir, "qmp.sock");
  const proc = run(binary, ["-nodefaults", "-display", "none", "-machine", "none", "-accel", accel, "-S", "-qmp", `unix:${sock},server=on,wait=off`], { timeoutMs: 30_000 });
  proc.catch(() => undefined); // its failure is reported by the QMP connect below, with QEMU's words
  try {
    const qmp = await connectWhenListening(sock, proc);
    try {
      const native = accel === "kvm" ? "host" : "max";
      const defs = (await qmp.execute("query-cpu-definitions")) as { name: string; "unavailable-features"?: string[] }[];
      const expansion = (await qmp.execute("query-cpu-model-expansion", { type: "full", model: { name: native } })) as { model: { props?: Record<string, unknown> } };
      const features = Object.entries(expansion.model.props ?? {})
        .filter(([, v]) => v === true)
        .map(([k]) => k)
        .sort();
      const models = new Map(defs.filter((d) => d.name !== "host" && d.name !== "max" && d.name !== "base").map((d) => [d.name, [...(d["unavailable-features"] ?? [])].sort()]));
      const machines = (await qmp.execute("query-machines")) as { name: string; alias?: string }[];
      await qmp.execute("quit").catch(() => undefined);
      await proc.catch(() => undefined);
      return { native, features, models, machines: machines.map((m) => m.name).sort(), q35: machines.find((m) => m.alias === "q35")?.name ?? "q35" };
    } finally {
      qmp.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** QEMU makes its QMP socket soon after it starts; until then (or if it exits first) there is nothing to connect to. */
async function connectWhenListening(sock: string, proc: Promise<unknown>): Promise<QmpClient> {
  let exited: Error | undefined;
  proc.then(
    () => (exited = new Error("QEMU exited before its QMP socket opened")),
    (e: Error) => (exited = e),
  );
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (exited) throw exited;
    if (existsSync(sock)) return QmpClient.connect(sock, 10_000);
    if (Date.now() > deadline) throw new Error(`QEMU opened no QMP socket at ${sock} within 20 s`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
