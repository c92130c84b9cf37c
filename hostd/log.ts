/**
 * hostd's logger: one JSON object per line on stderr, so journald and log
 * shippers can parse it. Request ids tie a provider error to these lines.
 */
export type Level = "debug" | "info" | "warn" | "error";
const order: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export class Logger {
  constructor(
    private readonly fields: Record<string, unknown> = {},
    private readonly min: Level = (process.env.HOSTD_LOG_LEVEL as Level) || "info",
    private readonly sink: (line: string) => void = (l) => process.stderr.write(l + "\n"),
  ) {}

  child(fields: Record<string, unknown>): Logger {
    return new Logger({ ...this.fields, ...fields }, this.min, this.sink);
  }

  log(level: Level, msg: string, fields: Record<string, unknown> = {}): void {
    if (order[level] < order[this.min]) return;
    this.sink(JSON.stringify({ ts: new Date().toISOString(), level, msg, ...this.fields, ...fields }));
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
