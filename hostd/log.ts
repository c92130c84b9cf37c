/**
 * hostd's logger: one JSON object per line on stderr, so journald and log
 * shippers can parse it. Request ids tie a provider error to these lines.
 */
export type Level = "debug" | "info" | "warn" | "error";
const order: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** One log entry as written. */
export type Entry = { ts: string; level: Level; msg: string } & Record<string, unknown>;

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
    const entry = { ts: new Date().toISOString(), level, msg, ...this.fields, ...fields } as Entry;
    this.sink(JSON.stringify(entry));
    for (const t of this.taps) t(entry);
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
