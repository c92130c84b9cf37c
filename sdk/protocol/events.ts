/**
 * The kinds of events hostd records (`host.events`, `hostd events`), each
 * declared once with the object it is about, its message and its fields.
 * hostd writes them through `Logger.event` (hostd/log.ts), which takes the
 * fields this table declares, so the log line, the event history and the
 * CLI's view all read from here; docs/architecture.md lists them.
 *
 * An event written while a request ran also carries that request's id
 * (`requestId`, the one the provider's errors cite) and the caller's uid
 * (`uid`, the kernel's word for the connection's peer): who did it, whether
 * a pipeline through sshd or an operator with `hostd vm stop`.
 */
import { z } from "zod";
import { defineMethod } from "./method";
import { ExitReason } from "./vm";

/** What an event is about; also the key that names the object in hostd's log line (`vm: "web"`). */
export const EventObject = z.enum(["vm", "disk", "network"]);
export type EventObject = z.infer<typeof EventObject>;

interface EventDecl {
  object: EventObject;
  /** The log line's message (and the event's). */
  message: string;
  /** When it happens, for the docs. */
  doc: string;
  fields: z.ZodObject;
}

const declare = <T extends Record<string, EventDecl>>(t: T): T => t;

export const EVENTS = declare({
  "vm.created": { object: "vm", message: "VM created", doc: "vm.create made the VM (and started it when `running`).", fields: z.strictObject({ id: z.uuid(), running: z.boolean() }) },
  "vm.started": { object: "vm", message: "VM started", doc: "A QEMU of the VM was launched and answered on QMP.", fields: z.strictObject({ pid: z.int(), accel: z.string() }) },
  "vm.exited": {
    object: "vm",
    message: "VM exited",
    doc: "The VM's QEMU ended; `reason` says why (warn level for crashes and kills); `restartsInSeconds` when hostd will start it again (restartPolicy on-crash).",
    fields: z.strictObject({ pid: z.int(), reason: ExitReason, detail: z.string().optional(), restartsInSeconds: z.int().optional() }),
  },
  "vm.updated": {
    object: "vm",
    message: "VM updated",
    doc: "vm.update changed the spec; `restarted` when the running VM was restarted for it, `hotplugged` the devices plugged (+) and unplugged (-).",
    fields: z.strictObject({ restarted: z.boolean(), hotplugged: z.array(z.string()), changed: z.array(z.string()) }),
  },
  "vm.deleted": { object: "vm", message: "VM deleted", doc: "vm.delete removed the VM, its QEMU, taps and files.", fields: z.strictObject({ id: z.uuid() }) },
  "vm.migrating": {
    object: "vm",
    message: "VM migration phase",
    doc: "A move between hosts reached `phase` on this host (`role` source or destination; `peerHostId` the other host).",
    fields: z.strictObject({ id: z.uuid(), role: z.enum(["source", "destination"]), mode: z.enum(["live", "offline"]), phase: z.string(), peerHostId: z.string() }),
  },
  "vm.migrated": {
    object: "vm",
    message: "VM migrated",
    doc: "A move ended on this host: on the destination the VM runs (or is kept stopped) here, with QEMU's `downtimeMs` and the guest-visible `pauseMs` when live; on the source it is gone from here.",
    fields: z.strictObject({ id: z.uuid(), role: z.enum(["source", "destination"]), mode: z.enum(["live", "offline"]), peerHostId: z.string(), downtimeMs: z.int().nullable().optional(), totalMs: z.int().optional(), bytes: z.int().optional() }),
  },
  "vm.migration-aborted": {
    object: "vm",
    message: "VM migration aborted",
    doc: "A move was undone on this host (warn level): on the source the VM runs on here; on the destination nothing of it is left.",
    fields: z.strictObject({ id: z.uuid(), role: z.enum(["source", "destination"]), peerHostId: z.string(), why: z.string() }),
  },
  "disk.received": { object: "disk", message: "disk received", doc: "A move made the Disk's twin here (same id) to be written by the source (`sync` top: only the overlay travels).", fields: z.strictObject({ id: z.uuid(), sync: z.string() }) },
  "disk.moved-away": { object: "disk", message: "disk moved away", doc: "The Disk moved to another host, with its VM or by itself (or a destination's twin of it went when its VM's move was undone): its file and row are gone from here.", fields: z.strictObject({ id: z.uuid() }) },
  "disk.moving": { object: "disk", message: "disk moving", doc: "A detached Disk began moving by itself to host `peerHostId`: it cannot be changed, deleted or attached until the move ends.", fields: z.strictObject({ id: z.uuid(), role: z.enum(["source", "destination"]), peerHostId: z.string() }) },
  "disk.moved-here": { object: "disk", message: "disk moved here", doc: "A detached Disk's copy from host `peerHostId` landed: it is an ordinary Disk of this host now (same id).", fields: z.strictObject({ id: z.uuid(), peerHostId: z.string() }) },
  "disk.move-aborted": {
    object: "disk",
    message: "disk move aborted",
    doc: "A detached Disk's move was undone on this host (warn level): on the source the Disk stays, usable again; on the destination its incomplete copy is gone.",
    fields: z.strictObject({ id: z.uuid(), role: z.enum(["source", "destination"]), peerHostId: z.string(), why: z.string() }),
  },
  "disk.created": { object: "disk", message: "disk created", doc: "disk.create made the Disk's file.", fields: z.strictObject({ id: z.uuid(), source: z.string() }) },
  "disk.grown": { object: "disk", message: "disk grown", doc: "disk.update grew the Disk; `online` when a running VM's QEMU grew it.", fields: z.strictObject({ sizeGiB: z.int(), online: z.boolean() }) },
  "disk.deleted": { object: "disk", message: "disk deleted", doc: "disk.delete removed the Disk's file.", fields: z.strictObject({ id: z.uuid() }) },
  "network.created": { object: "network", message: "network created", doc: "network.create made the bridge, dnsmasq and rules.", fields: z.strictObject({ id: z.uuid(), mode: z.string(), bridge: z.string() }) },
  "network.updated": { object: "network", message: "network updated", doc: "network.update changed the network.", fields: z.strictObject({}) },
  "network.deleted": { object: "network", message: "network deleted", doc: "network.delete removed the network.", fields: z.strictObject({ id: z.uuid() }) },
});

export type EventKind = keyof typeof EVENTS;
export const EventKind = z.enum(Object.keys(EVENTS) as [EventKind, ...EventKind[]]);
/** The fields of an event of kind `K`, as its writer gives them. */
export type EventFields<K extends EventKind> = z.input<(typeof EVENTS)[K]["fields"]>;

export const HostEvent = z.strictObject({
  /** Increases with every event: `host.events {after: seq}` returns the ones since (what `hostd events --follow` polls). */
  seq: z.int(),
  at: z.string(),
  level: z.enum(["info", "warn", "error"]),
  /** `vm`, `network` or `disk`: what the event is about. */
  kind: EventObject,
  /** The declared kind ({@link EVENTS}); absent for other lines hostd logged about the object (warnings, restores). */
  event: EventKind.optional(),
  /** The object's name. */
  object: z.string(),
  message: z.string(),
  /** The request it happened in, when it happened in one. */
  requestId: z.string().optional(),
  /** The uid of the caller of that request (SO_PEERCRED): who did it. */
  uid: z.int().optional(),
  /** The rest of what hostd logged with it (ids, pids, reasons: the declared fields); never secrets. */
  details: z.record(z.string(), z.unknown()),
});
export type HostEvent = z.infer<typeof HostEvent>;

/** What happened to VMs, networks and disks lately (created, started, exited and why, changed and by whom), oldest first. */
export const hostEvents = defineMethod(
  "host.events",
  z.strictObject({
    limit: z.int().min(1).max(1000).default(100),
    object: z.string().max(63).optional(),
    /** Only events after this `seq` (the oldest first, up to `limit`): a follower passes the last seq it saw. */
    after: z.int().min(0).optional(),
  }),
  z.strictObject({ events: z.array(HostEvent) }),
  { mutating: false },
);
