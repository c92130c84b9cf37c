import { Duplex } from "node:stream";

/**
 * How a {@link HostClient} reaches hostd's socket. A transport opens one
 * fresh stream per call; implementations share whatever is expensive (the
 * SSH connection) between streams.
 */
export interface Transport {
  /** Human-readable target for messages, e.g. `root@10.0.0.5:22`. */
  readonly target: string;
  /** Opens a stream connected to hostd's socket. */
  openStream(): Promise<Duplex>;
  /** Releases shared resources (the SSH connection). Idempotent. */
  close(): Promise<void>;
}
