// Shutting down what the local stack and the benchmark start: HTTP servers (the function host, the page
// server) and child processes (Azurite, the benchmark's servers), each written once.
import type { ChildProcess } from "node:child_process";
import type { Server } from "node:http";

/** Stops accepting connections and ends the open ones (keep-alive included), resolving once closed. */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** Asks a child to stop (SIGTERM), forces it after graceMs (SIGKILL), and resolves once it has exited. */
export async function stopChild(child: ChildProcess, graceMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(timer);
}
