// Stands in for a Flex Consumption app's SCM (Kudu) site on loopback: `POST /api/publish` (OneDeploy),
// `GET /api/deployments/<id>` (the status record: `{ id, status, status_text, complete }`) and
// `GET /api/deployments/<id>/log`, in the wire format azd and the Azure CLI read. It acts out the platform's
// timing faults on demand: the app's storage role not yet effective (the upload is accepted, then the
// deployment fails on the storage's 403), a record that answers 404 once the worker has recycled, a
// cancelled deployment, 503s and reset connections. It also stands in for the two ARM calls made after a
// deployment (`POST <site>/syncfunctiontriggers`, `GET <site>/functions`), with functions listed only after
// some syncs, or never. Routes can also be scripted reply by reply.
// It does not check tokens, unzip or run anything, or speak any other Kudu API; it listens on plain HTTP.
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** When the request arrived (Date.now()), to check the pause before a retry. */
  receivedAt: number;
}

/** A scripted answer; `reset` closes the connection instead of answering. */
export type Reply = { status: number; body?: string; headers?: Record<string, string> } | { reset: true };

/** What the stand-in's OneDeploy does, when routes are not scripted. */
export interface OneDeployBehaviour {
  /** Deployments that fail on the storage's 403 before one succeeds: the app's role not yet effective. */
  storageRefusals?: number;
  /** Where a refused deployment says why: its status_text (default), or only its log. */
  refusalReportedIn?: "status_text" | "log";
  /** Polls that find a deployment in progress before its outcome (default 1). */
  pollsInProgress?: number;
  /** After reporting a deployment in progress once, its record answers 404 (the worker recycled). */
  forgetAfterProgress?: boolean;
  /** Deployments end cancelled (status -1). */
  cancel?: boolean;
  /** Requests answered 503 before the site answers normally. */
  unavailable?: number;
  /** Requests whose connection is reset before the site answers normally. */
  resets?: number;
  /** Which requests the 503s and resets hit: any (the first ones are the upload's) or only status polls. */
  faultsOn?: "any" | "polls";
  /** A Retry-After header, in seconds, on each 503. */
  retryAfterSeconds?: number;
  /** The functions the app registers, listed by ARM once its triggers are synced (none by default). */
  functions?: string[];
  /** Syncs that leave the list as it was before one takes effect (Flex's unsynced triggers; default 0). */
  syncsBeforeListed?: number;
  /** Functions never listed, however often the triggers are synced. */
  neverListed?: string[];
}

/** How Flex reports its storage refusing the app's identity (Azure/azure-functions-core-tools#4346). */
export const STORAGE_REFUSAL =
  "Failed to upload because Azure Storage responded with Forbidden : Response status code does not indicate " +
  "success: 403 (This request is not authorized to perform this operation.).";

interface Deployment {
  id: string;
  polls: number;
  outcome: "succeeded" | "refused" | "cancelled";
}

export class OneDeploySite {
  readonly requests: RecordedRequest[] = [];
  /** Every deployment the site accepted, in order. */
  readonly deployments: Deployment[] = [];
  private readonly server: Server;
  private readonly routes = new Map<string, (request: RecordedRequest) => Reply>();
  private behaviour: OneDeployBehaviour = {};
  private faults = { unavailable: 0, resets: 0 };
  /** Trigger syncs received so far. */
  syncs = 0;

  constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        const url = new URL(req.url ?? "/", "http://localhost");
        const recorded: RecordedRequest = {
          method: req.method ?? "",
          path: url.pathname,
          query: url.searchParams,
          headers: req.headers,
          body: Buffer.concat(chunks),
          receivedAt: Date.now(),
        };
        this.requests.push(recorded);
        const route = this.routes.get(`${recorded.method} ${recorded.path}`);
        const reply = route ? route(recorded) : this.oneDeploy(recorded);
        if ("reset" in reply) {
          req.socket.destroy();
          return;
        }
        res.writeHead(reply.status, reply.headers ?? {});
        res.end(reply.body ?? "");
      });
    });
  }

  /** Answers a route (`"POST /api/publish"`) with a handler, ahead of the OneDeploy behaviour. */
  on(route: string, handler: (request: RecordedRequest) => Reply): this {
    this.routes.set(route, handler);
    return this;
  }

  /** Replies in order; the last one repeats. */
  sequence(route: string, replies: Reply[]): this {
    let index = 0;
    return this.on(route, () => replies[Math.min(index++, replies.length - 1)] as Reply);
  }

  behave(behaviour: OneDeployBehaviour): this {
    this.behaviour = behaviour;
    this.faults = { unavailable: behaviour.unavailable ?? 0, resets: behaviour.resets ?? 0 };
    this.syncs = 0;
    return this;
  }

  reset(): void {
    this.requests.length = 0;
    this.deployments.length = 0;
    this.routes.clear();
    this.behave({});
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private oneDeploy(request: RecordedRequest): Reply {
    const faulty = this.behaviour.faultsOn !== "polls" || request.method === "GET";
    if (faulty && this.faults.resets > 0) {
      this.faults.resets--;
      return { reset: true };
    }
    if (faulty && this.faults.unavailable > 0) {
      this.faults.unavailable--;
      const retryAfter = this.behaviour.retryAfterSeconds;
      return {
        status: 503,
        body: "Service Unavailable",
        headers: retryAfter === undefined ? {} : { "Retry-After": String(retryAfter) },
      };
    }
    if (request.method === "POST" && request.path === "/api/publish") return this.accept();
    const arm =
      /^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.Web\/sites\/([^/]+)\/(syncfunctiontriggers|functions)$/.exec(
        request.path,
      );
    if (arm && request.method === "POST" && arm[2] === "syncfunctiontriggers") {
      this.syncs++;
      return { status: 200 };
    }
    if (arm && request.method === "GET" && arm[2] === "functions") return this.functions(arm[1] as string);
    const match = /^\/api\/deployments\/([^/]+)(\/log)?$/.exec(request.path);
    const deployment = this.deployments.find((candidate) => candidate.id === match?.[1]);
    if (request.method !== "GET" || !match || !deployment) return { status: 404, body: "Not Found" };
    return match[2] ? this.log(deployment) : this.record(deployment);
  }

  /** ARM's list: Flex's WarmUp always, the app's own functions once enough syncs have been received. */
  private functions(app: string): Reply {
    const synced = this.syncs > (this.behaviour.syncsBeforeListed ?? 0);
    const never = this.behaviour.neverListed ?? [];
    const names = ["WarmUp", ...(synced ? (this.behaviour.functions ?? []) : [])].filter(
      (name) => !never.includes(name),
    );
    return json({
      value: names.map((name) => ({
        id: `/subscriptions/s/resourceGroups/r/providers/Microsoft.Web/sites/${app}/functions/${name}`,
        name: `${app}/${name}`,
        type: "Microsoft.Web/sites/functions",
        properties: { language: "node", isDisabled: false },
      })),
    });
  }

  private accept(): Reply {
    const id = `deployment-${this.deployments.length + 1}`;
    const refusals = this.behaviour.storageRefusals ?? 0;
    const outcome = this.behaviour.cancel
      ? "cancelled"
      : this.deployments.length < refusals
        ? "refused"
        : "succeeded";
    this.deployments.push({ id, polls: 0, outcome });
    return { status: 202, body: JSON.stringify(id), headers: { Location: `/api/deployments/${id}` } };
  }

  private record(deployment: Deployment): Reply {
    deployment.polls++;
    const inProgress = this.behaviour.pollsInProgress ?? 1;
    if (deployment.polls <= inProgress) return json({ id: deployment.id, status: 2, complete: false });
    if (this.behaviour.forgetAfterProgress) return { status: 404, body: "Not Found" };
    switch (deployment.outcome) {
      case "succeeded":
        return json({ id: deployment.id, status: 4, complete: true, status_text: "" });
      case "cancelled":
        return json({
          id: deployment.id,
          status: -1,
          complete: true,
          status_text: "Deployment was cancelled.",
        });
      case "refused":
        return json({
          id: deployment.id,
          status: 3,
          complete: true,
          status_text:
            this.behaviour.refusalReportedIn === "log"
              ? "Deployment failed. See the deployment log for details."
              : STORAGE_REFUSAL,
        });
    }
  }

  private log(deployment: Deployment): Reply {
    const messages = ["Starting deployment pipeline.", "Uploading the package to the deployment storage."];
    if (deployment.outcome === "refused") messages.push(STORAGE_REFUSAL);
    return json(messages.map((message, index) => ({ id: `${index}`, message, type: 0 })));
  }
}

function json(value: unknown): Reply {
  return { status: 200, body: JSON.stringify(value), headers: { "Content-Type": "application/json" } };
}
