// The upload page's resources under mocks: the static website, one blob per built file, the stack's
// config.json, and the page's URL from the account's own endpoint.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { siteFiles, UploadPage } from "../../infra/site";
import type { PageConfig } from "../../web/config";
import { installMocks, type MocksRecord, type RecordedResource } from "../support/pulumiMocks.cjs";

const WEB_ENDPOINT = "https://valetuploads1234.z6.web.core.windows.net/";
let registered: RecordedResource[] = [];
let invokes: MocksRecord["invokes"] = [];

beforeAll(async () => {
  // The page's own lookup is the only invoke; its answer names this test's endpoint.
  ({ resources: registered, invokes } = await installMocks(pulumi, {
    project: "valet",
    stack: "test",
    invokes: {
      "azure-native:storage:getStorageAccount": (inputs) => ({
        name: inputs.accountName,
        primaryEndpoints: { blob: "https://valetuploads1234.blob.core.windows.net/", web: WEB_ENDPOINT },
      }),
    },
  }));
});

const settled = <T>(output: pulumi.Output<T>) => new Promise<T>((resolve) => output.apply(resolve));

const CONFIG: PageConfig = {
  apiUrl: "https://valet-fn-abc123.azurewebsites.net/api/credentials",
  allowedContentTypes: ["image/jpeg", "image/png"],
  extensions: { "image/jpeg": "jpg", "image/png": "png" },
  maxUploadBytes: 52_428_800,
  blockSizeBytes: 4 * 1024 * 1024,
  concurrency: 4,
};

let siteDir: string;

beforeAll(() => {
  siteDir = mkdtempSync(path.join(tmpdir(), "valet-site-"));
  writeFileSync(path.join(siteDir, "index.html"), "<!doctype html><title>Upload</title>");
  writeFileSync(path.join(siteDir, "app.js"), "console.log('upload');");
  writeFileSync(path.join(siteDir, "styles.css"), "body { margin: 0 }");
  mkdirSync(path.join(siteDir, "icons"));
  writeFileSync(path.join(siteDir, "icons", "upload.svg"), "<svg/>");
  // Left by a local run: must not be deployed in place of the stack's own config.
  writeFileSync(path.join(siteDir, "config.json"), '{"apiUrl":"http://127.0.0.1:7071/api/credentials"}');
});

afterAll(() => rmSync(siteDir, { recursive: true, force: true }));

async function deployPage() {
  registered.length = 0;
  const page = new UploadPage("page", {
    resourceGroupName: "rg-valet",
    accountName: "valetuploads1234",
    config: CONFIG,
    siteDir,
  });
  const url = await settled(page.url);
  const origin = await settled(page.origin);
  // Registrations finish asynchronously: wait (bounded) until the four files and config.json are registered.
  const blobCount = () =>
    registered.filter((resource) => resource.type === "azure-native:storage:Blob" && resource.urn).length;
  for (let turn = 0; turn < 1000 && blobCount() < 5; turn++)
    await new Promise((resolve) => setImmediate(resolve));
  const blobs = registered.filter((resource) => resource.type === "azure-native:storage:Blob");
  const byName = new Map(blobs.map((blob) => [blob.inputs.blobName as string, blob]));
  return { url, origin, blobs, byName };
}

describe("the upload page in Azure", () => {
  test("enables the static website on the account with index.html as its index", async () => {
    await deployPage();
    const websites = registered.filter(
      (resource) => resource.type === "azure-native:storage:StorageAccountStaticWebsite",
    );
    expect(websites).toHaveLength(1);
    expect(websites[0]?.inputs).toMatchObject({
      accountName: "valetuploads1234",
      resourceGroupName: "rg-valet",
      indexDocument: "index.html",
    });
  });

  test("uploads one blob per file into $web, named by its path, with the file's content type", async () => {
    const { blobs, byName } = await deployPage();
    expect([...byName.keys()].sort()).toEqual([
      "app.js",
      "config.json",
      "icons/upload.svg",
      "index.html",
      "styles.css",
    ]);
    expect(blobs).toHaveLength(5);
    for (const blob of blobs) {
      expect(blob.inputs).toMatchObject({
        containerName: "$web",
        accountName: "valetuploads1234",
        resourceGroupName: "rg-valet",
      });
    }
    const typeOf = (name: string) => byName.get(name)?.inputs.contentType;
    expect(typeOf("index.html")).toBe("text/html; charset=utf-8");
    expect(typeOf("app.js")).toBe("text/javascript; charset=utf-8");
    expect(typeOf("styles.css")).toBe("text/css; charset=utf-8");
    expect(typeOf("icons/upload.svg")).toBe("image/svg+xml");
    expect(typeOf("config.json")).toBe("application/json");
  });

  test("every blob waits for the website by taking its container name from it", async () => {
    const { blobs } = await deployPage();
    const website = registered.find(
      (resource) => resource.type === "azure-native:storage:StorageAccountStaticWebsite",
    );
    expect(website?.urn).toBeDefined();
    for (const blob of blobs) {
      expect(blob.propertyDependencies?.containerName).toEqual([website?.urn]);
    }
  });

  test("each page file's blob has that file as its content, so a changed file updates only its blob", async () => {
    const { byName } = await deployPage();
    for (const file of ["index.html", "app.js", "styles.css", "icons/upload.svg"]) {
      const blob = byName.get(file);
      expect(blob?.name).toBe(`page-${file}`);
      const source = blob?.inputs.source as pulumi.asset.FileAsset;
      expect(source).toBeInstanceOf(pulumi.asset.FileAsset);
      expect(await source.path).toBe(path.join(siteDir, file));
    }
  });

  test("config.json holds exactly the stack's page config, not the folder's", async () => {
    const { byName } = await deployPage();
    const source = byName.get("config.json")?.inputs.source as pulumi.asset.StringAsset;
    expect(source).toBeInstanceOf(pulumi.asset.StringAsset);
    expect(JSON.parse(await source.text)).toEqual(CONFIG);
  });

  test("the page's URL is the account's web endpoint, looked up from its name and group", async () => {
    invokes.length = 0;
    const { url, origin } = await deployPage();
    expect(url).toBe(WEB_ENDPOINT);
    expect(origin).toBe("https://valetuploads1234.z6.web.core.windows.net");
    expect(invokes.map((call) => [call.token, call.inputs])).toEqual([
      [
        "azure-native:storage:getStorageAccount",
        { accountName: "valetuploads1234", resourceGroupName: "rg-valet" },
      ],
    ]);
  });
});

describe("reading the built page", () => {
  test("refuses a folder without the page, naming it", () => {
    const missing = path.join(siteDir, "nope");
    expect(() => siteFiles(missing)).toThrow(`The upload page's folder ${missing} does not exist`);
    // A RunError: a preview shows the message alone, without a stack trace.
    expect(() => siteFiles(missing)).toThrow(pulumi.RunError);
    const empty = mkdtempSync(path.join(tmpdir(), "valet-empty-"));
    try {
      expect(() => siteFiles(empty)).toThrow(/has no index\.html: build the page first/);
      expect(() => siteFiles(empty)).toThrow(pulumi.RunError);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  test("refuses a file whose content type it does not know instead of serving it as bytes", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "valet-odd-"));
    try {
      writeFileSync(path.join(dir, "index.html"), "<!doctype html>");
      writeFileSync(path.join(dir, "data.bin"), "??");
      expect(
        () =>
          new UploadPage("odd", {
            resourceGroupName: "rg",
            accountName: "acct",
            config: CONFIG,
            siteDir: dir,
          }),
      ).toThrow(/"data\.bin", whose content type is unknown/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
