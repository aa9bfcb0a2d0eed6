// The Pulumi program under mocks: what it would ask Azure for, resource by resource, and what it exports.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import { parseOutcomesTable } from "../../function/checking/outcomes";
import { SETTING } from "../../function/contract/appSettings";
import {
  MAX_IMAGE_PIXELS_BOUNDS,
  OUTCOMES_TABLE,
  UPLOADS_CREATED_POISON_QUEUE,
  UPLOADS_CREATED_QUEUE,
  VALIDATION_QUEUE_SERVICE_URI,
  VALIDATION_TABLE_SERVICE_URI,
} from "../../function/contract/check";
import { IMAGE_EXTENSIONS } from "../../function/contract/issuanceLimits";
import { LIMITS_TABLE, LIMITS_TABLE_SERVICE_URI, parseLimitSettings } from "../../function/contract/limits";
import { createInstance } from "../../function/platform/instance";
import { parseConnectionString, parseSettings } from "../../function/platform/settings";
import { blobCorsRule } from "../../infra/cors";
import {
  FLEX_REFUSED_APP_SETTINGS,
  FLEX_REFUSED_SITE_CONFIG,
  FLEX_REFUSED_SITE_PROPERTIES,
  names,
  ROLE,
} from "../../infra/platformRules";
import { checkAccountBaseName } from "../../infra/storage";
import { DEFAULT_UPLOAD_TUNING } from "../../web/config";
import {
  appSettings,
  inPlaintext,
  isSecretValue,
  MOCK_ACCOUNT_KEY,
  MOCK_SECOND_KEY,
  only,
  type ProgramRun,
  type RecordedResource,
  reveal,
  runProgram,
  STACK_OUTPUTS,
  SUBSCRIPTION_ID,
} from "./harness";

const STORAGE_ACCOUNT = "azure-native:storage:StorageAccount";
const BLOB_CONTAINER = "azure-native:storage:BlobContainer";
const BLOB_SERVICE = "azure-native:storage:BlobServiceProperties";
const WEB_APP = "azure-native:web:WebApp";
const PLAN = "azure-native:web:AppServicePlan";
const ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment";
const TABLE = "azure-native:storage:Table";
const BUDGET = "azure-native:consumption:Budget";
const QUEUE = "azure-native:storage:Queue";
const SYSTEM_TOPIC = "azure-native:eventgrid:SystemTopic";
const EVENT_SUBSCRIPTION = "azure-native:eventgrid:SystemTopicEventSubscription";
const MANAGEMENT_POLICY = "azure-native:storage:ManagementPolicy";
const roleDefinition = (id: string) =>
  `/subscriptions/${SUBSCRIPTION_ID}/providers/Microsoft.Authorization/roleDefinitions/${id}`;

const SITE_ORIGIN = "https://photos.example.com";

const uploadsAccount = (run: ProgramRun) => only(run, STORAGE_ACCOUNT, "uploads");
const runtimeAccount = (run: ProgramRun) => only(run, STORAGE_ACCOUNT, "credentials");
const functionApp = (run: ProgramRun) => only(run, WEB_APP);
const nameOf = (resource: RecordedResource) => resource.state.name as string;
const idOf = (resource: RecordedResource) =>
  `/subscriptions/${SUBSCRIPTION_ID}/mock/${resource.type}/${nameOf(resource)}`;
const output = (run: ProgramRun, name: string) => run.outputs[name] as { value: unknown; secret: boolean };
const siteConfig = (run: ProgramRun) =>
  reveal(functionApp(run).inputs.siteConfig) as {
    cors: { allowedOrigins: string[]; supportCredentials: boolean };
    [key: string]: unknown;
  };
const publish = (run: ProgramRun) =>
  only(run, "pulumi-nodejs:dynamic/valet:OneDeploy", "credentials-onedeploy");
const pageBlobs = (run: ProgramRun) => run.resources.filter((r) => r.type === "azure-native:storage:Blob");
const pageBlob = (run: ProgramRun, blobName: string) => {
  const found = pageBlobs(run).find((blob) => blob.inputs.blobName === blobName);
  if (!found) throw new Error(`no blob named ${blobName}`);
  return found;
};
const corsRules = (run: ProgramRun) =>
  (only(run, BLOB_SERVICE).inputs.cors as { corsRules: Record<string, unknown>[] }).corsRules;

describe("with the default config", () => {
  let run: ProgramRun;
  beforeAll(async () => {
    run = await runProgram({ allowedOrigins: SITE_ORIGIN });
  });

  test("the uploads account is StorageV2, HTTPS only, TLS 1.2, without public blob access, with shared keys for signing", () => {
    expect(uploadsAccount(run).inputs).toMatchObject({
      kind: "StorageV2",
      enableHttpsTrafficOnly: true,
      minimumTlsVersion: "TLS1_2",
      allowBlobPublicAccess: false,
      allowSharedKeyAccess: true,
    });
  });

  test("the runtime account refuses shared keys and public access: the app reaches it with its identity", () => {
    expect(runtimeAccount(run).inputs).toMatchObject({
      kind: "StorageV2",
      enableHttpsTrafficOnly: true,
      minimumTlsVersion: "TLS1_2",
      allowBlobPublicAccess: false,
      allowSharedKeyAccess: false,
    });
  });

  test("the images container is private and lives in the uploads account", () => {
    const container = only(run, BLOB_CONTAINER, "uploads");
    expect(container.inputs).toMatchObject({
      containerName: "images",
      publicAccess: "None",
      accountName: nameOf(uploadsAccount(run)),
    });
  });

  test("blob and container soft delete are on with the default retention of 7 days", () => {
    expect(only(run, BLOB_SERVICE).inputs).toMatchObject({
      accountName: nameOf(uploadsAccount(run)),
      deleteRetentionPolicy: { enabled: true, days: 7 },
      containerDeleteRetentionPolicy: { enabled: true, days: 7 },
    });
  });

  test("the blob CORS rule is the shared rule for the configured origins plus the upload page's origin", () => {
    const website = `https://${nameOf(uploadsAccount(run))}.z16.web.core.windows.net`;
    expect(corsRules(run)).toEqual([blobCorsRule([SITE_ORIGIN, website])]);
  });

  test("the Function App's platform CORS allows exactly the origins of the blob CORS rule, without credentials", () => {
    expect(siteConfig(run).cors).toEqual({
      allowedOrigins: corsRules(run)[0]?.allowedOrigins,
      supportCredentials: false,
    });
  });

  test("the plan is Flex Consumption (FC1) on Linux", () => {
    expect(only(run, PLAN).inputs).toMatchObject({
      kind: "functionapp",
      sku: { name: "FC1", tier: "FlexConsumption" },
      reserved: true,
    });
    expect(functionApp(run).inputs.serverFarmId).toBe(idOf(only(run, PLAN)));
  });

  test("the Function App runs Node 22 on Linux, HTTPS only, TLS 1.2, with a system-assigned identity", () => {
    const app = functionApp(run).inputs;
    expect(app).toMatchObject({
      kind: "functionapp,linux",
      httpsOnly: true,
      identity: { type: "SystemAssigned" },
      functionAppConfig: { runtime: { name: "node", version: "22" } },
    });
    expect(siteConfig(run)).toMatchObject({ minTlsVersion: "1.2", scmMinTlsVersion: "1.2" });
  });

  test("the site sends only the siteConfig it writes: none of the SDK's defaults, nothing Flex refuses", () => {
    const sent = functionApp(run).inputs;
    expect(Object.keys(siteConfig(run)).sort()).toEqual([
      "appSettings",
      "cors",
      "http20Enabled",
      "minTlsVersion",
      "scmMinTlsVersion",
    ]);
    const refusedInSiteConfig = names(FLEX_REFUSED_SITE_CONFIG);
    expect(Object.keys(siteConfig(run)).filter((key) => refusedInSiteConfig.has(key.toLowerCase()))).toEqual(
      [],
    );
    const refusedOnSite = names(FLEX_REFUSED_SITE_PROPERTIES);
    expect(Object.keys(sent).filter((key) => refusedOnSite.has(key.toLowerCase()))).toEqual([]);
    expect(sent).not.toHaveProperty("isXenon");
    const refusedSettings = names(FLEX_REFUSED_APP_SETTINGS);
    expect(
      Object.keys(appSettings(functionApp(run))).filter((key) => refusedSettings.has(key.toLowerCase())),
    ).toEqual([]);
  });

  test("basic publishing credentials are off for the SCM site, and no FTP policy is sent to a Flex app", () => {
    expect(only(run, "azure-native:web:WebAppScmAllowed").inputs).toMatchObject({
      name: nameOf(functionApp(run)),
      allow: false,
    });
    expect(run.resources.filter((r) => r.type === "azure-native:web:WebAppFtpAllowed")).toEqual([]);
  });

  test("the instance count is capped and the instance size set (defaults 40 and 2048 MB)", () => {
    expect(functionApp(run).inputs.functionAppConfig).toMatchObject({
      scaleAndConcurrency: { maximumInstanceCount: 40, instanceMemoryMB: 2048 },
    });
  });

  test("the package is deployed to a private container of the runtime account, read with the app's identity", () => {
    const deployment = only(run, BLOB_CONTAINER, "credentials");
    expect(deployment.inputs).toMatchObject({
      accountName: nameOf(runtimeAccount(run)),
      publicAccess: "None",
    });
    expect(functionApp(run).inputs.functionAppConfig).toMatchObject({
      deployment: {
        storage: {
          type: "blobContainer",
          value: `https://${nameOf(runtimeAccount(run))}.blob.core.windows.net/${deployment.inputs.containerName}`,
          authentication: { type: "SystemAssignedIdentity" },
        },
      },
    });
  });

  test("the runtime account and deployment container are named after the component, answering to their old names", () => {
    expect(runtimeAccount(run).aliases).toEqual(["runtime"]);
    expect(only(run, BLOB_CONTAINER, "credentials").aliases).toEqual(["deployment"]);
  });

  test("the app's identity is Storage Blob Data Owner on the runtime account, and on nothing else", () => {
    const assignment = only(run, ROLE_ASSIGNMENT, "credentials-runtime-blob-owner");
    expect(assignment.inputs).toEqual({
      scope: idOf(runtimeAccount(run)),
      principalId: (functionApp(run).state.identity as { principalId: string }).principalId,
      principalType: "ServicePrincipal",
      roleDefinitionId: `/subscriptions/${SUBSCRIPTION_ID}/providers/Microsoft.Authorization/roleDefinitions/b7e6dc6d-f1e8-4753-8033-0f276bb0955b`,
    });
  });

  test("the limits' table is on the runtime account, and the app's identity is Storage Table Data Contributor on that table alone", () => {
    const table = only(run, TABLE, "credentials-limits");
    expect(table.inputs).toEqual({
      resourceGroupName: nameOf(only(run, "azure-native:resources:ResourceGroup")),
      accountName: nameOf(runtimeAccount(run)),
      tableName: LIMITS_TABLE,
    });
    expect(table.parent).toContain("valet:functionApp:FunctionApp");
    const assignment = only(run, ROLE_ASSIGNMENT, "credentials-limits-table-contributor");
    expect(assignment.inputs).toEqual({
      scope: idOf(table),
      principalId: (functionApp(run).state.identity as { principalId: string }).principalId,
      principalType: "ServicePrincipal",
      roleDefinitionId: `/subscriptions/${SUBSCRIPTION_ID}/providers/Microsoft.Authorization/roleDefinitions/0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3`,
    });
    expect(
      run.resources.filter((r) => r.type === ROLE_ASSIGNMENT && r.inputs.scope === idOf(table)),
    ).toHaveLength(1);
  });

  test("the limits reach their table with the app's identity: the runtime account's table endpoint, no key", () => {
    const settings = appSettings(functionApp(run));
    const account = nameOf(runtimeAccount(run));
    expect(settings[LIMITS_TABLE_SERVICE_URI]).toBe(`https://${account}.table.core.windows.net`);
    expect(Object.keys(settings)).not.toContain(SETTING.limitsStorage);
    expect(parseLimitSettings(settings)).toEqual({
      limits: { ratePerMinute: 60, burst: 250, dailyUploadBytes: 10 * 1024 ** 3 },
      table: { kind: "identity", tableServiceUri: `https://${account}.table.core.windows.net` },
    });
  });

  test("host storage is identity-based: the runtime account's name, no connection string or key", () => {
    const settings = appSettings(functionApp(run));
    expect(settings.AzureWebJobsStorage__accountName).toBe(nameOf(runtimeAccount(run)));
    // No diagnostic-events table on the runtime account, where the app holds no table role.
    expect(settings.AzureWebJobsFeatureFlags).toBe("DisableDiagnosticEventLogging");
    expect(Object.keys(settings)).not.toContain("AzureWebJobsStorage");
    // Flex Consumption refuses these: runtime and package location live in functionAppConfig.
    for (const refused of [
      "FUNCTIONS_WORKER_RUNTIME",
      "FUNCTIONS_EXTENSION_VERSION",
      "WEBSITE_RUN_FROM_PACKAGE",
    ]) {
      expect(Object.keys(settings)).not.toContain(refused);
    }
  });

  test("Application Insights is workspace-based and its connection string reaches the app", () => {
    const component = only(run, "azure-native:applicationinsights:Component");
    const workspace = only(run, "azure-native:operationalinsights:Workspace");
    expect(component.inputs).toMatchObject({
      applicationType: "web",
      workspaceResourceId: idOf(workspace),
    });
    expect(workspace.inputs).toMatchObject({ sku: { name: "PerGB2018" }, retentionInDays: 30 });
    expect(appSettings(functionApp(run)).APPLICATIONINSIGHTS_CONNECTION_STRING).toBe(
      component.state.connectionString,
    );
  });

  test("the uploads connection string is built from the uploads account's name, key and endpoint", () => {
    const account = nameOf(uploadsAccount(run));
    expect(appSettings(functionApp(run))[SETTING.connectionString]).toBe(
      `DefaultEndpointsProtocol=https;AccountName=${account};AccountKey=${MOCK_ACCOUNT_KEY};` +
        `BlobEndpoint=https://${account}.blob.core.windows.net`,
    );
    const keyLookups = run.invokes.filter(
      (call) => call.token === "azure-native:storage:listStorageAccountKeys",
    );
    expect(keyLookups.map((call) => call.inputs.accountName)).toEqual([account]);
  });

  test("the connection string is secret in the app's inputs and in the stack outputs", () => {
    expect(isSecretValue(functionApp(run).inputs.siteConfig)).toBe(true);
    expect(output(run, "uploadsConnectionString").secret).toBe(true);
  });

  test("the exact string the program builds is accepted by the function's settings parser", () => {
    const built = appSettings(functionApp(run))[SETTING.connectionString];
    const account = parseConnectionString(built);
    expect(account.accountName).toBe(nameOf(uploadsAccount(run)));
    expect(account.blobServiceUrl).toBe(output(run, "blobServiceUrl").value);
    expect(account.protocol).toBe("https");
  });

  test("the app settings, as a whole, are what the function parses into the configured settings", () => {
    const settings = parseSettings(appSettings(functionApp(run)));
    expect(settings).toMatchObject({
      container: "images",
      tokenLifetimeMinutes: 120,
      issuanceLimits: {
        allowedContentTypes: ["image/jpeg", "image/png", "image/gif", "image/webp", "image/avif"],
        maxUploadBytes: 50 * 1024 * 1024,
        uploadTokenLifetimeMinutes: 15,
        containerTokensEnabled: true,
        bindTokenToClientIp: false,
      },
      tokenGeneration: 1,
    });
  });

  test("the function's package is published to the app's SCM host, keyed on the hash of the zip built by this run", () => {
    const inputs = publish(run).inputs as Record<string, string>;
    const app = nameOf(functionApp(run));
    expect(path.relative(path.resolve(__dirname, "../.."), inputs.zipPath as string)).toBe(
      path.join("dist", "function.zip"),
    );
    const hash = createHash("sha256")
      .update(readFileSync(inputs.zipPath as string))
      .digest("hex");
    expect(inputs).toMatchObject({
      packageSha256: hash,
      scmHost: `${app}.scm.azurewebsites.net`,
      appName: app,
      resourceGroupName: output(run, "resourceGroupName").value,
    });
    expect(output(run, "functionPackageSha256").value).toBe(hash);
  });

  test("the upload page is the uploads account's static website: each built file a blob in $web with its type", () => {
    const account = nameOf(uploadsAccount(run));
    expect(only(run, "azure-native:storage:StorageAccountStaticWebsite").inputs).toMatchObject({
      accountName: account,
      indexDocument: "index.html",
    });
    const files = Object.fromEntries(
      pageBlobs(run).map((blob) => [blob.inputs.blobName, blob.inputs.contentType]),
    );
    expect(files).toMatchObject({
      "index.html": "text/html; charset=utf-8",
      "config.json": "application/json",
    });
    expect(Object.values(files)).toContain("text/javascript; charset=utf-8");
    for (const blob of pageBlobs(run)) {
      expect(blob.inputs).toMatchObject({ accountName: account, containerName: "$web" });
    }
  });

  test("the page's config.json points at the deployed SAS endpoint and carries the issuance limits", async () => {
    const source = pageBlob(run, "config.json").inputs.source as { text: Promise<string> };
    expect(JSON.parse(await source.text)).toEqual({
      apiUrl: output(run, "credentialsUrl").value,
      allowedContentTypes: ["image/jpeg", "image/png", "image/gif", "image/webp", "image/avif"],
      extensions: {
        "image/jpeg": "jpg",
        "image/png": "png",
        "image/gif": "gif",
        "image/webp": "webp",
        "image/avif": "avif",
      },
      maxUploadBytes: 50 * 1024 * 1024,
      ...DEFAULT_UPLOAD_TUNING,
    });
  });

  test("uploadPageUrl is the website endpoint, and its origin is allowed by both CORS lists", () => {
    const url = output(run, "uploadPageUrl").value as string;
    expect(url).toBe(`https://${nameOf(uploadsAccount(run))}.z16.web.core.windows.net/`);
    const origin = new URL(url).origin;
    expect(corsRules(run)[0]?.allowedOrigins).toContain(origin);
    expect(siteConfig(run).cors.allowedOrigins).toContain(origin);
  });

  test("there is no cost budget unless an alert address is set", () => {
    expect(run.resources.filter((r) => r.type === BUDGET)).toEqual([]);
  });

  test("every resource that has a location is in the configured one", () => {
    const located = run.resources.filter((r) => "location" in r.inputs);
    expect(located.length).toBeGreaterThanOrEqual(7);
    expect(new Set(located.map((r) => r.inputs.location))).toEqual(new Set(["swedencentral"]));
  });

  test("the outputs name the SAS endpoint, the blob service, the container, the app, the group and the secret", () => {
    const app = nameOf(functionApp(run));
    const account = nameOf(uploadsAccount(run));
    expect(output(run, "credentialsUrl").value).toBe(`https://${app}.azurewebsites.net/api/credentials`);
    expect(output(run, "blobServiceUrl").value).toBe(`https://${account}.blob.core.windows.net`);
    expect(output(run, "container").value).toBe("images");
    expect(output(run, "functionAppName").value).toBe(app);
    expect(output(run, "resourceGroupName").value).toBe(
      nameOf(only(run, "azure-native:resources:ResourceGroup")),
    );
    for (const name of [
      "credentialsUrl",
      "blobServiceUrl",
      "container",
      "functionAppName",
      "resourceGroupName",
    ]) {
      expect(output(run, name).secret, name).toBe(false);
    }
    expect(Object.keys(run.outputs)).toEqual(expect.arrayContaining([...STACK_OUTPUTS]));
  });
});

describe("with every key set", () => {
  let run: ProgramRun;
  beforeAll(async () => {
    run = await runProgram({
      location: "westeurope",
      allowedOrigins: JSON.stringify(["https://a.example.com", "http://localhost:4280"]),
      deployUploadPage: "false",
      container: "photos",
      tokenLifetimeMinutes: "30",
      uploadTokenLifetimeMinutes: "5",
      allowedContentTypes: "image/png, image/heic",
      maxUploadBytes: "1048576",
      containerTokensEnabled: "false",
      bindTokenToClientIp: "true",
      tokenGeneration: "3",
      signingKey: "key2",
      issuanceRatePerMinute: "0",
      issuanceBurst: "20",
      dailyUploadBytesPerClient: "2097152",
      maximumInstanceCount: "3",
      instanceMemoryMB: "512",
      // About the most a 512 MB instance holds a check of, with 1 MiB uploads (function/contract/photoMemory.ts).
      maxImagePixels: "25000000",
      photoQuality: "85",
      renditionQuality: "70",
      feedSize: "1200",
      thumbnailSize: "256",
      softDeleteRetentionDays: "30",
      logRetentionDays: "90",
    });
  });

  test("each app setting carries its config value and the function reads them back", () => {
    const settings = appSettings(functionApp(run));
    expect(settings).toMatchObject({
      [SETTING.container]: "photos",
      [SETTING.tokenLifetimeMinutes]: "30",
      [SETTING.uploadTokenLifetimeMinutes]: "5",
      [SETTING.allowedContentTypes]: "image/png,image/heic",
      [SETTING.maxUploadBytes]: "1048576",
      [SETTING.containerTokensEnabled]: "false",
      [SETTING.bindTokenToClientIp]: "true",
      [SETTING.tokenGeneration]: "3",
      [SETTING.issuanceRatePerMinute]: "0",
      [SETTING.issuanceBurst]: "20",
      [SETTING.dailyUploadBytesPerClient]: "2097152",
      [SETTING.maxImagePixels]: "25000000",
      [SETTING.photoQuality]: "85",
      [SETTING.renditionQuality]: "70",
      [SETTING.feedSize]: "1200",
      [SETTING.thumbnailSize]: "256",
    });
    expect(parseSettings(settings).photos).toEqual({
      quality: 85,
      renditionQuality: 70,
      feedSize: 1200,
      thumbnailSize: 256,
    });
    expect(parseLimitSettings(settings).limits).toEqual({
      ratePerMinute: 0,
      burst: 20,
      dailyUploadBytes: 2097152,
    });
    expect(parseSettings(settings)).toMatchObject({
      container: "photos",
      tokenLifetimeMinutes: 30,
      issuanceLimits: {
        allowedContentTypes: ["image/png", "image/heic"],
        maxUploadBytes: 1048576,
        uploadTokenLifetimeMinutes: 5,
        containerTokensEnabled: false,
        bindTokenToClientIp: true,
      },
      tokenGeneration: 3,
    });
  });

  test("with signingKey key2 the connection string carries the second key, still secret everywhere", () => {
    const account = nameOf(uploadsAccount(run));
    expect(isSecretValue(functionApp(run).inputs.siteConfig)).toBe(true);
    expect(output(run, "uploadsConnectionString")).toEqual({
      value:
        `DefaultEndpointsProtocol=https;AccountName=${account};AccountKey=${MOCK_SECOND_KEY};` +
        `BlobEndpoint=https://${account}.blob.core.windows.net`,
      secret: true,
    });
    expect(appSettings(functionApp(run))[SETTING.connectionString]).toContain(
      `AccountKey=${MOCK_SECOND_KEY};`,
    );
    expect(JSON.stringify(reveal(functionApp(run).inputs))).not.toContain(MOCK_ACCOUNT_KEY);
  });

  test("the same function source gives the same package hash, whatever the stack config", async () => {
    const again = await runProgram({ allowedOrigins: SITE_ORIGIN });
    expect(publish(run).inputs.packageSha256).toBe(publish(again).inputs.packageSha256);
  });

  test("the container, retention, location, instance cap and size follow the config", () => {
    expect(only(run, BLOB_CONTAINER, "uploads").inputs.containerName).toBe("photos");
    expect(only(run, BLOB_SERVICE).inputs).toMatchObject({
      deleteRetentionPolicy: { days: 30 },
      containerDeleteRetentionPolicy: { days: 30 },
    });
    expect(functionApp(run).inputs).toMatchObject({
      location: "westeurope",
      functionAppConfig: { scaleAndConcurrency: { maximumInstanceCount: 3, instanceMemoryMB: 512 } },
    });
    expect(only(run, "azure-native:operationalinsights:Workspace").inputs.retentionInDays).toBe(90);
    expect(output(run, "container").value).toBe("photos");
  });

  test("without the upload page there is no static website, no page blob and no uploadPageUrl", () => {
    expect(
      run.resources.filter((r) => r.type.startsWith("azure-native:storage:StorageAccountStaticWebsite")),
    ).toEqual([]);
    expect(pageBlobs(run)).toEqual([]);
    expect(run.outputs.uploadPageUrl).toBeUndefined();
  });

  test("without the upload page only the configured origins are allowed, in both CORS lists", () => {
    const origins = ["https://a.example.com", "http://localhost:4280"];
    expect(corsRules(run)).toEqual([blobCorsRule(origins)]);
    expect(siteConfig(run).cors.allowedOrigins).toEqual(origins);
  });
});

describe("CORS edge cases", () => {
  test("with no origins and no page there is no blob CORS rule at all", async () => {
    const run = await runProgram({ deployUploadPage: "false" });
    expect(corsRules(run)).toEqual([]);
    expect(siteConfig(run).cors.allowedOrigins).toEqual([]);
  });

  test('"*" is allowed only with allowAnyOrigin', async () => {
    const run = await runProgram({ allowedOrigins: "*", allowAnyOrigin: "true", deployUploadPage: "false" });
    expect(corsRules(run)).toEqual([blobCorsRule(["*"])]);
  });
});

describe("the final CORS origin list", () => {
  const origins = (count: number) =>
    JSON.stringify(Array.from({ length: count }, (_, index) => `https://site${index}.example.com`));

  test("64 configured origins plus the upload page's own are refused before anything is created, naming the key", async () => {
    const error = await runProgram({ allowedOrigins: origins(64) }).then(
      () => undefined,
      (caught: unknown) => caught as Error,
    );
    expect(error?.constructor.name).toBe("RunError");
    expect(error?.message).toMatch(
      /^valet:allowedOrigins: the blob service's CORS rule would list 65 origins \(64 configured plus the upload page's own origin\); Azure allows at most 64/,
    );
  });

  test("63 configured origins leave the page its place: the rule lists all 64", async () => {
    const run = await runProgram({ allowedOrigins: origins(63) });
    expect(corsRules(run)[0]?.allowedOrigins).toHaveLength(64);
  });

  test("64 configured origins are accepted when the page is not deployed", async () => {
    const run = await runProgram({ allowedOrigins: origins(64), deployUploadPage: "false" });
    expect(corsRules(run)[0]?.allowedOrigins).toHaveLength(64);
  });
});

describe("component names", () => {
  test("a name that cannot prefix a storage account name is refused with a RunError naming the component", () => {
    for (const name of ["Uploads", "up-loads", "ab", "averyveryverylongname"]) {
      expect(() => checkAccountBaseName(name, "UploadsStorage")).toThrow(
        `UploadsStorage ${JSON.stringify(name)}: its storage account is named after it, so the name must be 3-16 lowercase letters and digits.`,
      );
    }
    expect(() => checkAccountBaseName("uploads", "UploadsStorage")).not.toThrow();
    const error = (() => {
      try {
        checkAccountBaseName("Bad", "FunctionApp");
      } catch (caught) {
        return caught;
      }
    })();
    expect((error as Error).constructor.name).toBe("RunError");
  });
});

describe("the cost budget", () => {
  test("with an alert address, a monthly budget on the resource group e-mails it at 80 % spent and 100 % forecast", async () => {
    const run = await runProgram({ budgetAlertEmail: "ops@example.com", monthlyBudget: "120" });
    const budget = only(run, BUDGET);
    const notification = (thresholdType: string, threshold: number) => ({
      enabled: true,
      operator: "GreaterThanOrEqualTo",
      threshold,
      thresholdType,
      contactEmails: ["ops@example.com"],
    });
    const now = new Date();
    expect(budget.inputs).toEqual({
      scope: idOf(only(run, "azure-native:resources:ResourceGroup")),
      amount: 120,
      category: "Cost",
      timeGrain: "Monthly",
      timePeriod: { startDate: new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1)).toISOString() },
      notifications: {
        actual80: notification("Actual", 80),
        forecast100: notification("Forecasted", 100),
      },
    });
    expect(budget.ignoreChanges).toEqual(["timePeriod"]);
  });

  test("a budget amount out of range is refused with a message naming the key", async () => {
    const error = await runProgram({ budgetAlertEmail: "ops@example.com", monthlyBudget: "0" }).then(
      () => undefined,
      (caught: unknown) => caught as Error,
    );
    expect(error?.message).toMatch(
      /valet:monthlyBudget must be a whole number .* from 1 to 1000000 \(default 50\)/,
    );
  });

  test("the budget defaults to 50 a month", async () => {
    const run = await runProgram({ budgetAlertEmail: "ops@example.com" });
    expect(only(run, BUDGET).inputs.amount).toBe(50);
  });
});

describe("config validation", () => {
  const accepted = Object.keys(IMAGE_EXTENSIONS).join(", ");
  test.each([
    ["location", "West Europe", /valet:location must be an Azure region name .*swedencentral/],
    ["allowedOrigins", "*", /valet:allowedOrigins: "\*" allows every web site.*valet:allowAnyOrigin/],
    ["allowedOrigins", "https://a.example.com/path", /valet:allowedOrigins: .* is not an origin/],
    ["allowedOrigins", '["https://a.example.com", 3]', /valet:allowedOrigins must be a list of strings/],
    ["allowAnyOrigin", "yes", /valet:allowAnyOrigin must be true or false \(default false\)/],
    ["deployUploadPage", "1", /valet:deployUploadPage must be true or false \(default true\)/],
    ["container", "Images", /valet:container must be a container name: 3-63 lowercase .*\(default images\)/],
    [
      "tokenLifetimeMinutes",
      "4",
      /valet:tokenLifetimeMinutes must be a whole number of minutes from 5 to 1440/,
    ],
    ["tokenLifetimeMinutes", "1441", /from 5 to 1440 \(default 120\)/],
    ["uploadTokenLifetimeMinutes", "61", /valet:uploadTokenLifetimeMinutes .* from 1 to 60 \(default 15\)/],
    ["allowedContentTypes", "image/png,image/svg+xml", new RegExp(`among ${accepted}; "image/svg\\+xml"`)],
    ["allowedContentTypes", "[]", /valet:allowedContentTypes must list at least one of/],
    [
      "maxUploadBytes",
      "1023",
      /valet:maxUploadBytes must be a whole number of bytes from 1024 to 5368709120/,
    ],
    ["containerTokensEnabled", "maybe", /valet:containerTokensEnabled must be true or false/],
    ["bindTokenToClientIp", "on", /valet:bindTokenToClientIp must be true or false/],
    [
      "tokenGeneration",
      "0",
      /valet:tokenGeneration must be a whole number .* from 1 to 999999 \(default 1\)/,
    ],
    [
      "signingKey",
      "primary",
      /^valet:signingKey must be key1 or key2 \(default key1\): the uploads account key/,
    ],
    ["issuanceRatePerMinute", "-1", /valet:issuanceRatePerMinute must be a whole number of tokens a minute/],
    [
      "issuanceBurst",
      "0",
      /valet:issuanceBurst must be a whole number of tokens from 1 to 100000 \(default 250\)/,
    ],
    [
      "dailyUploadBytesPerClient",
      "1048576",
      /valet:dailyUploadBytesPerClient must be at least valet:maxUploadBytes \(52428800 bytes\), or 0/,
    ],
    ["maximumInstanceCount", "0", /valet:maximumInstanceCount .* instances from 1 to 1000 \(default 40\)/],
    ["maximumInstanceCount", "2.5", /valet:maximumInstanceCount must be a whole number/],
    ["instanceMemoryMB", "1024", /valet:instanceMemoryMB must be one of 512, 2048, 4096 \(default 2048\)/],
    ["softDeleteRetentionDays", "366", /valet:softDeleteRetentionDays .* days from 1 to 365 \(default 7\)/],
    ["logRetentionDays", "7", /valet:logRetentionDays .* days from 30 to 730 \(default 30\)/],
    ["budgetAlertEmail", "ops at example.com", /valet:budgetAlertEmail must be one e-mail address/],
    ["monthlyBudget", "100", /valet:monthlyBudget is set but valet:budgetAlertEmail is not/],
  ])(
    "%s = %j is refused with a message naming the key and the accepted values",
    async (key, value, message) => {
      const error = await runProgram({ [key]: value }).then(
        () => undefined,
        (caught: unknown) => caught as Error,
      );
      expect(error?.name).toBe("StackConfigError");
      expect(error?.message).toMatch(message);
    },
  );

  test("a bad signingKey fails the preview with a RunError naming the key and the accepted values", async () => {
    const error = await runProgram({ signingKey: "KEY2" }).then(
      () => undefined,
      (caught: unknown) => caught as Error,
    );
    expect(Object.getPrototypeOf(error?.constructor).name).toBe("RunError");
    expect(error?.message).toBe(
      "valet:signingKey must be key1 or key2 (default key1): the uploads account key that signs tokens.",
    );
  });

  test("an upload token lifetime longer than the container token's is refused", async () => {
    const error = await runProgram({ tokenLifetimeMinutes: "10", uploadTokenLifetimeMinutes: "30" }).then(
      () => undefined,
      (caught: unknown) => caught as Error,
    );
    expect(error?.name).toBe("StackConfigError");
    expect(error?.message).toBe(
      "valet:uploadTokenLifetimeMinutes (30) must not exceed valet:tokenLifetimeMinutes (10).",
    );
  });
});

describe("the human check", () => {
  const SITE_KEY = "0x4AAAAAAAstandInSiteKey";
  const SECRET_KEY = "0x4AAAAAAAstandInSecretKeyValue";
  let run: ProgramRun;
  beforeAll(async () => {
    run = await runProgram(
      { turnstileSiteKey: SITE_KEY, turnstileSecretKey: SECRET_KEY },
      { secretKeys: ["turnstileSecretKey"] },
    );
  });

  test("the secret key reaches the app as TURNSTILE_SECRET_KEY, which the function reads as the check turned on", () => {
    const settings = appSettings(functionApp(run));
    expect(settings[SETTING.turnstileSecretKey]).toBe(SECRET_KEY);
    expect(parseSettings(settings).humanCheck).toEqual({
      secretKey: SECRET_KEY,
      siteverifyUrl: "https://challenges.cloudflare.com/turnstile/v0/siteverify",
    });
  });

  test("the secret key is in no resource's inputs or stack output in plaintext", () => {
    for (const resource of run.resources) {
      expect(inPlaintext(resource.inputs, SECRET_KEY), `${resource.type} ${resource.name}`).toBe(false);
    }
    expect(inPlaintext(run.outputs, SECRET_KEY)).toBe(false);
  });

  test("the page's config.json carries the site key and never the secret key", async () => {
    const source = pageBlob(run, "config.json").inputs.source as { text: Promise<string> };
    const text = await source.text;
    expect(JSON.parse(text).turnstileSiteKey).toBe(SITE_KEY);
    expect(text).not.toContain(SECRET_KEY);
  });

  test("without the keys the app has no TURNSTILE_SECRET_KEY and the page no site key", async () => {
    const plain = await runProgram({});
    expect(appSettings(functionApp(plain))).not.toHaveProperty(SETTING.turnstileSecretKey);
    const source = pageBlob(plain, "config.json").inputs.source as { text: Promise<string> };
    expect(JSON.parse(await source.text)).not.toHaveProperty("turnstileSiteKey");
  });

  test.each([
    [{ turnstileSiteKey: SITE_KEY }, /^valet:turnstileSiteKey is set but valet:turnstileSecretKey is not/],
    [
      { turnstileSecretKey: SECRET_KEY },
      /^valet:turnstileSecretKey is set but valet:turnstileSiteKey is not/,
    ],
    [
      { turnstileSiteKey: "not a key!", turnstileSecretKey: SECRET_KEY },
      /^valet:turnstileSiteKey must be a Turnstile site key/,
    ],
  ])("%j is refused with a StackConfigError naming the key", async (config, message) => {
    const error = await runProgram(config, { secretKeys: ["turnstileSecretKey"] }).then(
      () => undefined,
      (caught: unknown) => caught as Error,
    );
    expect(error?.name).toBe("StackConfigError");
    expect(error?.message).toMatch(message);
    expect(error?.message).not.toContain(SECRET_KEY);
  });
});

describe("sign-in", () => {
  const ISSUER = "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000001/v2.0";

  test("the issuer, audience and owner claim reach the app, which the function parses as sign-in on", async () => {
    const run = await runProgram({
      authIssuer: ISSUER,
      authAudience: "api://valet",
      authOwnerClaim: "oid",
      dailyUploadBytesPerOwner: String(2 * 1024 ** 3),
    });
    const settings = appSettings(functionApp(run));
    expect(settings[SETTING.authIssuer]).toBe(ISSUER);
    expect(settings[SETTING.dailyUploadBytesPerOwner]).toBe(String(2 * 1024 ** 3));
    expect(parseSettings(settings).auth).toEqual({
      issuer: ISSUER,
      audiences: ["api://valet"],
      ownerClaim: "oid",
      algorithms: ["RS256"],
    });
  });

  test("without an issuer the app stays anonymous", async () => {
    const plain = await runProgram({});
    expect(appSettings(functionApp(plain))).not.toHaveProperty(SETTING.authIssuer);
    expect(parseSettings(appSettings(functionApp(plain))).auth).toBeUndefined();
  });

  test.each([
    [
      { authIssuer: "http://issuer.example/", authAudience: "api://valet" },
      /^valet:authIssuer must be the OpenID Connect issuer's https URL/,
    ],
    [{ authIssuer: "http://127.0.0.1:8080", authAudience: "api://valet" }, /^valet:authIssuer must be/],
    [{ authIssuer: ISSUER }, /^valet:authAudience is not set/],
    [
      { authIssuer: ISSUER, authAudience: "api://valet", authAlgorithms: "HS256" },
      /^valet:authAlgorithms must list/,
    ],
  ])("%j is refused with a StackConfigError naming the key", async (config, message) => {
    const error = await runProgram(config).then(
      () => undefined,
      (caught: unknown) => caught as Error,
    );
    expect(error?.name).toBe("StackConfigError");
    expect(error?.message).toMatch(message);
  });
});

describe("the check after each upload", () => {
  let run: ProgramRun;
  beforeAll(async () => {
    run = await runProgram({ allowedOrigins: SITE_ORIGIN });
  });
  const appPrincipal = () => (functionApp(run).state.identity as { principalId: string }).principalId;
  const topic = () => only(run, SYSTEM_TOPIC);
  const topicPrincipal = () => (topic().state.identity as { principalId: string }).principalId;
  const subscription = () => only(run, EVENT_SUBSCRIPTION);
  const queue = (queueName: string) => {
    const found = run.resources.filter((r) => r.type === QUEUE && r.inputs.queueName === queueName);
    if (found.length !== 1) throw new Error(`expected one queue ${queueName}, found ${found.length}`);
    return found[0] as RecordedResource;
  };

  test("the verified container is private, on the uploads account, and reaches the app as VERIFIED_CONTAINER", () => {
    const verified = only(run, BLOB_CONTAINER, "uploads-verified");
    expect(verified.inputs).toMatchObject({
      containerName: "verified",
      publicAccess: "None",
      accountName: nameOf(uploadsAccount(run)),
    });
    expect(appSettings(functionApp(run))[SETTING.verifiedContainer]).toBe("verified");
    expect(output(run, "verifiedContainer").value).toBe("verified");
  });

  test("the app reaches its queue and outcomes table with its identity: the runtime account's endpoints, no key", () => {
    const settings = appSettings(functionApp(run));
    const account = nameOf(runtimeAccount(run));
    expect(settings[VALIDATION_QUEUE_SERVICE_URI]).toBe(`https://${account}.queue.core.windows.net`);
    expect(settings[VALIDATION_TABLE_SERVICE_URI]).toBe(`https://${account}.table.core.windows.net`);
    expect(Object.keys(settings)).not.toContain(SETTING.validationStorage);
    expect(settings[SETTING.maxImagePixels]).toBe("100000000");
  });

  test("the function reads the check's settings as the program sets them", () => {
    const settings = appSettings(functionApp(run));
    expect(parseSettings(settings).check).toEqual({
      verifiedContainer: "verified",
      maxImagePixels: 100_000_000,
    });
    expect(parseOutcomesTable(settings)).toEqual({
      kind: "identity",
      tableServiceUri: `https://${nameOf(runtimeAccount(run))}.table.core.windows.net`,
    });
  });

  test("the events' queue, its poison queue and the outcomes table are on the runtime account", () => {
    const account = nameOf(runtimeAccount(run));
    expect(queue(UPLOADS_CREATED_QUEUE).inputs.accountName).toBe(account);
    expect(queue(UPLOADS_CREATED_POISON_QUEUE).inputs.accountName).toBe(account);
    expect(UPLOADS_CREATED_POISON_QUEUE).toBe("uploads-created-poison");
    expect(only(run, TABLE, "credentials-outcomes").inputs).toEqual({
      resourceGroupName: nameOf(only(run, "azure-native:resources:ResourceGroup")),
      accountName: account,
      tableName: OUTCOMES_TABLE,
    });
  });

  test("a system topic with its own identity publishes the uploads account's events, in the account's region", () => {
    expect(topic().inputs).toEqual({
      resourceGroupName: nameOf(only(run, "azure-native:resources:ResourceGroup")),
      location: "swedencentral",
      source: idOf(uploadsAccount(run)),
      topicType: "Microsoft.Storage.StorageAccounts",
      identity: { type: "SystemAssigned" },
    });
  });

  test("the subscription takes BlobCreated events of the inbox alone and delivers them to the queue with the topic's identity", () => {
    expect(subscription().inputs).toEqual({
      resourceGroupName: nameOf(only(run, "azure-native:resources:ResourceGroup")),
      systemTopicName: nameOf(topic()),
      filter: {
        includedEventTypes: ["Microsoft.Storage.BlobCreated"],
        subjectBeginsWith: "/blobServices/default/containers/images/",
        isSubjectCaseSensitive: false,
      },
      eventDeliverySchema: "EventGridSchema",
      deliveryWithResourceIdentity: {
        identity: { type: "SystemAssigned" },
        destination: {
          endpointType: "StorageQueue",
          resourceId: idOf(runtimeAccount(run)),
          queueName: "uploads-created",
        },
      },
      retryPolicy: { maxDeliveryAttempts: 30, eventTimeToLiveInMinutes: 1440 },
      deadLetterWithResourceIdentity: {
        identity: { type: "SystemAssigned" },
        deadLetterDestination: {
          endpointType: "StorageBlob",
          resourceId: idOf(runtimeAccount(run)),
          blobContainerName: "uploads-created-deadletter",
        },
      },
    });
    expect(only(run, BLOB_CONTAINER, "uploads-created-deadletter").inputs).toMatchObject({
      accountName: nameOf(runtimeAccount(run)),
      publicAccess: "None",
    });
  });

  test("the subscription is created only once the topic's identity may send to the queue and write dead letters", () => {
    const sender = only(run, ROLE_ASSIGNMENT, "uploads-created-queue-sender");
    const deadLetters = only(run, ROLE_ASSIGNMENT, "uploads-created-deadletter-writer");
    expect(subscription().dependencies).toEqual(expect.arrayContaining([sender.urn, deadLetters.urn]));
  });

  test("the subscription waits, bounded, for the topic's two role assignments to take effect", () => {
    const sender = only(run, ROLE_ASSIGNMENT, "uploads-created-queue-sender");
    const deadLetters = only(run, ROLE_ASSIGNMENT, "uploads-created-deadletter-writer");
    const settle = only(run, "pulumi-nodejs:dynamic/valet:RoleSettle", "uploads-created-roles-effective");
    expect(settle.inputs.settleMinutes).toBe(10);
    expect(settle.propertyDependencies?.assignedAt).toEqual(
      expect.arrayContaining([sender.urn, deadLetters.urn]),
    );
    expect(subscription().dependencies).toContain(settle.urn);
  });

  test("the subscription also waits for the code's publish, which waits out role propagation", () => {
    expect(subscription().dependencies).toContain(publish(run).urn);
    // Only the subscription: the topic and its roles are made early, so their roles have those minutes.
    expect(topic().dependencies).not.toContain(publish(run).urn);
    for (const name of ["uploads-created-queue-sender", "uploads-created-deadletter-writer"]) {
      expect(only(run, ROLE_ASSIGNMENT, name).dependencies).not.toContain(publish(run).urn);
    }
  });

  test("every role the stack assigns, to whom and where: nothing wider than each queue, table or container", () => {
    const assignments = run.resources
      .filter((r) => r.type === ROLE_ASSIGNMENT)
      .map((r) => ({ name: r.name, ...r.inputs }))
      .sort((a, b) => a.name.localeCompare(b.name));
    const grant = (name: string, scope: RecordedResource, principalId: string, role: string) => ({
      name,
      scope: idOf(scope),
      principalId,
      principalType: "ServicePrincipal",
      roleDefinitionId: roleDefinition(role),
    });
    expect(assignments).toEqual(
      [
        grant(
          "credentials-runtime-blob-owner",
          runtimeAccount(run),
          appPrincipal(),
          ROLE.storageBlobDataOwner,
        ),
        grant(
          "credentials-limits-table-contributor",
          only(run, TABLE, "credentials-limits"),
          appPrincipal(),
          ROLE.storageTableDataContributor,
        ),
        grant(
          "credentials-outcomes-table-contributor",
          only(run, TABLE, "credentials-outcomes"),
          appPrincipal(),
          ROLE.storageTableDataContributor,
        ),
        grant(
          "credentials-uploads-created-contributor",
          queue(UPLOADS_CREATED_QUEUE),
          appPrincipal(),
          ROLE.storageQueueDataContributor,
        ),
        grant(
          "credentials-uploads-created-poison-sender",
          queue(UPLOADS_CREATED_POISON_QUEUE),
          appPrincipal(),
          ROLE.storageQueueDataMessageSender,
        ),
        grant(
          "uploads-created-queue-sender",
          queue(UPLOADS_CREATED_QUEUE),
          topicPrincipal(),
          ROLE.storageQueueDataMessageSender,
        ),
        grant(
          "uploads-created-deadletter-writer",
          only(run, BLOB_CONTAINER, "uploads-created-deadletter"),
          topicPrincipal(),
          ROLE.storageBlobDataContributor,
        ),
        // Reading the malware scan results' queue (test/infra/malwareScanning.test.ts).
        grant(
          "malware-scanning-results-contributor",
          only(run, QUEUE, "malware-scanning-results"),
          appPrincipal(),
          ROLE.storageQueueDataContributor,
        ),
        // Publishing completion events (test/infra/completionEvents.test.ts).
        grant(
          "completions-publisher",
          only(run, "azure-native:eventgrid:Topic", "completions"),
          appPrincipal(),
          ROLE.eventGridDataSender,
        ),
      ].sort((a, b) => a.name.localeCompare(b.name)),
    );
  });

  test("the built-in role ids are the ones Azure publishes", () => {
    expect(ROLE).toMatchObject({
      storageQueueDataContributor: "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
      storageQueueDataMessageSender: "c6a89b2d-59bc-44d0-9896-0f6e12d7b80a",
      storageBlobDataContributor: "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    });
  });

  test("block and append blobs of the inbox alone are deleted 7 days after creation, by the account's only policy", () => {
    const policy = only(run, MANAGEMENT_POLICY);
    expect(policy.inputs).toEqual({
      resourceGroupName: nameOf(only(run, "azure-native:resources:ResourceGroup")),
      accountName: nameOf(uploadsAccount(run)),
      managementPolicyName: "default",
      policy: {
        rules: [
          {
            name: "expireUncheckedUploads",
            enabled: true,
            type: "Lifecycle",
            definition: {
              filters: { blobTypes: ["blockBlob", "appendBlob"], prefixMatch: ["images/"] },
              actions: { baseBlob: { delete: { daysAfterCreationGreaterThan: 7 } } },
            },
          },
        ],
      },
    });
  });

  test("another inbox container, retention and pixel cap follow the config", async () => {
    const configured = await runProgram({
      container: "photos",
      inboxRetentionDays: "30",
      maxImagePixels: "50000000",
      deployUploadPage: "false",
    });
    const rule = (
      only(configured, MANAGEMENT_POLICY).inputs.policy as {
        rules: { definition: { filters: unknown; actions: unknown } }[];
      }
    ).rules[0];
    expect(rule?.definition).toEqual({
      filters: { blobTypes: ["blockBlob", "appendBlob"], prefixMatch: ["photos/"] },
      actions: { baseBlob: { delete: { daysAfterCreationGreaterThan: 30 } } },
    });
    expect(only(configured, EVENT_SUBSCRIPTION).inputs.filter).toMatchObject({
      subjectBeginsWith: "/blobServices/default/containers/photos/",
    });
    expect(appSettings(functionApp(configured))[SETTING.maxImagePixels]).toBe("50000000");
  });

  test.each([
    [
      "inboxRetentionDays",
      "1",
      /^valet:inboxRetentionDays must be a whole number of days from 2 to 365 \(default 7\)/,
    ],
    [
      "maxImagePixels",
      "0",
      new RegExp(
        `^valet:maxImagePixels must be a whole number of pixels from ${MAX_IMAGE_PIXELS_BOUNDS.min} to ${MAX_IMAGE_PIXELS_BOUNDS.max}`,
      ),
    ],
    ["container", "verified", /^valet:container must not be verified: that container holds the images/],
    [
      "instanceMemoryMB",
      "512",
      /^valet:instanceMemoryMB 512 cannot hold the check of a 100000000-pixel image of up to 52428800 bytes in three quarters of its memory: lower valet:maxImagePixels to 21600665 or less/,
    ],
    ["feedSize", "0", /^valet:feedSize must be a whole number of pixels from 16 to 8192 \(default 1600\)/],
    [
      "photoQuality",
      "101",
      /^valet:photoQuality must be a whole number of quality steps from 1 to 100 \(default 90\)/,
    ],
  ])("%s = %j is refused with a StackConfigError naming the key", async (key, value, message) => {
    const error = await runProgram({ [key]: value }).then(
      () => undefined,
      (caught: unknown) => caught as Error,
    );
    expect(error?.name).toBe("StackConfigError");
    expect(error?.message).toMatch(message);
  });
});

describe("keyless (signing identity)", () => {
  const SECRET = Buffer.alloc(32, 0x2c).toString("base64");
  const roleId = (id: string) =>
    `/subscriptions/${SUBSCRIPTION_ID}/providers/Microsoft.Authorization/roleDefinitions/${id}`;
  let run: ProgramRun;
  beforeAll(async () => {
    run = await runProgram(
      { signing: "identity", allowedOrigins: SITE_ORIGIN, keyDerivationSecret: SECRET },
      { secretKeys: ["keyDerivationSecret"] },
    );
  });

  test("the uploads account refuses Shared Key and defaults to Entra ID", () => {
    expect(uploadsAccount(run).inputs).toMatchObject({
      allowSharedKeyAccess: false,
      defaultToOAuthAuthentication: true,
      enableHttpsTrafficOnly: true,
      allowBlobPublicAccess: false,
    });
  });

  test("no account key is asked for, set or exported: no key lookup, no connection string", () => {
    expect(
      run.invokes.filter((call) => call.token === "azure-native:storage:listStorageAccountKeys"),
    ).toEqual([]);
    const settings = appSettings(functionApp(run));
    expect(settings).not.toHaveProperty(SETTING.connectionString);
    expect(output(run, "uploadsConnectionString")).toBeUndefined();
    for (const resource of run.resources) {
      expect(JSON.stringify(reveal(resource.inputs)), `${resource.type} ${resource.name}`).not.toContain(
        "AccountKey=",
      );
    }
    expect(JSON.stringify(reveal(run.outputs))).not.toContain("AccountKey=");
  });

  test("the app gets the account's URL, which the function parses as keyless settings", () => {
    const settings = appSettings(functionApp(run));
    expect(settings[SETTING.accountUrl]).toBe(output(run, "blobServiceUrl").value);
    const parsed = parseSettings(settings, { uploadsCredential: { getToken: async () => null } });
    expect(parsed.uploads.mode).toBe("identity");
    expect(
      createInstance(settings, { uploadsCredential: { getToken: async () => null } }).signer().mode,
    ).toBe("identity");
    expect(parsed.uploads.accountName).toBe(nameOf(uploadsAccount(run)));
  });

  test("the key derivation secret reaches the app secret, and is in no input or output in plaintext", () => {
    expect(appSettings(functionApp(run))[SETTING.keyDerivationSecret]).toBe(SECRET);
    expect(isSecretValue(functionApp(run).inputs.siteConfig)).toBe(true);
    for (const resource of run.resources) {
      expect(inPlaintext(resource.inputs, SECRET), `${resource.type} ${resource.name}`).toBe(false);
    }
    expect(inPlaintext(run.outputs, SECRET)).toBe(false);
  });

  test("the app's identity is Storage Blob Delegator on the uploads account and Blob Data Contributor on the inbox and verified containers alone", () => {
    const principalId = (functionApp(run).state.identity as { principalId: string }).principalId;
    const container = only(run, BLOB_CONTAINER, "uploads");
    expect(only(run, ROLE_ASSIGNMENT, "credentials-uploads-delegator").inputs).toEqual({
      scope: idOf(uploadsAccount(run)),
      principalId,
      principalType: "ServicePrincipal",
      roleDefinitionId: roleId("db58b8e5-c6ad-4a2a-8342-4190687cbf4a"),
    });
    expect(only(run, ROLE_ASSIGNMENT, "credentials-uploads-container-contributor").inputs).toEqual({
      scope: idOf(container),
      principalId,
      principalType: "ServicePrincipal",
      roleDefinitionId: roleId("ba92f5b4-2d11-453d-a403-e96b0029c9fe"),
    });
    // The check's copy writes into the verified container: the same role, on that container alone.
    expect(only(run, ROLE_ASSIGNMENT, "credentials-verified-container-contributor").inputs).toEqual({
      scope: idOf(only(run, BLOB_CONTAINER, "uploads-verified")),
      principalId,
      principalType: "ServicePrincipal",
      roleDefinitionId: roleId("ba92f5b4-2d11-453d-a403-e96b0029c9fe"),
    });
    // The runtime's, the check's and its events', and these two: nothing else on the uploads account or any
    // other scope.
    expect(
      run.resources
        .filter((r) => r.type === ROLE_ASSIGNMENT)
        .map((r) => r.name)
        .sort(),
    ).toEqual([
      "completions-publisher",
      "credentials-limits-table-contributor",
      "credentials-outcomes-table-contributor",
      "credentials-runtime-blob-owner",
      "credentials-uploads-container-contributor",
      "credentials-uploads-created-contributor",
      "credentials-uploads-created-poison-sender",
      "credentials-uploads-delegator",
      "credentials-verified-container-contributor",
      "malware-scanning-results-contributor",
      "uploads-created-deadletter-writer",
      "uploads-created-queue-sender",
    ]);
  });

  test("the page is served by an account of its own, which the uploads CORS rule allows", () => {
    const site = only(run, STORAGE_ACCOUNT, "site");
    const website = only(run, "azure-native:storage:StorageAccountStaticWebsite");
    expect(website.inputs.accountName).toBe(nameOf(site));
    for (const blob of pageBlobs(run)) expect(blob.inputs.accountName).toBe(nameOf(site));
    const siteOrigin = `https://${nameOf(site)}.z16.web.core.windows.net`;
    expect(corsRules(run)[0]?.allowedOrigins).toEqual([SITE_ORIGIN, siteOrigin]);
    expect(siteConfig(run).cors.allowedOrigins).toEqual([SITE_ORIGIN, siteOrigin]);
    expect(output(run, "uploadPageUrl").value).toBe(`${siteOrigin}/`);
  });

  test("without the page there is no page account", async () => {
    const noPage = await runProgram(
      { signing: "identity", deployUploadPage: "false", keyDerivationSecret: SECRET },
      { secretKeys: ["keyDerivationSecret"] },
    );
    expect(
      noPage.resources
        .filter((r) => r.type === STORAGE_ACCOUNT)
        .map((r) => r.name)
        .sort(),
    ).toEqual(["credentials", "uploads"]);
  });

  test.each([
    [{ signing: "keyless" }, /^valet:signing must be one of accountKey, identity/],
    [{ signing: "identity", signingKey: "key2" }, /^valet:signingKey names the account key .* remove it/],
    [
      { signing: "identity" },
      /^valet:keyDerivationSecret is not set: .*resume secrets.*openssl rand -base64 32/,
    ],
    [
      { signing: "identity", turnstileSiteKey: "0x4AAAAAAAsite", turnstileSecretKey: "0x4AAAAAAAsecret" },
      /^valet:keyDerivationSecret is not set: .*openssl rand -base64 32/,
    ],
    [{ keyDerivationSecret: SECRET }, /^valet:keyDerivationSecret is only for valet:signing identity/],
  ])("%j is refused with a StackConfigError naming the key", async (config, message) => {
    const error = await runProgram(config, {
      secretKeys: ["turnstileSecretKey", "keyDerivationSecret"],
    }).then(
      () => undefined,
      (caught: unknown) => caught as Error,
    );
    expect(error?.name).toBe("StackConfigError");
    expect(error?.message).toMatch(message);
    expect(error?.message).not.toContain(SECRET);
  });
});
