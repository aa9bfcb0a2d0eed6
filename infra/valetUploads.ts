// valet as one Pulumi component: the uploads storage with its browser CORS rule, the Flex Consumption
// Function App that issues SAS tokens and checks every upload, its code (built and published through
// OneDeploy), the events that bring each new upload to the check, its logs, and optionally the upload page.
// A caller gives a resource group and, optionally, any of the stack's options (docs/deploying.md, "Stack
// config", names them; the arguments carry the same names and defaults). The repository's own program
// (infra/index.ts) is one caller; examples/ holds another.
// https://www.pulumi.com/docs/iac/concepts/components/
import { existsSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { DEFAULT_VERIFIED_CONTAINER } from "../function/contract/check";
import { type PageConfig, pageConfig } from "../web/config";
import { functionAppSettings } from "./appSettings";
import { CompletionEvents } from "./completionEvents";
import { type ConfigSource, loadStackConfig } from "./config";
import { FunctionDeployment } from "./deploy";
import { UploadEvents } from "./events";
import { FunctionApp } from "./functionApp";
import { MalwareScanning, malwareScanningAppSettings } from "./malwareScanning";
import { Monitoring } from "./monitoring";
import { buildFunctionPackage, type FunctionPackage } from "./package";
import { PREBUILT_DIR } from "./packageRoot";
import { type Signing, signingPlan } from "./signing";
import { PageStorage, UploadPage } from "./site";
import { UploadsStorage } from "./storage";

/** The component's type token: `<package>:<module>:<type>`. */
export const VALET_UPLOADS_TYPE = "valet:index:Uploads";

/** valet's options, each optional, named and defaulted as the stack config keys of docs/deploying.md. */
export interface ValetOptions {
  /** Origins (`https://host[:port]`) whose pages may upload; the upload page's own is added when deployed. */
  readonly allowedOrigins?: readonly string[];
  /** Lets `"*"` be among allowedOrigins. */
  readonly allowAnyOrigin?: boolean;
  /**
   * The origin of a site of yours that calls valet from the browser, known only once deployed (a static
   * website's endpoint, say): allowed like allowedOrigins.
   */
  readonly siteOrigin?: pulumi.Input<string>;
  /** Deploy valet's own upload page (default true). */
  readonly deployUploadPage?: boolean;
  /** The inbox container (default `images`). */
  readonly container?: string;
  readonly tokenLifetimeMinutes?: number;
  readonly uploadTokenLifetimeMinutes?: number;
  readonly allowedContentTypes?: readonly string[];
  readonly maxUploadBytes?: number;
  readonly containerTokensEnabled?: boolean;
  readonly bindTokenToClientIp?: boolean;
  readonly tokenGeneration?: number;
  /** How tokens are signed (default: the account key `key1`). */
  readonly signing?: Signing;
  readonly issuanceRatePerMinute?: number;
  readonly issuanceBurst?: number;
  readonly dailyUploadBytesPerClient?: number;
  readonly dailyUploadBytesPerOwner?: number;
  readonly maximumInstanceCount?: number;
  readonly instanceMemoryMB?: number;
  readonly softDeleteRetentionDays?: number;
  readonly inboxRetentionDays?: number;
  readonly maxImagePixels?: number;
  readonly photos?: {
    readonly quality?: number;
    readonly renditionQuality?: number;
    readonly feedSize?: number;
    readonly thumbnailSize?: number;
  };
  readonly logRetentionDays?: number;
  /** The human check: Turnstile's site key (given to the page) and secret key (a secret app setting). */
  readonly turnstile?: { readonly siteKey: string; readonly secretKey: pulumi.Input<string> };
  /** Who hears of each verdict (docs/events.md): a webhook and/or a queue on the runtime account. */
  readonly events?: { readonly webhookUrl?: string; readonly storageQueue?: boolean };
  /** Defender for Storage's malware scanning gate (docs/security.md#malware-scanning); off by default. */
  readonly malwareScanning?: { readonly enabled?: boolean; readonly capGBPerMonth?: number };
  /** Sign-in: every endpoint then requires a bearer token from this OpenID Connect issuer. */
  readonly auth?: {
    readonly issuer: string;
    readonly audiences: readonly string[];
    readonly ownerClaim?: string;
    readonly algorithms?: readonly string[];
  };
}

export interface ValetUploadsArgs extends ValetOptions {
  /** The resource group valet's resources go in: yours, created or looked up by your program. */
  readonly resourceGroupName: pulumi.Input<string>;
  /** Their region: one that offers Flex Consumption. */
  readonly location: pulumi.Input<string>;
  /**
   * Where the function's package is written on every run, and read from by the OneDeploy provider at
   * `pulumi up`. Default: a folder under the OS's temporary directory, per project, stack and component.
   */
  readonly buildDir?: string;
  /**
   * The function's code and the page, when the caller builds them (the repository's program does, from its
   * sources); by default those the installed package carries, built by `npm run build:lib`. Called only
   * when needed: the page only when it is deployed.
   */
  readonly artifacts?: ValetArtifacts;
  /**
   * How errors name an option, given its stack config key (docs/deploying.md): by default the argument,
   * `ValetUploads "<name>" photos.quality`. A program that reads its options from stack config names its keys.
   */
  readonly optionName?: (key: string) => string;
}

export interface ValetArtifacts {
  functionPackage(): FunctionPackage;
  /** A folder holding the built page (index.html, app.js, styles.css). */
  uploadPageDir(): string;
}

/**
 * The whole of valet as one component. Its children keep the logical names the repository's stack gave
 * them before there was a component, with the stack as their former parent in `aliases`, so that a stack
 * deployed from the repository keeps every resource: the engine treats the old URN as the new one's, and
 * children of children inherit their parent's aliases. One ValetUploads per stack, then: those names are
 * fixed.
 * https://www.pulumi.com/docs/iac/operations/stack-management/refactoring-with-aliases/
 * https://www.pulumi.com/docs/iac/concepts/resources/options/aliases/
 */
export class ValetUploads extends pulumi.ComponentResource {
  /** The token endpoint: https://<host>/api/credentials */
  readonly credentialsUrl: pulumi.Output<string>;
  /** The uploads account's blob service URL, without a trailing slash. */
  readonly blobServiceUrl: pulumi.Output<string>;
  /** The inbox container, where uploads land. */
  readonly container: pulumi.Output<string>;
  /** Where accepted images are: private, read with the account's credentials. */
  readonly verifiedContainer: pulumi.Output<string>;
  readonly functionAppName: pulumi.Output<string>;
  /** The upload page's address; undefined when it is not deployed. */
  readonly uploadPageUrl: pulumi.Output<string> | undefined;
  readonly functionPackageSha256: pulumi.Output<string>;
  /** Every origin the uploads account's CORS rule and the Function App allow. */
  readonly allowedOrigins: pulumi.Output<string[]>;
  /** Secret: the uploads account's connection string, for running the function locally. Account-key mode only. */
  readonly uploadsConnectionString: pulumi.Output<string> | undefined;
  /** The completion events' Event Grid topic: subscribe to it for each verdict (docs/events.md). */
  readonly eventsTopicId: pulumi.Output<string>;
  readonly eventsTopicEndpoint: pulumi.Output<string>;
  /** Whether malware scanning is on, and then the topic Defender sends scan results to. */
  readonly malwareScanning: pulumi.Output<{ enabled: boolean; resultsTopicId?: string }>;

  constructor(name: string, args: ValetUploadsArgs, opts?: pulumi.ComponentResourceOptions) {
    super(VALET_UPLOADS_TYPE, name, {}, opts);
    // The arguments meet the stack config's own rules and defaults, with errors naming the argument.
    const optionName = args.optionName ?? ((key: string) => argumentName(name, key));
    const options = loadStackConfig(optionsSource(name, args, optionName));
    const { resourceGroupName, location } = args;
    const buildDir =
      args.buildDir ?? path.join(os.tmpdir(), "valet", `${pulumi.getProject()}-${pulumi.getStack()}-${name}`);
    const artifacts = args.artifacts ?? packagedArtifacts(buildDir);
    // Each child answers to its URN from before the component existed, when the stack was its parent.
    const child: pulumi.ComponentResourceOptions = {
      parent: this,
      aliases: [{ parent: pulumi.rootStackResource }],
    };

    // How tokens are signed decides what the uploads account allows, the app's roles and settings, and
    // where the page is served from: chosen once (infra/signing.ts).
    const signing = signingPlan(options.signing);

    // Keyless, the page is served by an account of its own: the uploads account takes no Shared Key, and
    // azure-native uploads the page's files with one (infra/site.ts).
    const pageStorage =
      signing.pageNeedsOwnAccount && options.deployUploadPage
        ? new PageStorage("site", { resourceGroupName, location }, child)
        : undefined;

    // Storage the browser uploads to (the inbox), and the verified container the check copies accepted
    // images to. The page's origin joins the configured CORS origins when the page is deployed.
    const uploads = new UploadsStorage(
      "uploads",
      {
        resourceGroupName,
        location,
        container: options.container,
        verifiedContainer: DEFAULT_VERIFIED_CONTAINER,
        inboxRetentionDays: options.inboxRetentionDays,
        allowedOrigins: options.allowedOrigins,
        originsSource: optionName("allowedOrigins"),
        allowWebsiteOrigin: options.deployUploadPage,
        pageOrigin: pageStorage?.websiteOrigin,
        ...(args.siteOrigin !== undefined && { siteOrigin: args.siteOrigin }),
        softDeleteRetentionDays: options.softDeleteRetentionDays,
        signing,
      },
      child,
    );

    const scanning = options.malwareScanning;
    // Where the check tells the application's backend of each verdict (docs/events.md).
    const completionEvents = new CompletionEvents("completions", { resourceGroupName, location }, child);

    const monitoring = new Monitoring(
      "monitoring",
      { resourceGroupName, location, retentionDays: options.logRetentionDays },
      child,
    );

    // The function that signs tokens, configured from the storage's outputs and the issuance limits.
    const functionApp = new FunctionApp(
      "credentials",
      {
        resourceGroupName,
        location,
        allowedOrigins: uploads.corsOrigins,
        maximumInstanceCount: options.maximumInstanceCount,
        instanceMemoryMB: options.instanceMemoryMB,
        applicationInsightsConnectionString: monitoring.connectionString,
        // Keyless: the app's identity gets its roles on the account and its containers (infra/signing.ts).
        uploadsAccess: {
          roles: signing.uploadsRoles,
          scopes: {
            account: uploads.accountId,
            inbox: uploads.containerId,
            verified: uploads.verifiedContainerId,
          },
        },
        appSettings: {
          ...functionAppSettings(options, uploads, signing),
          ...completionEvents.appSettings,
          ...malwareScanningAppSettings(scanning),
        },
      },
      child,
    );

    // The app publishes completion events; Event Grid delivers them to the configured subscribers.
    completionEvents.deliver("completions", {
      ...options.events,
      publisherIdentity: functionApp.app.identity,
      runtimeAccount: functionApp.runtimeAccount,
    });

    // Its code: built on every run, published through OneDeploy when the package's hash changes, once the
    // app's identity can write the deployment container.
    const deployment = new FunctionDeployment(
      "credentials",
      { functionApp, resourceGroupName, package: artifacts.functionPackage() },
      child,
    );

    // Each blob created in the inbox becomes a message on the app's queue, which triggers the check.
    const uploadEvents = new UploadEvents(
      "uploads-created",
      {
        resourceGroupName,
        location,
        uploadsAccountId: uploads.account.id,
        inboxContainer: uploads.containerName,
        queueAccount: functionApp.runtimeAccount,
        queue: functionApp.uploadsCreatedQueue,
        // The subscription is made once the code is published: the publish itself waits out the propagation
        // of the app's new role (infra/deploy/), minutes in which the topic's roles, assigned meanwhile, take
        // effect too; and events then reach a queue whose function exists.
        subscribeAfter: [deployment],
      },
      child,
    );

    // Opt-in: Defender for Storage scans each upload, and the check waits for its result.
    const malwareScanning = new MalwareScanning(
      "malware-scanning",
      {
        ...scanning,
        resourceGroupName,
        location,
        uploadsAccountId: uploads.account.id,
        runtimeAccount: functionApp.runtimeAccount,
        appIdentity: functionApp.app.identity,
        uploadsSystemTopic: uploadEvents.systemTopic,
      },
      { parent: this },
    );

    // The upload page, served by a static website (the uploads account's, or keyless the page account's)
    // and pointed at the deployed function. Its origin is already among the CORS origins.
    const page = options.deployUploadPage
      ? new UploadPage(
          "upload-page",
          {
            resourceGroupName,
            accountName: pageStorage?.accountName ?? uploads.accountName,
            config: functionApp.credentialsUrl.apply(
              (apiUrl): PageConfig =>
                pageConfig(apiUrl, options, options.turnstile && { siteKey: options.turnstile.siteKey }),
            ),
            siteDir: artifacts.uploadPageDir(),
          },
          child,
        )
      : undefined;

    this.credentialsUrl = functionApp.credentialsUrl;
    this.blobServiceUrl = uploads.blobServiceUrl;
    this.container = uploads.containerName;
    this.verifiedContainer = uploads.verifiedContainerName;
    this.functionAppName = functionApp.name;
    this.uploadPageUrl = page?.url;
    this.functionPackageSha256 = deployment.packageSha256;
    this.allowedOrigins = uploads.corsOrigins;
    this.uploadsConnectionString = uploads.connectionString;
    this.eventsTopicId = completionEvents.topicId;
    this.eventsTopicEndpoint = completionEvents.endpoint;
    this.malwareScanning = malwareScanning.summary;
    this.registerOutputs({
      credentialsUrl: this.credentialsUrl,
      blobServiceUrl: this.blobServiceUrl,
      container: this.container,
      verifiedContainer: this.verifiedContainer,
      functionAppName: this.functionAppName,
      uploadPageUrl: this.uploadPageUrl,
      functionPackageSha256: this.functionPackageSha256,
      allowedOrigins: this.allowedOrigins,
      uploadsConnectionString: this.uploadsConnectionString,
      eventsTopicId: this.eventsTopicId,
      eventsTopicEndpoint: this.eventsTopicEndpoint,
    });
  }
}

/**
 * What the installed package carries, built by `npm run build:lib` (lib/artifacts/): the function's bundle,
 * zipped here with its native packages, and the built page. The package has no sources to build them from.
 */
function packagedArtifacts(buildDir: string): ValetArtifacts {
  const prebuilt = (name: string) => {
    const dir = path.join(PREBUILT_DIR, name);
    if (!existsSync(dir)) {
      throw new pulumi.RunError(
        `valet's prebuilt ${name} (${dir}) is missing: install a packed valet (npm pack runs build:lib), or ` +
          "give ValetUploads its artifacts.",
      );
    }
    return dir;
  };
  return {
    functionPackage: () => buildFunctionPackage(buildDir, { prebuiltDir: prebuilt("function") }),
    uploadPageDir: () => prebuilt("web"),
  };
}

/** Where each option sits in the stack config's flat keys, for the arguments under another name. */
const ARGUMENT_OF_KEY: Readonly<Record<string, string>> = {
  photoQuality: "photos.quality",
  renditionQuality: "photos.renditionQuality",
  feedSize: "photos.feedSize",
  thumbnailSize: "photos.thumbnailSize",
  signingKey: "signing.signingKey",
  keyDerivationSecret: "signing.keyDerivationSecret",
  turnstileSiteKey: "turnstile.siteKey",
  turnstileSecretKey: "turnstile.secretKey",
  authIssuer: "auth.issuer",
  authAudience: "auth.audiences",
  authOwnerClaim: "auth.ownerClaim",
  authAlgorithms: "auth.algorithms",
  eventsWebhookUrl: "events.webhookUrl",
  eventsStorageQueue: "events.storageQueue",
};

/** How an error names an argument: `ValetUploads "valet" photos.quality`. */
function argumentName(name: string, key: string): string {
  return `ValetUploads ${JSON.stringify(name)} ${ARGUMENT_OF_KEY[key] ?? key}`;
}

/**
 * The arguments as the stack config would hold them (text, lists as JSON), so that loadStackConfig checks
 * them with the stack's rules and fills in the stack's defaults: one set of rules for both.
 */
function optionsSource(name: string, args: ValetOptions, optionName: (key: string) => string): ConfigSource {
  const text = (value: string | number | boolean | undefined) =>
    value === undefined ? undefined : String(value);
  const list = (values: readonly string[] | undefined) =>
    values === undefined ? undefined : JSON.stringify(values);
  const signing = args.signing;
  const values: Record<string, string | undefined> = {
    allowedOrigins: list(args.allowedOrigins),
    allowAnyOrigin: text(args.allowAnyOrigin),
    deployUploadPage: text(args.deployUploadPage),
    container: args.container,
    tokenLifetimeMinutes: text(args.tokenLifetimeMinutes),
    uploadTokenLifetimeMinutes: text(args.uploadTokenLifetimeMinutes),
    allowedContentTypes: list(args.allowedContentTypes),
    maxUploadBytes: text(args.maxUploadBytes),
    containerTokensEnabled: text(args.containerTokensEnabled),
    bindTokenToClientIp: text(args.bindTokenToClientIp),
    tokenGeneration: text(args.tokenGeneration),
    signing: signing?.mode,
    signingKey: signing?.mode === "accountKey" ? signing.signingKey : undefined,
    issuanceRatePerMinute: text(args.issuanceRatePerMinute),
    issuanceBurst: text(args.issuanceBurst),
    dailyUploadBytesPerClient: text(args.dailyUploadBytesPerClient),
    dailyUploadBytesPerOwner: text(args.dailyUploadBytesPerOwner),
    maximumInstanceCount: text(args.maximumInstanceCount),
    instanceMemoryMB: text(args.instanceMemoryMB),
    softDeleteRetentionDays: text(args.softDeleteRetentionDays),
    inboxRetentionDays: text(args.inboxRetentionDays),
    maxImagePixels: text(args.maxImagePixels),
    photoQuality: text(args.photos?.quality),
    renditionQuality: text(args.photos?.renditionQuality),
    feedSize: text(args.photos?.feedSize),
    thumbnailSize: text(args.photos?.thumbnailSize),
    logRetentionDays: text(args.logRetentionDays),
    turnstileSiteKey: args.turnstile?.siteKey,
    authIssuer: args.auth?.issuer,
    authAudience: args.auth?.audiences.join(","),
    authOwnerClaim: args.auth?.ownerClaim,
    authAlgorithms: args.auth?.algorithms?.join(","),
    eventsWebhookUrl: args.events?.webhookUrl,
    eventsStorageQueue: text(args.events?.storageQueue),
    malwareScanning: text(args.malwareScanning?.enabled),
    malwareScanCapGBPerMonth: text(args.malwareScanning?.capGBPerMonth),
  };
  const secrets: Record<string, pulumi.Input<string> | undefined> = {
    keyDerivationSecret: signing?.mode === "identity" ? signing.keyDerivationSecret : undefined,
    turnstileSecretKey: args.turnstile?.secretKey,
  };
  return {
    name: `ValetUploads ${JSON.stringify(name)}`,
    keyName: optionName,
    get: (key) => values[key],
    getSecret: (key) => {
      const secret = secrets[key];
      return secret === undefined ? undefined : pulumi.secret(secret);
    },
  };
}
