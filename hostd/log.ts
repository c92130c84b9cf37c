/**
 * hostd's logger: one JSON object per line on stderr, so journald and log
 * shippers can parse it. Request ids tie a provider error to these lines:
 * every line written while a request runs carries its id (`req`) and the
 * caller's uid, whichever logger wrote it (services and drivers log through
 * hostd's root logger and need not be handed the request's).
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { EVENTS, type EventFields, type EventKind } from "../sdk/protocol/events";

export type Level = "debug" | "info" | "warn" | "error";
const order: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** One log entry as written. */
export type Entry = { ts: string; level: Level; msg: string } & Record<string, unknown>;

/** The request a piece of work belongs to; `done` once its reply is sent. */
export interface RequestScope {
  req: string;
  uid?: number;
  done: boolean;
}

const scopes = new AsyncLocalStorage<RequestScope>();

/**
 * Runs `fn` as part of request `scope`: what it logs carries the request's
 * id. Callbacks it leaves behind (a QEMU's exit watcher, a restart timer)
 * inherit the scope, so the server marks it done when the reply is sent and
 * later lines are no longer taken for the request's.
 */
export async function inRequest<T>(scope: RequestScope, fn: () => Promise<T>): Promise<T> {
  try {
    return await scopes.run(scope, fn);
  } finally {
    scope.done = true;
  }
}

/** The fields of the request running now, if any. */
function requestFields(): Record<string, unknown> {
  const s = scopes.getStore();
  if (!s || s.done) return {};
  return { req: s.req, ...(s.uid !== undefined && { uid: s.uid }) };
}

export class Logger {
  constructor(
    private readonly fields: Record<string, unknown> = {},
    private readonly min: Level = (process.env.HOSTD_LOG_LEVEL as Level) || "info",
    private readonly sink: (line: string) => void = (l) => process.stderr.write(l + "\n"),
    /** Listeners of every entry, shared with child loggers (hostd's event history is one). */
    private readonly taps: ((e: Entry) => void)[] = [],
  ) {}

  child(fields: Record<string, unknown>): Logger {
    return new Logger({ ...this.fields, ...fields }, this.min, this.sink, this.taps);
  }

  /** Calls `fn` with every entry this logger and its children write. */
  tap(fn: (e: Entry) => void): void {
    this.taps.push(fn);
  }

  log(level: Level, msg: string, fields: Record<string, unknown> = {}): void {
    if (order[level] < order[this.min]) return;
    const entry = { ts: new Date().toISOString(), level, msg, ...requestFields(), ...this.fields, ...fields } as Entry;
    this.sink(JSON.stringify(entry));
    for (const t of this.taps) t(entry);
  }
  /**
   * Writes a declared event (sdk/protocol/events.ts) about `object`: its
   * message, `event: kind` and the declared fields, at info level unless told.
   */
  event<K extends EventKind>(kind: K, object: string, fields: EventFields<K>, level: Level = "info"): void {
    const d = EVENTS[kind];
    this.log(level, d.message, { [d.object]: object, event: kind, ...fields });
  }
  debug(msg: string, f?: Record<string, unknown>): void {
    this.log("debug", msg, f);
  }
  info(msg: string, f?: Record<string, unknown>): void {
    this.log("info", msg, f);
  }
  warn(msg: string, f?: Record<string, unknown>): void {
    this.log("warn", msg, f);
  }
  error(msg: string, f?: Record<string, unknown>): void {
    this.log("error", msg, f);
  }
}
