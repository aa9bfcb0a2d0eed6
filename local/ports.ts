// Port checks for the local stack: fail fast with one line naming the port, and find free ports for tests.
import { createServer } from "node:net";

export class PortInUseError extends Error {
  override name = "PortInUseError";
  constructor(
    readonly port: number,
    readonly what: string,
    readonly variable?: string,
  ) {
    super(
      `Port ${port} (${what}) is already in use${variable ? `: stop what uses it or set ${variable} to another port` : ""}.`,
    );
  }
}

/** Resolves when `port` on `host` can be bound; rejects with PortInUseError otherwise. */
export async function assertPortFree(
  host: string,
  port: number,
  what: string,
  variable?: string,
): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const server = createServer();
    server.once("error", (error: NodeJS.ErrnoException) =>
      reject(error.code === "EADDRINUSE" ? new PortInUseError(port, what, variable) : error),
    );
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve()));
  });
}

/** A port that was free a moment ago (the OS picks it). */
export async function freePort(host = "127.0.0.1"): Promise<number> {
  return await new Promise<number>((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen({ host, port: 0 }, () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
