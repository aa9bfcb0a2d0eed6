// The whole flow on loopback: Azurite's blob service (with the private container and CORS rule), its table
// service (the issuance limits' counts and the uploads' outcomes), its queue service (the upload events, put
// there by the Event Grid stand-in) and the function host, sharing one set of settings. Used by `npm start`
// and by the tests.
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Environment, SETTING } from "../function/contract/appSettings";
import { UPLOADS_CREATED_QUEUE } from "../function/contract/check";
import { EVENTS_SETTING } from "../function/contract/completionEvents";
import { MALWARE_SCAN_RESULTS_QUEUE, MALWARE_SETTING } from "../function/contract/malwareScanning";
import { CREDENTIALS_ROUTE, UPLOAD_STATUS_ROUTE } from "../function/contract/routes";
import type { SigningMode } from "../function/contract/signingMode";
import { configureInstance, loadInstance } from "../function/platform/instance";
import {
  type AzuriteExitedError,
  emulatorConnectionString,
  startAzurite,
  startAzuriteQueues,
  startAzuriteTables,
} from "./azurite";
import { type EventMessageForm, startBlobCreatedStandIn } from "./eventGrid";
import { type EventGridTopicStandIn, startEventGridTopicStandIn } from "./eventGridTopic";
import { startFunctionHost } from "./functionHost";
import { type IssuerStandIn, startIssuerStandIn } from "./issuer";
import { localIdentityCredential } from "./localIdentity";
import { type MalwareScannerStandIn, startMalwareScannerStandIn } from "./malwareScanner";
import type { QueueBehaviour } from "./queueRunner";
import { prepareCheckStorage, prepareLimitsTable, prepareUploadsStorage } from "./storage";
import { assertTrusted, ensureLocalCertificate, type LocalCertificate } from "./tls";
import { buildLocalPage, startWebServer } from "./web";

export interface LocalStackOptions {
  host?: string;
  blobPort: number;
  tablePort: number;
  queuePort: number;
  functionPort: number;
  allowedOrigins: readonly string[];
  /** Azurite's data folder. */
  dataDir: string;
  /** App settings for the function beyond the uploads account's, which point at Azurite. */
  appSettings?: Environment;
  /**
   * `identity`: the blob service runs over HTTPS with `certificate` and accepts bearer tokens, and the
   * function signs keyless with a local stand-in for Entra ID (localIdentity.ts). This process must trust
   * the certificate from its start (NODE_EXTRA_CA_CERTS). Default `accountKey`.
   */
  signing?: SigningMode;
  certificate?: LocalCertificate;
  log?: (line: string) => void;
  portVariables?: { blob?: string; table?: string; queue?: string; function?: string; web?: string };
  /** The queue trigger's behaviour, where a test needs it quicker than the host's defaults. */
  queueBehaviour?: Partial<QueueBehaviour>;
  /**
   * Whether stored uploads are checked (true unless set): the Event Grid stand-in turns them into events.
   * Tests of the tokens alone turn it off, so that what they upload stays in the inbox while they look at it.
   */
  checkUploads?: boolean;
  /** The form the Event Grid stand-in writes events in (both are reported from Azure); base64 by default. */
  eventMessageForm?: EventMessageForm;
  /**
   * Also serve the upload page on `port`, built (with its config.json) into `dir`, or, without one, into
   * a folder of this stack's own, removed when it stops: two stacks never share a build.
   */
  web?: { port: number; dir?: string; turnstile?: { siteKey: string; scriptUrl?: string } };
  /**
   * Sign-in: an OpenID Connect issuer stand-in (issuer.ts) runs on loopback, on `port` (any free one without),
   * the function requires its tokens, and the page asks it for one. Off unless given.
   */
  signIn?: { port?: number };
  /**
   * A front before the blob service (the benchmark's network shaper): given Azurite's port, it returns the
   * blob service URL tokens name instead, so every request a client sends to storage passes through it.
   */
  blobFront?: (blobPort: number) => Promise<string>;
  /**
   * Completion events (docs/events.md): an Event Grid topic stand-in (eventGridTopic.ts) the function
   * publishes to, delivering to `webhookUrl` when given. Off unless given.
   */
  completionEvents?: {
    webhookUrl?: string;
    retryDelaysMs?: readonly number[];
    maxDeliveryAttempts?: number;
  };
  /**
   * The malware scanning gate (MALWARE_SCANNING=true) with a scanner stand-in (malwareScanner.ts) that reports
   * each upload's result after `delayMs`. Off unless given.
   */
  malwareScanning?: { delayMs?: number };
  /** Origins the function host allows beyond allowedOrigins, which the blob service does not. */
  functionOnlyOrigins?: readonly string[];
  /**
   * Called at once if any Azurite service exits on its own after the stack has started. The stack is then already
   * stopping the rest, so no token is issued for a store that is gone; `stopped` says when it is done.
   */
  onFailure?: (error: AzuriteExitedError, stopped: Promise<void>) => void;
}

export interface LocalStack {
  /** The origins the blob service and the function allow: those given, and the page's own when it is served. */
  readonly allowedOrigins: readonly string[];
  /** The blob service URL tokens name: the front's, when there is one. */
  readonly blobServiceUrl: string;
  /** Azurite's own account-key connection string, without the front: for preparing and inspecting storage, in either mode. */
  readonly connectionString: string;
  readonly signing: SigningMode;
  /** Azurite's table service, holding the issuance limits' counts. */
  readonly tableServiceUrl: string;
  readonly tablesConnectionString: string;
  /** Azurite's queue service, where the upload events wait for the check. */
  readonly queueServiceUrl: string;
  /** The check's queue and outcomes table (the value of VALIDATION_STORAGE). */
  readonly checkConnectionString: string;
  readonly container: string;
  readonly verifiedContainer: string;
  readonly apiUrl: string;
  readonly credentialsUrl: string;
  /** The status endpoint's URL for one upload. */
  statusUrl(blobName: string): string;
  /** Resolves once every blob written so far has had its event and the check has run on it. */
  checksSettled(): Promise<void>;
  /** The upload page's URL, when the stack serves it. */
  readonly pageUrl?: string;
  /** The issuer stand-in, when the stack requires sign-in. */
  readonly issuer?: IssuerStandIn;
  /** The Event Grid topic stand-in, when completion events are on. */
  readonly eventsTopic?: EventGridTopicStandIn;
  /** Where the topic stand-in appends the events it gave up delivering. */
  readonly eventsDeadLetterFile?: string;
  /** The malware scanner stand-in, when the scanning gate is on. */
  readonly malwareScanner?: MalwareScannerStandIn;
  /** The folder the page was built into, when the stack serves it. */
  readonly pageDir?: string;
  stop(): Promise<void>;
}

export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const started: Array<{ stop(): Promise<void> }> = [];
  let stopped: Promise<void> | undefined;
  // One stop for every caller (a failure, Ctrl-C, a test), finished only when every part is.
  const stop = () => {
    stopped ??= Promise.all(started.map((part) => part.stop())).then(() => undefined);
    return stopped;
  };
  try {
    // Both services keep their files in the one data folder, each on its own port.
    const service = (port: number, portVariable?: string) => ({
      host: options.host,
      port,
      location: options.dataDir,
      portVariable,
    });
    const allowedOrigins = withPageOrigin(options);
    const signing = options.signing ?? "accountKey";
    const tls = signing === "identity" ? trustedCertificate(options.certificate) : undefined;
    const azurite = await startAzurite({ ...service(options.blobPort, options.portVariables?.blob), tls });
    started.push(azurite);
    const tables = await startAzuriteTables(service(options.tablePort, options.portVariables?.table));
    started.push(tables);
    const queues = await startAzuriteQueues(service(options.queuePort, options.portVariables?.queue));
    started.push(queues);
    await prepareLimitsTable(tables.connectionString);
    const front = options.blobFront ? await options.blobFront(options.blobPort) : undefined;
    // Keyless, the function is given the account's URL and no key at all.
    const {
      [SETTING.connectionString]: _,
      [SETTING.accountUrl]: __,
      ...otherSettings
    } = options.appSettings ?? {};
    const issuer = options.signIn
      ? await startIssuerStandIn({ host: options.host, port: options.signIn.port })
      : undefined;
    if (issuer) started.push(issuer);
    const eventsDeadLetterFile = join(options.dataDir, "events-deadletter.jsonl");
    const eventsTopic = options.completionEvents
      ? await startEventGridTopicStandIn({
          host: options.host,
          // HTTPS, as Event Grid's endpoint: the publisher sends the app's token, which the SDK sends over TLS only.
          certificate: options.certificate ?? (await ensureLocalCertificate(join(options.dataDir, "tls"))),
          webhookUrl: options.completionEvents.webhookUrl,
          retryDelaysMs: options.completionEvents.retryDelaysMs,
          maxDeliveryAttempts: options.completionEvents.maxDeliveryAttempts,
          deadLetterFile: eventsDeadLetterFile,
          log: options.log,
        })
      : undefined;
    if (eventsTopic) started.push(eventsTopic);
    const checkConnectionString = emulatorConnectionString({
      queue: queues.queueServiceUrl,
      table: tables.tableServiceUrl,
    });
    const appSettings = {
      ...otherSettings,
      ...(signing === "identity"
        ? {
            // The front only relays bytes, so the account's URL keeps its https and takes the front's host.
            [SETTING.accountUrl]: front
              ? throughFront(azurite.blobServiceUrl, front)
              : azurite.blobServiceUrl,
            // Resume secrets and human passes are signed with keys derived from it: one per stack.
            [SETTING.keyDerivationSecret]:
              otherSettings[SETTING.keyDerivationSecret] ?? randomBytes(32).toString("base64"),
          }
        : {
            [SETTING.connectionString]: front
              ? behindFront(azurite.connectionString, azurite.blobServiceUrl, front)
              : azurite.connectionString,
          }),
      [SETTING.limitsStorage]: tables.connectionString,
      [SETTING.validationStorage]: checkConnectionString,
      ...(issuer && { [SETTING.authIssuer]: issuer.issuer, [SETTING.authAudience]: issuer.audience }),
      ...(eventsTopic && { [EVENTS_SETTING.topicEndpoint]: eventsTopic.endpoint }),
      ...(options.malwareScanning && { [MALWARE_SETTING.scanning]: "true" }),
    };
    // The function host runs in this process: the function reads these settings instead of the
    // environment. They are checked here, as the Functions host would at start-up, and the storage is
    // prepared for the very container and access policies the function will use.
    configureInstance(appSettings, {
      ...(signing === "identity" && { uploadsCredential: localIdentityCredential() }),
      // The topic stand-in's token and certificate: the app's identity and Event Grid's CA in Azure.
      ...(eventsTopic && {
        events: { credential: localIdentityCredential(), trustedCa: eventsTopic.certificatePem },
      }),
    });
    // Every setting an instance reads as it starts (function/index.ts), so that a bad one stops the stack
    // before anything listens, rather than answering every request with 500.
    const { settings, signer } = loadInstance();
    const { container, issuanceLimits } = settings;
    await prepareUploadsStorage(azurite.connectionString, container, allowedOrigins);
    const { verifiedContainer } = settings.check;
    await prepareCheckStorage(azurite.connectionString, checkConnectionString, verifiedContainer);
    // Before tokens can be issued, so that every upload through this stack has its event.
    const events =
      options.checkUploads === false
        ? undefined
        : await startBlobCreatedStandIn({
            blobConnectionString: azurite.connectionString,
            container,
            queueConnectionString: checkConnectionString,
            queueName: UPLOADS_CREATED_QUEUE,
            messageForm: options.eventMessageForm,
            log: options.log,
          });
    if (events) started.push(events);
    const malwareScanner = options.malwareScanning
      ? await startMalwareScannerStandIn({
          blobConnectionString: azurite.connectionString,
          container,
          queueConnectionString: checkConnectionString,
          queueName: MALWARE_SCAN_RESULTS_QUEUE,
          delayMs: options.malwareScanning.delayMs,
          log: options.log,
        })
      : undefined;
    if (malwareScanner) started.push(malwareScanner);
    // As a starting instance in Azure does (function/index.ts), but awaited: tokens work from the start.
    const policies = await signer.prepare();
    if (policies.kind === "refused") throw policies.error;
    if (policies.kind === "unverified") {
      throw new Error(`The uploads container's access policies could not be set: ${policies.reason}.`);
    }
    // Keyless: the first user delegation key, fetched before the first request, as Azure's instances do.
    await signer.warmUp();
    const host = await startFunctionHost({
      host: options.host,
      port: options.functionPort,
      allowedOrigins: [...allowedOrigins, ...(options.functionOnlyOrigins ?? [])],
      log: options.log,
      portVariable: options.portVariables?.function,
      queues: { connections: appSettings, behaviour: options.queueBehaviour },
    });
    started.push(host);
    const credentialsUrl = `${host.apiUrl}/${CREDENTIALS_ROUTE}`;
    let pageUrl: string | undefined;
    let pageDir = options.web?.dir;
    if (options.web) {
      if (pageDir === undefined) {
        const ownDir = await mkdtemp(join(tmpdir(), "valet-page-"));
        started.push({ stop: () => rm(ownDir, { recursive: true, force: true }) });
        pageDir = ownDir;
      }
      buildLocalPage(pageDir, credentialsUrl, issuanceLimits, options.web.turnstile, issuer?.tokenUrl);
      const web = await startWebServer({
        host: options.host,
        port: options.web.port,
        root: pageDir,
        portVariable: options.portVariables?.web,
      });
      started.push(web);
      pageUrl = web.url;
    }
    // Stopping beats restarting: what killed Azurite (a full disk, a damaged data folder, another
    // process) would most likely kill it again, and a stack that quietly restarts hides the fault.
    void Promise.race([
      azurite.exitedUnexpectedly,
      tables.exitedUnexpectedly,
      queues.exitedUnexpectedly,
    ]).then((error) => {
      if (!stopped) options.onFailure?.(error, stop());
    });
    return {
      allowedOrigins,
      blobServiceUrl: settings.uploads.blobServiceUrl,
      connectionString: azurite.connectionString,
      signing,
      tableServiceUrl: tables.tableServiceUrl,
      tablesConnectionString: tables.connectionString,
      queueServiceUrl: queues.queueServiceUrl,
      checkConnectionString,
      container,
      verifiedContainer,
      ...(issuer && { issuer }),
      ...(eventsTopic && { eventsTopic, eventsDeadLetterFile }),
      ...(malwareScanner && { malwareScanner }),
      apiUrl: host.apiUrl,
      credentialsUrl,
      // A signed-in upload's name has its owner's segment first: each segment is encoded, the slash kept.
      statusUrl: (blobName) =>
        `${host.apiUrl}/${UPLOAD_STATUS_ROUTE.replace("{blobName}", blobName.split("/").map(encodeURIComponent).join("/"))}`,
      checksSettled: async () => {
        await events?.scan();
        await malwareScanner?.scan();
        await host.queuesIdle();
      },
      pageUrl,
      pageDir,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * The origins given, plus the page's own when the stack serves it: the page on any port can upload, as the
 * deployed page's origin is always in the deployment's CORS rule (infra/index.ts, `pageOrigin`).
 */
export function withPageOrigin(
  options: Pick<LocalStackOptions, "allowedOrigins" | "host" | "web">,
): string[] {
  const origins = [...options.allowedOrigins];
  if (options.web) {
    const pageOrigin = `http://${options.host ?? "127.0.0.1"}:${options.web.port}`;
    if (!origins.includes(pageOrigin)) origins.push(pageOrigin);
  }
  return origins;
}

/** The certificate keyless mode serves, once this process is known to trust it. */
function trustedCertificate(certificate: LocalCertificate | undefined): LocalCertificate {
  if (!certificate) throw new Error("Keyless signing needs the local HTTPS certificate (local/tls.ts).");
  assertTrusted(certificate);
  return certificate;
}

/** `url` with the host and port of `frontUrl`, keeping its own protocol and path. */
function throughFront(url: string, frontUrl: string): string {
  const moved = new URL(url);
  moved.host = new URL(frontUrl).host;
  return moved.toString().replace(/\/$/, "");
}

/**
 * The connection string with its blob endpoint moved to `frontUrl` (a proxy on another port), keeping the
 * account's path: the function then hands out URLs through the front.
 */
export function behindFront(connectionString: string, blobServiceUrl: string, frontUrl: string): string {
  const shaped = connectionString.replace(
    `BlobEndpoint=${blobServiceUrl}`,
    `BlobEndpoint=${throughFront(blobServiceUrl, frontUrl)}`,
  );
  if (shaped === connectionString) {
    throw new Error("the connection string names no BlobEndpoint to move behind the front");
  }
  return shaped;
}
