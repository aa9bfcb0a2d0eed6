// Stands in for GitHub Actions' OIDC token endpoint (ACTIONS_ID_TOKEN_REQUEST_URL) on loopback: answers
// `{ "value": "<token>" }` to a request bearing the job's request token, a new token each time, and records
// the requests. It does not sign JWTs or check claims; a wrong request token gets 401.
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export class GitHubOidcEndpoint {
  readonly requests: { url: URL; headers: IncomingHttpHeaders }[] = [];
  private readonly server: Server;

  constructor(readonly requestToken: string) {
    this.server = createServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://localhost");
      this.requests.push({ url, headers: req.headers });
      if (req.headers.authorization !== `bearer ${requestToken}`) {
        res.writeHead(401, { "Content-Type": "application/json" }).end('{"message":"Bad credentials"}');
        return;
      }
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ count: 1, value: `github-oidc-token-${this.requests.length}` }));
    });
  }

  /** The request URL, as the runner sets ACTIONS_ID_TOKEN_REQUEST_URL (it already carries a query). */
  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}/_apis/distributedtask/hubs/build/plans/p/jobs/j/idtoken?api-version=2.0`;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
