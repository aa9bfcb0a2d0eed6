// The ValetUploads component constructed directly, as another program does, under mocks: its arguments meet
// the stack config's rules and name themselves when refused, and a site origin known only once deployed
// joins the CORS rule.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import * as storage from "@pulumi/azure-native/storage";
import * as pulumi from "@pulumi/pulumi";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type ValetArtifacts, ValetUploads } from "../../infra/valetUploads";
import { azureInvokes, installMocks, type MocksRecord } from "../support/pulumiMocks.cjs";

const pageDir = mkdtempSync(path.join(tmpdir(), "valet-component-"));
writeFileSync(path.join(pageDir, "index.html"), "<!doctype html><title>page</title>");
afterAll(() => rmSync(pageDir, { recursive: true, force: true }));

/** Stand-ins for the built package and page: these tests are about the component's arguments. */
const artifacts: ValetArtifacts = {
  functionPackage: () => ({
    zip: Buffer.from("zip"),
    sha256: "ab".repeat(32),
    bundleDir: path.join(pageDir, "function"),
    zipPath: path.join(pageDir, "function.zip"),
  }),
  uploadPageDir: () => pageDir,
};
const WHERE = { resourceGroupName: "team-rg", location: "westeurope", artifacts } as const;

let record: MocksRecord;
beforeAll(async () => {
  record = await installMocks(pulumi, {
    project: "team",
    stack: "test",
    invokes: azureInvokes({ accountKey: Buffer.alloc(64, 0x22).toString("base64") }),
  });
});

const settled = <T>(output: pulumi.Output<T>) => new Promise<T>((resolve) => output.apply(resolve));

describe("ValetUploads's arguments", () => {
  test.each([
    [
      { tokenLifetimeMinutes: 1 },
      /^ValetUploads "bad" tokenLifetimeMinutes must be a whole number of minutes from 5 to 1440/,
    ],
    [{ photos: { quality: 0 } }, /^ValetUploads "bad" photos\.quality /],
    [
      { allowedOrigins: ["https://photos.example.com/upload"] },
      /^ValetUploads "bad" allowedOrigins: .* is not an origin/,
    ],
    [{ container: "verified" }, /^ValetUploads "bad" container must not be verified/],
    [
      {
        turnstile: { siteKey: "0x4AAAAAAAsite", secretKey: "0x4AAAAAAAsecretKeyValue" },
        auth: { issuer: "http://login.example.com", audiences: ["api://x"] },
      },
      /^ValetUploads "bad" auth\.issuer /,
    ],
  ])("a bad value is refused, naming the argument: %j", (options, message) => {
    expect(() => new ValetUploads("bad", { ...WHERE, ...options })).toThrow(message);
  });

  test("the defaults are the stack's, and a site origin known once deployed joins the configured ones", async () => {
    // The caller's own site: a static website's endpoint, with the trailing slash ARM reports.
    const site = new storage.StorageAccount("website", {
      resourceGroupName: "team-rg",
      kind: storage.Kind.StorageV2,
      sku: { name: storage.SkuName.Standard_LRS },
    });
    const valet = new ValetUploads("good", {
      ...WHERE,
      allowedOrigins: ["https://photos.example.com"],
      siteOrigin: site.primaryEndpoints.web,
      deployUploadPage: false,
    });
    const siteOrigin = `https://${await settled(site.name)}.z16.web.core.windows.net`;
    expect(await settled(valet.allowedOrigins)).toEqual(["https://photos.example.com", siteOrigin]);
    expect(await settled(valet.container)).toBe("images");
    expect(valet.uploadPageUrl).toBeUndefined();
    await settled(valet.functionAppName);
    const app = record.resources.find((resource) => resource.type === "azure-native:web:WebApp");
    expect(app?.inputs.resourceGroupName).toBe("team-rg");
  });
});
