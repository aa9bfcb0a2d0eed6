// A server for the HTTP row, run as its own process so that it does not share a thread with the load
// generator: `project` is the local function host, `baseline` a bare node:http server answering with a
// token signed the same way. Reports its URL to the parent over IPC and runs until killed.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { startFunctionHost } from "../local/functionHost";
import { freePort } from "../local/ports";
import { signerForSettings } from "./issuance";

export type ServerKind = "project" | "baseline";

const HOST = "127.0.0.1";

async function main(): Promise<void> {
  const kind = process.argv[2];
  const accountKey = process.env.BENCH_ACCOUNT_KEY;
  if (!process.send) throw new Error("run this server through bench/run.ts (it reports over IPC)");
  if (!accountKey) throw new Error("BENCH_ACCOUNT_KEY is not set");
  let url: string;
  if (kind === "project") {
    const host = await startFunctionHost({
      host: HOST,
      port: await freePort(HOST),
      allowedOrigins: [],
      // The handler's log lines are formatted as on the real host, then dropped.
      log: () => {},
    });
    url = `${host.apiUrl}/credentials`;
  } else if (kind === "baseline") {
    const signer = signerForSettings(accountKey);
    const server = createServer((req, res) => {
      if (req.method !== "GET" || !req.url?.startsWith("/api/credentials")) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, {
        "Content-Type": "application/json",
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
      });
      res.end(signer.responseBody(Date.now()));
    });
    await new Promise<void>((resolve) => server.listen({ host: HOST, port: 0 }, resolve));
    url = `http://${HOST}:${(server.address() as AddressInfo).port}/api/credentials`;
  } else {
    throw new Error(`unknown server kind ${JSON.stringify(kind)}: use project or baseline`);
  }
  process.send({ url });
  process.on("disconnect", () => process.exit(0));
  process.on("SIGINT", () => process.exit(0));
}

main().catch((error: unknown) => {
  console.error(`bench server: ${(error as Error).message}`);
  process.exit(1);
});
