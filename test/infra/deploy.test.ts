import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import * as path from "node:path";
import * as web from "@pulumi/azure-native/web";
import * as pulumi from "@pulumi/pulumi";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { diffDeployment, FunctionDeployment, oneDeployProvider, scmHostOf } from "../../infra/deploy";
import { PublishError, publishPackage } from "../../infra/oneDeploy";

const REPO_ROOT = path.resolve(__dirname, "../..");
const TOKEN = "eyJ0eXAiOiJKV1QifQ.test-arm-token.signature";

interface Recorded {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

type Reply = { status: number; body?: string; headers?: Record<string, string> };

/** A local stand-in for the SCM site's OneDeploy endpoint, answering from a script of replies per path. */
class FakeScmSite {
  readonly requests: Recorded[] = [];
  private server: Server;
  private routes = new Map<string, (request: Recorded) => Reply>();

  constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        const url = new URL(req.url ?? "/", "http://localhost");
        const recorded: Recorded = {
          method: req.method ?? "",
          path: url.pathname,
          query: url.searchParams,
          headers: req.headers,
          body: Buffer.concat(chunks),
        };
        this.requests.push(recorded);
        const route = this.routes.get(`${req.method} ${url.pathname}`);
        const reply = route ? route(recorded) : { status: 404, body: "no such route" };
        res.writeHead(reply.status, reply.headers ?? {});
        res.end(reply.body ?? "");
      });
    });
  }

  on(route: string, handler: (request: Recorded) => Reply): this {
    this.routes.set(route, handler);
    return this;
  }

  /** Replies in order; the last one repeats. */
  sequence(route: string, replies: Reply[]): this {
    let index = 0;
    return this.on(route, () => replies[Math.min(index++, replies.length - 1)] as Reply);
  }

  reset(): void {
    this.requests.length = 0;
    this.routes.clear();
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

const site = new FakeScmSite();
let scmHost: string;
const zip = randomBytes(64 * 1024);

beforeAll(async () => {
  scmHost = await site.start();
});
afterEach(() => site.reset());
afterAll(() => site.stop());

function publish(overrides: Partial<Parameters<typeof publishPackage>[0]> = {}) {
  return publishPackage({
    scmHost,
    zip,
    getToken: async () => TOKEN,
    scheme: "http",
    pollIntervalMs: 1,
    ...overrides,
  });
}

const record = (status: number, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ id: "dep-1", status, complete: status === 3 || status === 4, ...extra });

describe("publishing a package through OneDeploy", () => {
  test("posts the zip intact to /api/publish with a bearer token and no remote build", async () => {
    site.on("POST /api/publish", () => ({ status: 200 }));
    await expect(publish()).resolves.toEqual({});
    expect(site.requests).toHaveLength(1);
    const [upload] = site.requests;
    expect(upload?.method).toBe("POST");
    expect(upload?.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(upload?.headers["content-type"]).toBe("application/zip");
    expect(upload?.query.get("RemoteBuild")).toBe("false");
    expect(upload?.body.equals(zip)).toBe(true);
  });

  test("waits for an accepted (202) deployment by polling its Location until it succeeds", async () => {
    site
      .on("POST /api/publish", () => ({ status: 202, headers: { Location: "/api/deployments/dep-1" } }))
      .sequence("GET /api/deployments/dep-1", [
        { status: 202, body: record(1) },
        { status: 202, body: record(2) },
        { status: 200, body: record(4) },
      ]);
    await expect(publish()).resolves.toEqual({ deploymentId: "dep-1" });
    const polls = site.requests.filter((request) => request.method === "GET");
    expect(polls).toHaveLength(3);
    for (const poll of polls) expect(poll.headers.authorization).toBe(`Bearer ${TOKEN}`);
  });

  test("does not follow a Location on another host: the token stays with the SCM host", async () => {
    const elsewhere = new FakeScmSite();
    const elsewhereHost = await elsewhere.start();
    try {
      site
        .on("POST /api/publish", () => ({
          status: 202,
          headers: { Location: `http://${elsewhereHost}/api/deployments/dep-1` },
          body: '"dep-1"',
        }))
        .sequence("GET /api/deployments/dep-1", [{ status: 200, body: record(4) }]);
      await expect(publish()).resolves.toEqual({ deploymentId: "dep-1" });
      expect(elsewhere.requests).toHaveLength(0);
      expect(site.requests.filter((request) => request.method === "GET")).toHaveLength(1);
    } finally {
      await elsewhere.stop();
    }
  });

  test("follows the deployment id the upload answers with when there is no Location", async () => {
    site
      .on("POST /api/publish", () => ({ status: 200, body: '"3f0c1b9e-8a4d-4f5e-9c61-2b7d0e5a9f14"' }))
      .sequence("GET /api/deployments/3f0c1b9e-8a4d-4f5e-9c61-2b7d0e5a9f14", [
        { status: 404, body: "Deployment not found" },
        { status: 200, body: record(0, { id: "3f0c1b9e-8a4d-4f5e-9c61-2b7d0e5a9f14" }) },
        { status: 200, body: record(4, { id: "3f0c1b9e-8a4d-4f5e-9c61-2b7d0e5a9f14" }) },
      ]);
    await expect(publish()).resolves.toEqual({ deploymentId: "3f0c1b9e-8a4d-4f5e-9c61-2b7d0e5a9f14" });
  });

  test("fails with the service's message when the deployment ends in failure", async () => {
    site
      .on("POST /api/publish", () => ({ status: 202, body: '"dep-1"' }))
      .sequence("GET /api/deployments/dep-1", [
        { status: 202, body: record(2) },
        {
          status: 200,
          body: record(3, { status_text: "App setting WEBSITE_RUN_FROM_PACKAGE is not supported." }),
        },
      ]);
    const error = await publish().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(PublishError);
    expect((error as Error).message).toContain(
      "failed: App setting WEBSITE_RUN_FROM_PACKAGE is not supported.",
    );
    expect((error as Error).message).toContain("/api/deployments/dep-1/log");
  });

  test("fails with the service's message, and never the token, when the upload is refused", async () => {
    site.on("POST /api/publish", (request) => ({
      status: 400,
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        Message: `The zip is not a valid package (request had ${request.headers.authorization}).`,
      }),
    }));
    const error = await publish().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(PublishError);
    const message = (error as Error).message;
    expect(message).toContain("HTTP 400: The zip is not a valid package");
    expect(message).not.toContain(TOKEN);
    expect(message).not.toContain("test-arm-token");
  });

  test("says which permission is missing when the SCM site refuses the identity", async () => {
    site.on("POST /api/publish", () => ({ status: 401, body: "Unauthorized" }));
    await expect(publish()).rejects.toThrow(/HTTP 401: Unauthorized .*Website Contributor/);
  });

  test("retries while the app's identity cannot yet write to its deployment storage", async () => {
    site.sequence("POST /api/publish", [
      { status: 400, body: "BlobUploadFailedException: 403 (This request is not authorized)" },
      { status: 400, body: "BlobUploadFailedException: 403 (This request is not authorized)" },
      { status: 202, body: record(4) },
    ]);
    await expect(publish()).resolves.toEqual({ deploymentId: "dep-1" });
    expect(site.requests.filter((request) => request.method === "POST")).toHaveLength(3);
  });

  test("gives up on a deployment that does not finish in time, naming where its status is", async () => {
    site
      .on("POST /api/publish", () => ({ status: 202, body: '"dep-1"' }))
      .on("GET /api/deployments/dep-1", () => ({ status: 202, body: record(2) }));
    await expect(publish({ timeoutMs: 30, pollIntervalMs: 5 })).rejects.toThrow(
      /did not finish in time; its status is at http:\/\/127\.0\.0\.1:\d+\/api\/deployments\/dep-1/,
    );
  });

  test("reports an unreachable SCM site by name", async () => {
    await expect(publish({ scmHost: "127.0.0.1:1" })).rejects.toThrow(/Could not reach 127\.0\.0\.1:1/);
  });
});

describe("deciding whether to publish", () => {
  const olds = {
    scmHost: "app.scm.example.net",
    packageSha256: "a".repeat(64),
    zipPath: "/ci/dist/function.zip",
  };

  test("a changed package hash is a change to publish", () => {
    expect(diffDeployment(olds, { ...olds, packageSha256: "b".repeat(64) }).changes).toBe(true);
  });

  test("the same package built in another folder is no change", () => {
    expect(diffDeployment(olds, { ...olds, zipPath: "/home/dev/valet/dist/function.zip" }).changes).toBe(
      false,
    );
  });

  test("a new app host is a change, since that app has no code yet", () => {
    expect(diffDeployment(olds, { ...olds, scmHost: "other.scm.example.net" }).changes).toBe(true);
  });

  test("the SCM host is the app's Repository host name", () => {
    const states = [
      { name: "valet-fn-abc.azurewebsites.net", hostType: "Standard" },
      { name: "valet-fn-abc.scm.azurewebsites.net", hostType: "Repository" },
    ];
    expect(scmHostOf(states)).toBe("valet-fn-abc.scm.azurewebsites.net");
    expect(() => scmHostOf([])).toThrow(/no SCM \(Repository\) host name/);
  });
});

describe("the dynamic provider as Pulumi runs it", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "valet-provider-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Serializes the provider the way pulumi.dynamic.Resource does and runs a script against it in a new node. */
  async function runSerialized(script: string): Promise<unknown> {
    const serialized = await pulumi.runtime.serializeFunction(() => oneDeployProvider, {
      allowSecrets: true,
    });
    const providerFile = path.join(dir, "provider.js");
    writeFileSync(providerFile, serialized.text);
    const output = execFileSync(
      process.execPath,
      ["-e", `const provider = require(${JSON.stringify(providerFile)}).handler();\n${script}`],
      {
        // The provider process resolves packages from the program's node_modules.
        env: { PATH: process.env.PATH ?? "", NODE_PATH: path.join(REPO_ROOT, "node_modules") },
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    return JSON.parse(output);
  }

  test("diffs in its own process: a new hash changes, the same hash does not", async () => {
    const result = await runSerialized(`
      (async () => {
        const olds = { scmHost: "h", packageSha256: "a", zipPath: "/x" };
        const changed = await provider.diff("id", olds, { ...olds, packageSha256: "b" });
        const same = await provider.diff("id", olds, { ...olds, zipPath: "/y" });
        process.stdout.write(JSON.stringify({ changed: changed.changes, same: same.changes }));
      })();`);
    expect(result).toEqual({ changed: true, same: false });
  });

  test("refuses in its own process to publish a zip whose bytes are not the registered ones", async () => {
    const zipPath = path.join(dir, "function.zip");
    writeFileSync(zipPath, "not the package that was hashed");
    const result = await runSerialized(`
      provider.create({ scmHost: "127.0.0.1:1", packageSha256: "${"0".repeat(64)}", zipPath: ${JSON.stringify(zipPath)} })
        .then(() => process.stdout.write(JSON.stringify({ created: true })),
              (error) => process.stdout.write(JSON.stringify({ error: error.message })));`);
    expect(result).toEqual({ error: expect.stringContaining("changed after the program built it") });
  });
});

describe("the FunctionDeployment component", () => {
  const registered: pulumi.runtime.MockResourceArgs[] = [];
  const SCM_HOST = "valet-fn-abc123.scm.westeurope-01.azurewebsites.net";

  beforeAll(() => {
    pulumi.runtime.setMocks(
      {
        newResource(args) {
          registered.push(args);
          const state =
            args.type === "azure-native:web:WebApp"
              ? {
                  ...args.inputs,
                  hostNameSslStates: [
                    { name: "valet-fn-abc123.westeurope-01.azurewebsites.net", hostType: "Standard" },
                    { name: SCM_HOST, hostType: "Repository" },
                  ],
                }
              : { ...args.inputs, deploymentId: "dep-mock" };
          return { id: `${args.name}-id`, state };
        },
        call(args) {
          throw new Error(`Unexpected invoke ${args.token}: mock it if the program needs it.`);
        },
      },
      "valet",
      "test",
      false,
    );
  });

  const settled = <T>(output: pulumi.Output<T>) => new Promise<T>((resolve) => output.apply(resolve));

  test("registers one OneDeploy publish whose inputs carry the package hash, the zip and the SCM host", async () => {
    const app = new web.WebApp("fn", { resourceGroupName: "rg-valet", kind: "functionapp,linux" });
    const functionPackage = {
      zip: Buffer.from("zip bytes"),
      sha256: "c0ffee".padEnd(64, "0"),
      bundleDir: "/build/function",
      zipPath: "/build/function.zip",
    };
    const deployment = new FunctionDeployment("code", {
      app,
      resourceGroupName: "rg-valet",
      package: functionPackage,
    });
    expect(await settled(deployment.packageSha256)).toBe(functionPackage.sha256);

    const component = registered.find((resource) => resource.type === "valet:deploy:FunctionDeployment");
    expect(component?.name).toBe("code");
    const publishes = registered.filter(
      (resource) => resource.type === "pulumi-nodejs:dynamic/valet:OneDeploy",
    );
    expect(publishes).toHaveLength(1);
    const inputs = publishes[0]?.inputs;
    expect(inputs).toMatchObject({
      packageSha256: functionPackage.sha256,
      zipPath: "/build/function.zip",
      scmHost: SCM_HOST,
      resourceGroupName: "rg-valet",
    });
    // The provider travels as serialized code: its publish path goes through OneDeploy with a bearer token.
    expect(inputs?.__provider).toContain("/api/publish");
    expect(inputs?.__provider).toContain("Bearer");
    expect(inputs?.__provider).not.toContain("publishingcredentials");
  });
});
