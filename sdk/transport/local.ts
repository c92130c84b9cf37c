import * as net from "node:net";
import { Duplex } from "node:stream";
import { KvmError } from "../errors";
import { Transport } from "./types";

/** Default socket path of hostd on a host. */
export const DEFAULT_SOCKET_PATH = "/run/hostd/hostd.sock";

/**
 * Reaches hostd on this machine through its unix socket, without SSH: for
 * the quick start, tests and tools running on the host itself.
 */
export class LocalTransport implements Transport {
  readonly target: string;
  constructor(readonly socketPath: string = DEFAULT_SOCKET_PATH) {
    this.target = `unix:${socketPath}`;
  }

  openStream(): Promise<Duplex> {
    return new Promise((resolve, reject) => {
      const sock = net.createConnection(this.socketPath);
      sock.once("connect", () => {
        sock.removeAllListeners("error");
        resolve(sock);
      });
      sock.once("error", (err: NodeJS.ErrnoException) => reject(localConnectError(this.socketPath, err)));
    });
  }

  async close(): Promise<void> {}
}

export function localConnectError(socketPath: string, err: NodeJS.ErrnoException): KvmError {
  switch (err.code) {
    case "ENOENT":
    case "ECONNREFUSED":
      return new KvmError(
        "connect_failed",
        `hostd is not listening on ${socketPath}: start it with \`hostd serve\` (or check the socket path).`,
        { socketPath, errno: err.code },
      );
    case "EACCES":
    case "EPERM":
      return new KvmError(
        "connect_failed",
        `Permission denied on ${socketPath}: run as root or as a member of the hostd group.`,
        { socketPath, errno: err.code },
      );
    default:
      return new KvmError("connect_failed", `Could not connect to ${socketPath}: ${err.message}`, {
        socketPath,
        errno: err.code,
      });
  }
}
