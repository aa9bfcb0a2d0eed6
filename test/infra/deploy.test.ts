// Publishing the function through OneDeploy: against the local stand-in of the SCM site and its timing
// faults, as the serialized dynamic provider in its own process, and as the component under Pulumi mocks.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import * as pulumi from "@pulumi/pulumi";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { functionTable } from "../../function/functions";
import {
  checkDeployment,
  diffDeployment,
  FunctionDeployment,
  oneDeployProvider,
  scmHostOf,
} from "../../infra/deploy/deploy";
import { deployCredential } from "../../infra/deploy/deployCredential";
import { PublishError, publishPackage } from "../../infra/deploy/oneDeploy";
import { FunctionApp } from "../../infra/functionApp";
import { OneDeploySite, STORAGE_REFUSAL } from "../support/oneDeploySite";
import {
  azureInvokes,
  azureState,
  installMocks,
  type MocksRecord,
  SUBSCRIPTION_ID,
} from "../support/pulumiMocks.cjs";

const REPO_ROOT = path.resolve(__dirname, "../..");
const execFileAsync = promisify(execFile);
const TOKEN = "eyJ0eXAiOiJKV1QifQ.test-arm-token.signature";

const site = new OneDeploySite();
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
    retryDelayMs: 1,
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
    const elsewhere = new OneDeploySite();
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

describe("publishing through the platform's timing faults", () => {
  const uploads = () => site.requests.filter((request) => request.method === "POST");

  test("publishes again while the app's storage role is not yet effective, until a deployment succeeds", async () => {
    site.behave({ storageRefusals: 2 });
    await expect(publish()).resolves.toEqual({ deploymentId: "deployment-3" });
    expect(uploads()).toHaveLength(3);
    for (const upload of uploads()) expect(upload.body.equals(zip)).toBe(true);
  });

  test("recognises the storage refusal when only the deployment's log names it", async () => {
    site.behave({ storageRefusals: 1, refusalReportedIn: "log" });
    await expect(publish()).resolves.toEqual({ deploymentId: "deployment-2" });
    expect(uploads()).toHaveLength(2);
  });

  test("stops publishing again once the window has passed, with the service's message", async () => {
    site.behave({ storageRefusals: Number.POSITIVE_INFINITY });
    const error = await publish({ storageRetryMs: 20 }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(PublishError);
    const message = (error as Error).message;
    expect(message).toContain("still could not write to the app's deployment storage");
    expect(message).toContain("403 (This request is not authorized to perform this operation.)");
    expect(message).toContain("Storage Blob Data Owner");
    expect(message).not.toContain(TOKEN);
  });

  test("takes a 404 after the deployment's record was seen as the finished deployment's recycled worker", async () => {
    site.behave({ forgetAfterProgress: true });
    await expect(publish()).resolves.toEqual({ deploymentId: "deployment-1" });
    expect(uploads()).toHaveLength(1);
  });

  test("fails at once on a cancelled deployment, without publishing again, whatever its log says", async () => {
    site.behave({ cancel: true }).on("GET /api/deployments/deployment-1/log", () => ({
      status: 200,
      body: JSON.stringify([{ id: "0", message: STORAGE_REFUSAL, type: 0 }]),
    }));
    await expect(publish()).rejects.toThrow(
      /deployment to 127\.0\.0\.1:\d+ was cancelled: Deployment was cancelled\. Logs: /,
    );
    expect(uploads()).toHaveLength(1);
  });

  test("retries requests the SCM site answers with 503", async () => {
    site.behave({ unavailable: 3 });
    await expect(publish()).resolves.toEqual({ deploymentId: "deployment-1" });
    expect(site.deployments).toHaveLength(1);
    expect(uploads()).toHaveLength(4);
  });

  test("retries requests whose connection is reset", async () => {
    site.behave({ resets: 2 });
    await expect(publish()).resolves.toEqual({ deploymentId: "deployment-1" });
    expect(site.deployments).toHaveLength(1);
  });

  test("retries status polls the SCM site answers with 503 or cuts off, after the upload was accepted", async () => {
    site.behave({ unavailable: 2, resets: 1, faultsOn: "polls" });
    await expect(publish()).resolves.toEqual({ deploymentId: "deployment-1" });
    expect(uploads()).toHaveLength(1);
    const polls = site.requests.filter((request) => request.path === "/api/deployments/deployment-1");
    // Three faulted polls, then the one in progress and the one with the outcome.
    expect(polls).toHaveLength(5);
  });

  test("waits as long as a 503's Retry-After asks before asking again", async () => {
    site.behave({ unavailable: 1, faultsOn: "polls", retryAfterSeconds: 1 });
    await expect(publish()).resolves.toEqual({ deploymentId: "deployment-1" });
    const [refused, retried] = site.requests.filter(
      (request) => request.path === "/api/deployments/deployment-1",
    );
    // retryDelayMs is 1 ms here, so only the header can account for a pause of a second.
    expect((retried?.receivedAt ?? 0) - (refused?.receivedAt ?? 0)).toBeGreaterThanOrEqual(990);
  });

  test("reports a site that stays unavailable with its status once the retries are spent", async () => {
    site.behave({ unavailable: 100 });
    await expect(publish({ transientRetries: 2 })).rejects.toThrow(
      /failed with HTTP 503: Service Unavailable/,
    );
    expect(uploads()).toHaveLength(3);
  });

  test("does not retry an upload the SCM site refuses for the deploying identity (403)", async () => {
    site.on("POST /api/publish", () => ({ status: 403, body: "403 Forbidden" }));
    await expect(publish()).rejects.toThrow(/HTTP 403: 403 Forbidden .*Website Contributor/);
    expect(uploads()).toHaveLength(1);
  });

  test("does not publish over a deployment already in progress (409), and says where its status is", async () => {
    site.on("POST /api/publish", () => ({
      status: 409,
      body: "There is a deployment currently in progress.",
    }));
    await expect(publish()).rejects.toThrow(
      /HTTP 409: There is a deployment currently in progress\. \(another deployment is in progress: its status is at http:\/\/127\.0\.0\.1:\d+\/api\/deployments\/latest/,
    );
    expect(uploads()).toHaveLength(1);
  });

  test("never repeats a bearer token in the storage refusal it reports", async () => {
    site.behave({ storageRefusals: Number.POSITIVE_INFINITY });
    const leaky = `${STORAGE_REFUSAL} Bearer ${TOKEN}`;
    site.on("GET /api/deployments/deployment-1", () => ({
      status: 200,
      body: JSON.stringify({ id: "deployment-1", status: 3, complete: true, status_text: leaky }),
    }));
    const error = await publish({ storageRetryMs: 0 }).catch((caught: unknown) => caught);
    expect((error as Error).message).toContain("403 (This request is not authorized");
    expect((error as Error).message).not.toContain("test-arm-token");
  });
});

describe("making the platform know the functions after a publish", () => {
  const SITE_ID = "/subscriptions/sub-1/resourceGroups/rg-1/providers/Microsoft.Web/sites/valet-app";
  const FUNCTIONS = ["credentials", "uploadStatus", "validateUpload"];
  const withSync = (timeoutMs = 1_000) =>
    publish({
      sync: { resourceManager: `http://${scmHost}/`, siteId: SITE_ID, functionNames: FUNCTIONS, timeoutMs },
    });
  const armCalls = () =>
    site.requests
      .filter((request) => request.path.startsWith(SITE_ID))
      .map((request) => `${request.method} ${request.path.slice(SITE_ID.length)}`);

  test("syncs the triggers through ARM once the deployment succeeded, and is done when every function is listed", async () => {
    site.behave({ functions: FUNCTIONS });
    await expect(withSync()).resolves.toEqual({ deploymentId: "deployment-1" });
    expect(armCalls()).toEqual(["POST /syncfunctiontriggers", "GET /functions"]);
    const sync = site.requests.find((request) => request.path.endsWith("/syncfunctiontriggers"));
    expect(sync?.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(sync?.query.get("api-version")).toBe("2024-04-01");
    // Only after the deployment's record said it succeeded.
    const paths = site.requests.map((request) => request.path);
    const lastPoll = paths.map((path) => path.startsWith("/api/deployments/")).lastIndexOf(true);
    expect(lastPoll).toBeGreaterThan(0);
    expect(lastPoll).toBeLessThan(paths.indexOf(`${SITE_ID}/syncfunctiontriggers`));
  });

  test("syncs again while the functions are listed late, until they all are", async () => {
    site.behave({ functions: FUNCTIONS, syncsBeforeListed: 2 });
    await expect(withSync()).resolves.toEqual({ deploymentId: "deployment-1" });
    expect(site.syncs).toBe(3);
    expect(armCalls().filter((call) => call === "GET /functions")).toHaveLength(3);
  });

  test("fails the publish, naming the functions never listed, once the wait is over", async () => {
    site.behave({ functions: FUNCTIONS, neverListed: ["validateUpload"] });
    const failure = await withSync(50).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(PublishError);
    expect((failure as Error).message).toMatch(
      /still does not list validateUpload: an unsynced queue trigger/,
    );
    expect((failure as Error).message).not.toContain("credentials");
    expect(site.syncs).toBeGreaterThan(1);
  });

  test("says which permission is missing when ARM refuses the sync, without retrying it", async () => {
    site.behave({ functions: FUNCTIONS });
    site.on(`POST ${SITE_ID}/syncfunctiontriggers`, () => ({
      status: 403,
      body: JSON.stringify({ error: { code: "AuthorizationFailed", message: "no sync for you" } }),
    }));
    await expect(withSync()).rejects.toThrow(/failed with HTTP 403: no sync for you .*Website Contributor/);
    expect(armCalls()).toEqual(["POST /syncfunctiontriggers"]);
  });

  test("retries a sync and a list ARM answers with 503, as the publish's requests are", async () => {
    site.behave({ functions: FUNCTIONS });
    let syncs = 0;
    site.on(`POST ${SITE_ID}/syncfunctiontriggers`, () => {
      if (syncs++ === 0) return { status: 503 };
      site.syncs++;
      return { status: 200 };
    });
    await expect(withSync()).resolves.toEqual({ deploymentId: "deployment-1" });
    expect(armCalls()).toEqual([
      "POST /syncfunctiontriggers",
      "POST /syncfunctiontriggers",
      "GET /functions",
    ]);
  });
});

describe("checking what the publish waits for", () => {
  const valid = {
    scmHost: "valet.scm.azurewebsites.net",
    packageSha256: "a".repeat(64),
    zipPath: "/build/function.zip",
    siteId: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Web/sites/valet",
    functionNames: ["credentials"],
  };

  test("takes the app's resource id and the package's function names", () => {
    expect(checkDeployment(valid)).toEqual([]);
  });

  test.each([
    [{ siteId: "valet" }, "siteId"],
    [{ functionNames: [] }, "functionNames"],
    [{ functionNames: ["credentials", ""] }, "functionNames"],
  ])("%j is refused, naming the property", (change, property) => {
    expect(checkDeployment({ ...valid, ...change }).map((failure) => failure.property)).toEqual([property]);
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

  /**
   * Serializes what `capture` returns the way pulumi.dynamic.Resource serializes its provider, and runs a
   * script against it (as `provider`) in a new node process, without blocking this one (the stand-ins
   * answer from here).
   */
  async function runSerialized(
    script: string,
    capture: () => unknown = () => oneDeployProvider,
  ): Promise<unknown> {
    const serialized = await pulumi.runtime.serializeFunction(capture, { allowSecrets: true });
    const providerFile = path.join(dir, `provider-${randomBytes(4).toString("hex")}.js`);
    writeFileSync(providerFile, serialized.text);
    const { stdout } = await execFileAsync(
      process.execPath,
      ["-e", `const provider = require(${JSON.stringify(providerFile)}).handler();\n${script}`],
      // The provider process resolves packages from the program's node_modules.
      {
        env: { PATH: process.env.PATH ?? "", NODE_PATH: path.join(REPO_ROOT, "node_modules") },
        encoding: "utf8",
      },
    );
    return JSON.parse(stdout);
  }

  test("checks its inputs in its own process, naming each bad one and letting unknown ones pass", async () => {
    const result = await runSerialized(`
      (async () => {
        const bad = await provider.check({}, { scmHost: "https://app.scm.azurewebsites.net/", packageSha256: "abc", zipPath: "" });
        const unknown = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
        const pending = await provider.check({}, { scmHost: unknown, packageSha256: unknown, zipPath: "/dist/function.zip" });
        const good = await provider.check({}, { scmHost: "valet-fn-abc.scm.westeurope-01.azurewebsites.net", packageSha256: "${"a".repeat(64)}", zipPath: "/dist/function.zip" });
        process.stdout.write(JSON.stringify({ bad: bad.failures, pending: pending.failures, good: good.failures, inputs: good.inputs.zipPath }));
      })();`);
    expect(result).toEqual({
      bad: [
        { property: "scmHost", reason: expect.stringContaining("scmHost must be the app's SCM host name") },
        { property: "packageSha256", reason: expect.stringContaining("64 lowercase hex digits") },
        {
          property: "zipPath",
          reason: expect.stringContaining("zipPath must name the function package's zip"),
        },
      ],
      pending: [],
      good: [],
      inputs: "/dist/function.zip",
    });
  });

  test("publishes in its own process through a storage refusal, as the serialized provider code does", async () => {
    site.behave({ storageRefusals: 1 });
    const result = await runSerialized(
      `
      provider.publishPackage({ scmHost: ${JSON.stringify(scmHost)}, scheme: "http", zip: new Uint8Array([1, 2, 3]),
        getToken: async () => "token", pollIntervalMs: 1, retryDelayMs: 1 })
        .then((outcome) => process.stdout.write(JSON.stringify(outcome)),
              (error) => process.stdout.write(JSON.stringify({ error: error.message })));`,
      () => ({ publishPackage }),
    );
    expect(result).toEqual({ deploymentId: "deployment-2" });
    expect(site.deployments).toHaveLength(2);
  });

  test("chooses its credential in its own process: GitHub OIDC in Actions, for the configured cloud", async () => {
    const env = {
      ACTIONS_ID_TOKEN_REQUEST_URL: "https://token.actions.example/?x=1",
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: "request-token",
      ARM_CLIENT_ID: "00000000-0000-0000-0000-000000000001",
      ARM_TENANT_ID: "00000000-0000-0000-0000-000000000002",
      ARM_ENVIRONMENT: "usgovernment",
    };
    const result = await runSerialized(
      `
      const chosen = provider.deployCredential(${JSON.stringify(env)});
      process.stdout.write(JSON.stringify({ source: chosen.source, scope: chosen.scope, kind: chosen.credential.constructor.name }));`,
      () => ({ deployCredential }),
    );
    expect(result).toEqual({
      source: "GitHub OIDC",
      scope: "https://management.core.usgovcloudapi.net//.default",
      kind: "ClientAssertionCredential",
    });
  });

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
  let record: MocksRecord;
  const byName = (type: string, name: string) =>
    record.resources.find((resource) => resource.type === type && resource.name === name);

  const settled = <T>(output: pulumi.Output<T>) => new Promise<T>((resolve) => output.apply(resolve));
  const functionPackage = {
    zip: Buffer.from("zip bytes"),
    sha256: "c0ffee".padEnd(64, "0"),
    bundleDir: "/build/function",
    zipPath: "/build/function.zip",
  };
  let deployment: FunctionDeployment;

  beforeAll(async () => {
    record = await installMocks(pulumi, {
      project: "valet",
      stack: "test",
      state: (type, name, inputs) =>
        type === "pulumi-nodejs:dynamic/valet:OneDeploy"
          ? { deploymentId: "dep-mock" }
          : azureState(type, name, inputs),
      invokes: azureInvokes({ accountKey: Buffer.alloc(64, 0x11).toString("base64") }),
    });
    const functionApp = new FunctionApp("valetfn", {
      resourceGroupName: "rg-valet",
      location: "westeurope",
      appSettings: {},
      allowedOrigins: ["https://photos.example.com"],
      maximumInstanceCount: 40,
      instanceMemoryMB: 2048,
      applicationInsightsConnectionString: "InstrumentationKey=k",
    });
    deployment = new FunctionDeployment("code", {
      functionApp,
      resourceGroupName: "rg-valet",
      package: functionPackage,
    });
    // Resolves once the publish is registered, which waits for the URNs of all it depends on.
    await settled(deployment.packageSha256);
  });

  test("registers one OneDeploy publish whose inputs carry the package hash, the zip and the SCM host", async () => {
    expect(await settled(deployment.packageSha256)).toBe(functionPackage.sha256);

    expect(byName("valet:deploy:FunctionDeployment", "code")).toBeDefined();
    const publishes = record.resources.filter(
      (resource) => resource.type === "pulumi-nodejs:dynamic/valet:OneDeploy",
    );
    expect(publishes).toHaveLength(1);
    const inputs = publishes[0]?.inputs;
    const app = byName("azure-native:web:WebApp", "valetfn");
    expect(inputs).toMatchObject({
      packageSha256: functionPackage.sha256,
      zipPath: "/build/function.zip",
      scmHost: `${String(app?.state.name)}.scm.azurewebsites.net`,
      resourceGroupName: "rg-valet",
      // The app's id, as the mocks make it.
      siteId: `/subscriptions/${SUBSCRIPTION_ID}/mock/azure-native:web:WebApp/${String(app?.state.name)}`,
      functionNames: [...Object.keys(functionTable.http), ...Object.keys(functionTable.storageQueue)],
    });
    // The provider travels as serialized code: its publish path goes through OneDeploy with a bearer token,
    // then syncs the triggers through ARM.
    expect(inputs?.__provider).toContain("syncfunctiontriggers");
    expect(inputs?.__provider).toContain("/api/publish");
    expect(inputs?.__provider).toContain("Bearer");
    expect(inputs?.__provider).not.toContain("publishingcredentials");
  });

  test("publishes only after the app's identity holds its role on the deployment storage, and after the app", () => {
    const waitsFor = byName("pulumi-nodejs:dynamic/valet:OneDeploy", "code-onedeploy")?.dependencies ?? [];
    const roleAssignment = byName(
      "azure-native:authorization:RoleAssignment",
      "valetfn-runtime-blob-owner",
    )?.urn;
    const app = byName("azure-native:web:WebApp", "valetfn")?.urn;
    expect(roleAssignment).toMatch(/azure-native:authorization:RoleAssignment::valetfn-runtime-blob-owner$/);
    expect(app).toMatch(/azure-native:web:WebApp::valetfn$/);
    expect(waitsFor).toEqual(expect.arrayContaining([roleAssignment, app]));
  });
});
