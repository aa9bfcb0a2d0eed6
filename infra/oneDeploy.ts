// Publishes a function package through OneDeploy, the only code deployment a Flex Consumption app accepts
// (no WEBSITE_RUN_FROM_PACKAGE, no /api/zipdeploy), and waits for the platform to report the outcome.
// https://learn.microsoft.com/azure/azure-functions/functions-deployment-technologies#one-deploy
// https://learn.microsoft.com/azure/azure-functions/flex-consumption-how-to#deploy-your-code-project
//
// Everything here is plain functions over globals (fetch, URL, setTimeout): the Pulumi dynamic provider in
// deploy.ts captures publishPackage, and Pulumi serializes captured functions into the provider process.

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
  /** How long to keep retrying while the app's identity cannot yet write to its deployment container. */
  storageRetryMs?: number;
  /** Recorded by the platform as the deployment's author. */
  deployer?: string;
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
 * Kudu's deployment states (`DeployStatus`), as `GET /api/deployments/<id>` reports them in `status`.
 * https://github.com/projectkudu/kudu/wiki/REST-API#deployment
 */
const DEPLOY_STATUS: Readonly<Record<number, string>> = {
  0: "pending",
  1: "building",
  2: "deploying",
  3: "failed",
  4: "succeeded",
  5: "conflict",
  6: "partially succeeded",
};
const DEPLOY_SUCCESS = 4;
const DEPLOY_FAILED_STATES = [3, 5, 6];

/** Consecutive "not found" answers tolerated while a new deployment's record appears. */
const MAX_NOT_FOUND = 5;

/**
 * `POST https://<scm host>/api/publish?RemoteBuild=false&Deployer=…` with the zip as the body, as Azure CLI
 * and azd do for Flex Consumption apps. The package is already built (one bundle, no node_modules), so no
 * remote build. The service answers 202 (or 200 with a deployment id) while it unpacks and restarts the
 * app, and the outcome is read from the deployment's status record, never from the upload's status code.
 * https://github.com/Azure/azure-dev/issues/3658 (the Functions team's description of the endpoint)
 */
export async function publishPackage(options: PublishOptions): Promise<PublishResult> {
  const doFetch = options.fetch ?? fetch;
  const pollIntervalMs = options.pollIntervalMs ?? 5_000;
  const deadline = Date.now() + (options.timeoutMs ?? 15 * 60_000);
  const storageDeadline = Date.now() + (options.storageRetryMs ?? 5 * 60_000);
  const base = `${options.scheme ?? "https"}://${options.scmHost}`;
  const publishUrl = new URL("/api/publish", base);
  publishUrl.searchParams.set("RemoteBuild", "false");
  publishUrl.searchParams.set("Deployer", options.deployer ?? "valet-pulumi");

  const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
  const tokens: string[] = [];
  const authorization = async () => {
    const token = await options.getToken();
    if (!token) throw new PublishError("No Entra ID token was obtained for the deployment.");
    tokens.push(token);
    return `Bearer ${token}`;
  };
  /** The service's message, without anything that could be a credential, and of bounded length. */
  const serviceMessage = (text: string): string => {
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
    for (const token of tokens) message = message.split(token).join("[redacted]");
    message = message.replace(/(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/g, "$1 [redacted]");
    message = message.replace(/(AccountKey|SharedAccessKey|sig)=[^;&\s"]+/gi, "$1=[redacted]");
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is stripped
    message = message.replace(/[\u0000-\u001f\u007f]+/g, " ").trim();
    return message.length > 1000 ? `${message.slice(0, 1000)}…` : message || "(no message)";
  };
  const request = async (url: URL, init: RequestInit): Promise<Response> => {
    try {
      return await doFetch(url, init);
    } catch (error) {
      const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : "";
      throw new PublishError(`Could not reach ${url.host}${cause}. Check the app's SCM site is reachable.`);
    }
  };

  let accepted: Response;
  for (;;) {
    accepted = await request(publishUrl, {
      method: "POST",
      headers: {
        Authorization: await authorization(),
        "Content-Type": "application/zip",
        "Cache-Control": "no-cache",
      },
      // A copy on its own ArrayBuffer: what fetch accepts as a body, whatever the caller passed.
      body: new Uint8Array(options.zip),
    });
    if (accepted.ok) break;
    const text = await accepted.text();
    // A new app's identity may not yet hold its role on the deployment storage account (role assignments
    // take minutes to apply): the service then reports the blob upload it failed, and a retry succeeds.
    if (/BlobUploadFailed/i.test(text) && Date.now() < storageDeadline) {
      await sleep(pollIntervalMs);
      continue;
    }
    throw new PublishError(
      `Publishing to ${options.scmHost} failed with HTTP ${accepted.status}: ${serviceMessage(text)}` +
        (accepted.status === 401 || accepted.status === 403
          ? " (the deploying identity needs a role such as Website Contributor on the function app)"
          : accepted.status === 409
            ? " (another deployment is in progress: retry when it has finished)"
            : ""),
    );
  }

  const acceptedText = await accepted.text();
  const first = parseDeployment(acceptedText);
  let deploymentId = first.id ?? parseDeploymentId(acceptedText);
  if (accepted.status === 200 && first.record === undefined && deploymentId === undefined) {
    // A synchronous OneDeploy: done once the upload is answered.
    return {};
  }
  if (first.record?.complete) return finish(first.record);

  // The bearer token goes only to the SCM host: a Location elsewhere is not followed.
  const location = accepted.headers.get("location");
  const locationUrl = location ? new URL(location, base) : undefined;
  const statusUrl =
    locationUrl?.origin === new URL(base).origin
      ? locationUrl
      : new URL(`/api/deployments/${deploymentId ? encodeURIComponent(deploymentId) : "latest"}`, base);
  let notFound = 0;
  for (;;) {
    if (Date.now() > deadline) {
      throw new PublishError(
        `The deployment to ${options.scmHost} did not finish in time; its status is at ${statusUrl.href}.`,
      );
    }
    await sleep(pollIntervalMs);
    const response = await request(statusUrl, {
      method: "GET",
      headers: { Authorization: await authorization(), "Cache-Control": "no-cache" },
    });
    const text = await response.text();
    if (response.status === 404 && ++notFound <= MAX_NOT_FOUND) continue;
    if (!response.ok) {
      throw new PublishError(
        `Checking the deployment at ${statusUrl.href} failed with HTTP ${response.status}: ${serviceMessage(text)}`,
      );
    }
    notFound = 0;
    const { record, id } = parseDeployment(text);
    deploymentId = id ?? deploymentId;
    if (record?.complete || (record && DEPLOY_FAILED_STATES.includes(record.status ?? -1))) {
      return finish(record);
    }
  }

  function finish(record: DeploymentRecord): PublishResult {
    const id = record.id ?? deploymentId;
    if (record.status === DEPLOY_SUCCESS) return id === undefined ? {} : { deploymentId: id };
    const state = DEPLOY_STATUS[record.status ?? -1] ?? `status ${record.status}`;
    const detail = record.status_text ? `: ${serviceMessage(record.status_text)}` : "";
    const logs = id ? ` Logs: ${base}/api/deployments/${encodeURIComponent(id)}/log` : "";
    throw new PublishError(`The deployment to ${options.scmHost} ${state}${detail}.${logs}`);
  }
}

interface DeploymentRecord {
  id?: string;
  status?: number;
  status_text?: string;
  complete?: boolean;
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
