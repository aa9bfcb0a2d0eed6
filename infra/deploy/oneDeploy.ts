// Publishes a function package through OneDeploy, the only code deployment a Flex Consumption app accepts
// (no WEBSITE_RUN_FROM_PACKAGE, no /api/zipdeploy), and waits for the platform to report the outcome.
// https://learn.microsoft.com/azure/azure-functions/functions-deployment-technologies#one-deploy
// https://learn.microsoft.com/azure/azure-functions/flex-consumption-how-to#deploy-your-code-project
//
// Everything here is plain functions over globals (fetch, URL, setTimeout): the Pulumi dynamic provider in
// deploy.ts captures publishPackage, and Pulumi serializes it, and every module-level function it calls,
// into the provider process. Regular expressions are written inside the functions that use them for the
// same reason: only functions and plain values travel.

export interface PublishOptions {
  /** The app's SCM (Kudu) host, e.g. `<app>-<hash>.scm.<region>.azurewebsites.net`. */
  scmHost: string;
  /** The zip to publish. */
  zip: Uint8Array;
  /** An Entra ID access token for Azure Resource Manager, sent as a Bearer token. */
  getToken: () => Promise<string>;
  /** Injected in tests; the global fetch by default. */
  fetch?: typeof fetch;
  /** `https` by default; `http` only for a local test double. */
  scheme?: "https" | "http";
  /** Pause between two status checks. */
  pollIntervalMs?: number;
  /** How long to wait for the deployment to finish before giving up. */
  timeoutMs?: number;
  /** How long to keep publishing again while the app's identity cannot yet write to its deployment container. */
  storageRetryMs?: number;
  /** First pause before a retry; doubled on each further retry, up to a minute. */
  retryDelayMs?: number;
  /** Retries of one request that met a transient failure (5xx, 408, 429, a broken connection). */
  transientRetries?: number;
  /** Recorded by the platform as the deployment's author. */
  deployer?: string;
  /** After a successful deployment, sync the app's triggers through ARM and wait until its functions are listed. */
  sync?: SyncOptions;
}

export interface SyncOptions {
  /** Azure Resource Manager's endpoint for the app's cloud, e.g. `https://management.azure.com`. */
  resourceManager: string;
  /** The app's resource id (`/subscriptions/…/providers/Microsoft.Web/sites/<app>`). */
  siteId: string;
  /** Every function the package registers: the publish is done once the app lists them all. */
  functionNames: readonly string[];
  /** How long to keep syncing and listing before failing the publish (5 minutes by default). */
  timeoutMs?: number;
}

export interface PublishResult {
  /** The platform's id for the deployment, when it reported one. */
  deploymentId?: string;
}

/** A failed publish: the message is the service's own (never a token or a key) and says what to do. */
export class PublishError extends Error {
  override name = "PublishError";
}

/**
 * The deployment failed because the app's identity could not yet write its package to the deployment
 * storage: its role assignment has not taken effect. Publishing again later succeeds.
 */
class StorageNotYetAuthorized extends Error {
  override name = "StorageNotYetAuthorized";
}

/**
 * Kudu's deployment states (`DeployStatus`), as `GET /api/deployments/<id>` reports them in `status`; azd
 * reads the same numbers from Flex Consumption apps, -1 being a cancelled deployment.
 * https://github.com/projectkudu/kudu/wiki/REST-API#deployment
 * https://github.com/Azure/azure-dev/blob/main/cli/azd/pkg/azsdk/funcapp_host_client.go (PublishStatus)
 */
const DEPLOY_STATUS: Readonly<Record<number, string>> = {
  [-1]: "was cancelled",
  0: "pending",
  1: "building",
  2: "deploying",
  3: "failed",
  4: "succeeded",
  5: "was cancelled: another deployment was in progress",
  6: "partially succeeded",
};
const DEPLOY_CANCELLED = -1;
const DEPLOY_FAILED = 3;
const DEPLOY_SUCCESS = 4;
const DEPLOY_FINAL_STATES = [-1, 3, 4, 5, 6];

/**
 * "Not found" answers tolerated while a new deployment's record appears; azd tolerates three.
 * https://github.com/Azure/azure-dev/blob/main/cli/azd/pkg/azsdk/funcapp_host_client.go (waitForDeployment)
 */
const MAX_NOT_FOUND = 5;

/**
 * Answers worth sending the same request again for: the statuses Azure SDK clients retry (azd's OneDeploy
 * client goes through azcore's pipeline, whose retry policy retries exactly these). 4xx answers that mean
 * a wrong request (400, 401, 403, 404, 409) are final.
 * https://github.com/Azure/azure-sdk-for-go/blob/main/sdk/azcore/policy/policy.go (RetryOptions.StatusCodes)
 */
const TRANSIENT_STATUS = [408, 429, 500, 502, 503, 504];

/** The longest pause between two attempts. */
const MAX_RETRY_DELAY_MS = 60_000;

/** One publish in progress: its settings, resolved once, and the tokens it sent (to redact them). */
interface Publication {
  scmHost: string;
  zip: Uint8Array;
  getToken: () => Promise<string>;
  fetch: typeof fetch;
  base: string;
  deployer: string;
  pollIntervalMs: number;
  retryDelayMs: number;
  transientRetries: number;
  /** Epoch ms after which polling gives up. */
  deadline: number;
  tokens: string[];
}

/**
 * `POST https://<scm host>/api/publish?RemoteBuild=false&Deployer=…` with the zip as the body, as Azure CLI
 * and azd do for Flex Consumption apps, then polls the deployment's status record. The package is already
 * built (one bundle, no node_modules), so no remote build.
 * https://github.com/Azure/azure-dev/issues/3658 (the Functions team's description of the endpoint)
 *
 * A new app's identity gets Storage Blob Data Owner on its deployment storage in the same `pulumi up`, and
 * role assignments take minutes to apply. On Flex the POST is then accepted and the deployment itself fails
 * with the storage's 403 (Azure/azure-functions-core-tools#4346): the whole publish is tried again, with
 * backoff, until the role holds or `storageRetryMs` (10 minutes by default) has passed.
 * https://github.com/Azure/azure-functions-core-tools/issues/4346
 * https://learn.microsoft.com/azure/role-based-access-control/troubleshooting#symptom---role-assignment-changes-are-not-being-detected
 */
export async function publishPackage(options: PublishOptions): Promise<PublishResult> {
  const publication: Publication = {
    scmHost: options.scmHost,
    zip: options.zip,
    getToken: options.getToken,
    fetch: options.fetch ?? fetch,
    base: `${options.scheme ?? "https"}://${options.scmHost}`,
    deployer: options.deployer ?? "valet-pulumi",
    pollIntervalMs: options.pollIntervalMs ?? 5_000,
    retryDelayMs: options.retryDelayMs ?? 5_000,
    transientRetries: options.transientRetries ?? 4,
    deadline: Date.now() + (options.timeoutMs ?? 20 * 60_000),
    tokens: [],
  };
  const storageDeadline = Date.now() + (options.storageRetryMs ?? 10 * 60_000);
  for (let attempt = 1; ; attempt++) {
    try {
      const result = await pollDeployment(publication, await postPackage(publication));
      if (options.sync) await syncTriggers(publication, options.sync);
      return result;
    } catch (error) {
      if (!(error instanceof StorageNotYetAuthorized)) throw error;
      if (Date.now() >= storageDeadline) {
        throw new PublishError(
          `The deployment to ${publication.scmHost} still could not write to the app's deployment storage ` +
            `after ${attempt} attempts (${error.message}). Check that the app's identity holds Storage Blob ` +
            "Data Owner on its runtime storage account, then run the deployment again.",
        );
      }
      await sleep(backoff(publication.retryDelayMs, attempt));
    }
  }
}

/**
 * ARM's API version for the site's sync and function list.
 * https://learn.microsoft.com/rest/api/appservice/web-apps/sync-function-triggers
 * https://learn.microsoft.com/rest/api/appservice/web-apps/list-functions
 */
const WEB_API_VERSION = "2024-04-01";

/**
 * Makes the platform know the new functions before anything depends on them. A deployment Kudu reports as
 * succeeded on Flex does not always sync triggers, and an unsynced queue trigger never wakes a
 * scaled-to-zero app: upload events would wait in the queue until they expire
 * (Azure/azure-functions-host#10169, Azure/functions-action#373, microsoft/azure-pipelines-tasks#22354; in the
 * first two, syncing again until the functions are listed is what works). So: `POST <site>/syncfunctiontriggers`, then `GET <site>/functions`,
 * again after a pause while any function of the package is missing, until `timeoutMs` has passed; each
 * request with the publish's transient-retry rules. Functions the app lists beyond the package's (Flex's
 * `WarmUp`) are ignored.
 * https://learn.microsoft.com/azure/azure-functions/functions-deployment-technologies#trigger-syncing
 * https://github.com/Azure/azure-functions-host/issues/10169
 * https://github.com/Azure/functions-action/issues/373
 * https://github.com/microsoft/azure-pipelines-tasks/issues/22354
 */
async function syncTriggers(publication: Publication, sync: SyncOptions): Promise<void> {
  const base = sync.resourceManager.replace(/\/+$/, "");
  const url = (action: string) => new URL(`${base}${sync.siteId}/${action}?api-version=${WEB_API_VERSION}`);
  const deadline = Date.now() + (sync.timeoutMs ?? 5 * 60_000);
  let missing = [...sync.functionNames];
  for (;;) {
    const synced = await send(publication, url("syncfunctiontriggers"), async () => ({
      method: "POST",
      headers: { Authorization: await authorization(publication), "Content-Length": "0" },
    }));
    if (!synced.ok) {
      throw new PublishError(
        `Syncing the triggers of ${sync.siteId} failed with HTTP ${synced.status}: ` +
          serviceMessage(publication, await synced.text()) +
          (synced.status === 401 || synced.status === 403
            ? " (the deploying identity needs a role such as Website Contributor on the function app)"
            : ""),
      );
    }
    await synced.body?.cancel();
    const listed = await send(publication, url("functions"), async () => ({
      method: "GET",
      headers: { Authorization: await authorization(publication), "Cache-Control": "no-cache" },
    }));
    const text = await listed.text();
    if (!listed.ok) {
      throw new PublishError(
        `Listing the functions of ${sync.siteId} failed with HTTP ${listed.status}: ${serviceMessage(publication, text)}`,
      );
    }
    const names = listedFunctionNames(text);
    missing = sync.functionNames.filter((name) => !names.includes(name));
    if (missing.length === 0) return;
    if (Date.now() >= deadline) {
      throw new PublishError(
        `The deployment to ${publication.scmHost} succeeded, but after syncing its triggers the app still does ` +
          `not list ${missing.join(", ")}: an unsynced queue trigger never wakes the app. Check the app's ` +
          "logs for a start-up error, then run the deployment again.",
      );
    }
    await sleep(publication.pollIntervalMs);
  }
}

/**
 * The function names in ARM's list (`{ value: [{ name: "<app>/<function>", properties: { name? } }] }`).
 * https://learn.microsoft.com/rest/api/appservice/web-apps/list-functions
 */
function listedFunctionNames(text: string): string[] {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return [];
  }
  const value = (body as { value?: unknown } | null)?.value;
  if (!Array.isArray(value)) return [];
  return value
    .map((entry: { name?: unknown; properties?: { name?: unknown } }) => {
      if (typeof entry?.properties?.name === "string") return entry.properties.name;
      return typeof entry?.name === "string" ? (entry.name.split("/").pop() ?? "") : "";
    })
    .filter((name) => name !== "");
}

/** Uploads the zip; answers the upload's accepted response, or throws what the refusal means. */
async function postPackage(publication: Publication): Promise<Response> {
  const url = new URL("/api/publish", publication.base);
  url.searchParams.set("RemoteBuild", "false");
  url.searchParams.set("Deployer", publication.deployer);
  const accepted = await send(publication, url, async () => ({
    method: "POST",
    headers: {
      Authorization: await authorization(publication),
      "Content-Type": "application/zip",
      "Cache-Control": "no-cache",
    },
    // A copy on its own ArrayBuffer: what fetch accepts as a body, whatever the caller passed.
    body: new Uint8Array(publication.zip),
  }));
  if (accepted.ok) return accepted;
  const text = await accepted.text();
  const message = serviceMessage(publication, text);
  if (accepted.status !== 401 && accepted.status !== 403 && namesStorageRefusal(text)) {
    throw new StorageNotYetAuthorized(message);
  }
  throw new PublishError(
    `Publishing to ${publication.scmHost} failed with HTTP ${accepted.status}: ${message}` +
      (accepted.status === 401 || accepted.status === 403
        ? " (the deploying identity needs a role such as Website Contributor on the function app)"
        : accepted.status === 409
          ? // Another deployment holds the app. Waiting it out could overwrite a deployment someone else
            // started, so the decision is left to a person.
            ` (another deployment is in progress: its status is at ${publication.base}/api/deployments/latest; ` +
            "retry when it has finished)"
          : ""),
  );
}

/**
 * Follows the accepted deployment until its record reports an outcome. The upload's status code says only
 * that the zip arrived; the outcome is in the record (`{ id, status, status_text, complete }`).
 */
async function pollDeployment(publication: Publication, accepted: Response): Promise<PublishResult> {
  const acceptedText = await accepted.text();
  const first = parseDeployment(acceptedText);
  let deploymentId = first.id ?? parseDeploymentId(acceptedText);
  if (accepted.status === 200 && first.record === undefined && deploymentId === undefined) {
    // A synchronous OneDeploy: done once the upload is answered.
    return {};
  }
  if (first.record && isFinal(first.record)) return finish(publication, first.record, deploymentId);

  const statusUrl = statusUrlOf(publication, accepted.headers.get("location"), deploymentId);
  let seen = first.record !== undefined;
  let notFound = 0;
  for (;;) {
    if (Date.now() > publication.deadline) {
      throw new PublishError(
        `The deployment to ${publication.scmHost} did not finish in time; its status is at ${statusUrl.href}.`,
      );
    }
    await sleep(publication.pollIntervalMs);
    const response = await send(publication, statusUrl, async () => ({
      method: "GET",
      headers: { Authorization: await authorization(publication), "Cache-Control": "no-cache" },
    }));
    const text = await response.text();
    if (response.status === 404) {
      // Once the record has been seen, a 404 means the deployment worker was recycled after finishing: azd
      // treats it as success. Before that, the record may not exist yet.
      // https://github.com/Azure/azure-dev/blob/main/cli/azd/pkg/azsdk/funcapp_host_client.go (waitForDeployment)
      // https://github.com/Azure/azure-dev/issues/4439
      if (seen) return deploymentId === undefined ? {} : { deploymentId };
      if (++notFound <= MAX_NOT_FOUND) continue;
    }
    if (!response.ok) {
      throw new PublishError(
        `Checking the deployment at ${statusUrl.href} failed with HTTP ${response.status}: ` +
          serviceMessage(publication, text),
      );
    }
    const { record, id } = parseDeployment(text);
    deploymentId = id ?? deploymentId;
    if (!record) continue;
    seen = true;
    if (isFinal(record)) return finish(publication, record, deploymentId);
  }
}

/** The bearer token goes only to the SCM host: a Location elsewhere is not followed. */
function statusUrlOf(
  publication: Publication,
  location: string | null,
  deploymentId: string | undefined,
): URL {
  const locationUrl = location ? new URL(location, publication.base) : undefined;
  if (locationUrl?.origin === new URL(publication.base).origin) return locationUrl;
  const id = deploymentId ? encodeURIComponent(deploymentId) : "latest";
  return new URL(`/api/deployments/${id}`, publication.base);
}

function isFinal(record: DeploymentRecord): boolean {
  return record.complete || DEPLOY_FINAL_STATES.includes(record.status ?? 0);
}

/** Success, or the error the record's outcome means; reads the deployment's log when the status is vague. */
async function finish(
  publication: Publication,
  record: DeploymentRecord,
  knownId: string | undefined,
): Promise<PublishResult> {
  const id = record.id ?? knownId;
  if (record.status === DEPLOY_SUCCESS) return id === undefined ? {} : { deploymentId: id };
  const state = DEPLOY_STATUS[record.status ?? DEPLOY_FAILED] ?? `ended with status ${record.status}`;
  const logUrl = id ? `${publication.base}/api/deployments/${encodeURIComponent(id)}/log` : undefined;
  if (record.status !== DEPLOY_CANCELLED) {
    const evidence = `${record.status_text ?? ""}\n${logUrl ? await deploymentLog(publication, logUrl) : ""}`;
    if (isStorageAuthorizationFailure(evidence)) {
      throw new StorageNotYetAuthorized(serviceMessage(publication, storageFailureLine(evidence)));
    }
  }
  const detail = record.status_text ? `: ${serviceMessage(publication, record.status_text)}` : "";
  const sentence = /[.!?…]$/.test(detail) ? detail : `${detail}.`;
  throw new PublishError(
    `The deployment to ${publication.scmHost} ${state}${sentence}${logUrl ? ` Logs: ${logUrl}` : ""}`,
  );
}

/**
 * The messages of a deployment's log (`GET /api/deployments/<id>/log`: `[{ message, … }]`), where Flex
 * writes the storage's refusal when status_text is generic. Best effort: "" when the log cannot be read.
 * https://github.com/projectkudu/kudu/wiki/REST-API#deployment
 */
async function deploymentLog(publication: Publication, logUrl: string): Promise<string> {
  try {
    const response = await publication.fetch(logUrl, {
      method: "GET",
      headers: { Authorization: await authorization(publication), "Cache-Control": "no-cache" },
    });
    if (!response.ok) return "";
    const entries: unknown = await response.json();
    if (!Array.isArray(entries)) return "";
    return entries
      .map((entry) => (entry && typeof entry.message === "string" ? entry.message : ""))
      .filter((message) => message !== "")
      .join("\n");
  } catch {
    return "";
  }
}

/**
 * Whether a failed deployment failed on the deployment storage refusing the app's identity. The deployer
 * was already let in (the upload was accepted), so a 403 inside the deployment is the platform's own access
 * to storage; Flex words it as Azure Storage does ("Azure Storage responded with Forbidden … 403 (This
 * request is not authorized to perform this operation.)", error codes AuthorizationPermissionMismatch,
 * AuthorizationFailure).
 * https://github.com/Azure/azure-functions-core-tools/issues/4346
 * https://learn.microsoft.com/rest/api/storageservices/blob-service-error-codes
 */
function isStorageAuthorizationFailure(text: string): boolean {
  return /\b403\b|not authorized to perform this operation/i.test(text) || namesStorageRefusal(text);
}

/**
 * Whether a refused upload names the storage as the one refusing. A bare 401/403 on the upload is the
 * deploying identity's own refusal and is final; only the storage's words make it worth waiting for.
 */
function namesStorageRefusal(text: string): boolean {
  return /BlobUploadFailed|AuthorizationPermissionMismatch|AuthorizationFailure|Azure Storage responded with Forbidden/i.test(
    text,
  );
}

/** The line that names the storage failure, for the message (the whole log would drown it). */
function storageFailureLine(text: string): string {
  const lines = text.split("\n").filter((line) => isStorageAuthorizationFailure(line));
  return lines[lines.length - 1] ?? text;
}

/**
 * Sends a request, again after a pause while the answer is transient (5xx, 408, 429, a broken connection),
 * at most `transientRetries` times. Sending the same zip twice is harmless: a publish replaces the package.
 * Honors Retry-After, as azd's client does.
 */
async function send(publication: Publication, url: URL, init: () => Promise<RequestInit>): Promise<Response> {
  for (let attempt = 1; ; attempt++) {
    const last = attempt > publication.transientRetries;
    const request = await init();
    let response: Response;
    try {
      response = await publication.fetch(url, request);
    } catch (error) {
      if (!last) {
        await sleep(backoff(publication.retryDelayMs, attempt));
        continue;
      }
      const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : "";
      throw new PublishError(`Could not reach ${url.host}${cause}. Check the app's SCM site is reachable.`);
    }
    if (last || !TRANSIENT_STATUS.includes(response.status)) return response;
    await response.body?.cancel();
    await sleep(
      retryAfterMs(response.headers.get("retry-after")) ?? backoff(publication.retryDelayMs, attempt),
    );
  }
}

async function authorization(publication: Publication): Promise<string> {
  const token = await publication.getToken();
  if (!token) throw new PublishError("No Entra ID token was obtained for the deployment.");
  if (!publication.tokens.includes(token)) publication.tokens.push(token);
  return `Bearer ${token}`;
}

/** The service's message, without anything that could be a credential, and of bounded length. */
export function serviceMessage(publication: Pick<Publication, "tokens">, text: string): string {
  let message = text;
  try {
    const body = JSON.parse(text);
    if (typeof body === "string") message = body;
    else if (body && typeof body === "object") {
      message =
        body.status_text ||
        body.ExceptionMessage ||
        body.Message ||
        body.message ||
        body.error?.message ||
        body.error_description ||
        text;
    }
  } catch {
    // not JSON: the text itself
  }
  for (const token of publication.tokens) message = message.split(token).join("[redacted]");
  message = message.replace(/(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/g, "$1 [redacted]");
  message = message.replace(/(AccountKey|SharedAccessKey|sig)=[^;&\s"]+/gi, "$1=[redacted]");
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is stripped
  message = message.replace(/[\u0000-\u001f\u007f]+/g, " ").trim();
  return message.length > 1000 ? `${message.slice(0, 1000)}…` : message || "(no message)";
}

/** Exponential backoff with jitter: about base, 2×base, 4×base… never more than a minute. */
function backoff(baseMs: number, attempt: number): number {
  const ceiling = Math.min(MAX_RETRY_DELAY_MS, baseMs * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}

/** Retry-After in seconds (the form Azure services send), capped like the backoff. */
function retryAfterMs(header: string | null): number | undefined {
  const seconds = header === null ? Number.NaN : Number(header);
  return Number.isFinite(seconds) && seconds >= 0 ? Math.min(seconds * 1000, MAX_RETRY_DELAY_MS) : undefined;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

interface DeploymentRecord {
  id?: string;
  status?: number;
  status_text?: string;
  complete: boolean;
}

/** Reads a deployment status record (`{ id, status, status_text, complete, … }`), if the text is one. */
function parseDeployment(text: string): { record?: DeploymentRecord; id?: string } {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return {};
  }
  if (!body || typeof body !== "object" || Array.isArray(body)) return {};
  const value = body as Record<string, unknown>;
  if (typeof value.status !== "number" && typeof value.complete !== "boolean") return {};
  const record: DeploymentRecord = {
    id: typeof value.id === "string" && value.id !== "" ? value.id : undefined,
    status: typeof value.status === "number" ? value.status : undefined,
    status_text: typeof value.status_text === "string" ? value.status_text : undefined,
    complete: value.complete === true,
  };
  return { record, id: record.id };
}

/** The upload's answer may be just the deployment id: a JSON string, or a bare GUID. */
function parseDeploymentId(text: string): string | undefined {
  const value = text.trim();
  if (value.startsWith('"')) {
    try {
      const id = JSON.parse(value);
      return typeof id === "string" && /^[A-Za-z0-9._-]{1,128}$/.test(id) ? id : undefined;
    } catch {
      return undefined;
    }
  }
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value) ? value : undefined;
}
