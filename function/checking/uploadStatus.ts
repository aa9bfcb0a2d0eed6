// The HTTP edge of the check of stored uploads: `GET /api/uploads/{blobName}` says whether an upload is
// still being checked, was accepted (with the verified blob's URL) or was rejected (with the reason).
import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { RestError } from "@azure/storage-blob";
import { SettingsError } from "../contract/appSettings";
import { isUploadName } from "../contract/uploadNames";
import { authenticate, routedBlobName } from "../identity";
import { errorResponse, log, methodRefusal, misconfigured, RESPONSE_HEADERS } from "../platform/responses";
import type { Settings } from "../platform/settings";
import { storageFailureCause, uploadsServiceClient } from "../platform/uploadsAccount";
import { loadCheckContext } from "./outcomes";
import { decideUploadStatus } from "./uploadState";

export const UPLOAD_STATUS_METHODS = ["GET"] as const;

export async function uploadStatus(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  try {
    return await answer(request, context);
  } catch (error) {
    log(context, "error", { event: "invocation.failed", error: storageFailureCause(error) });
    return errorResponse(500, "The upload's state could not be read; retry, and report it if it persists.");
  }
}

async function answer(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const refused = methodRefusal(request, UPLOAD_STATUS_METHODS);
  if (refused) return refused;
  const blobName = routedBlobName(request.params);
  // The names the function and the page give uploads: a blob with another name is deleted unchecked.
  if (!isUploadName(blobName)) {
    log(context, "warning", { event: "request.rejected", message: "malformed blob name" });
    return errorResponse(
      400,
      "The blob name must be 1 to 255 letters, digits, '.', '_' or '-', not starting with '.': use the blobName the upload was given.",
    );
  }
  let loaded: ReturnType<typeof loadCheckContext>;
  try {
    loaded = loadCheckContext();
  } catch (error) {
    if (!(error instanceof SettingsError)) throw error;
    return misconfigured(error, context);
  }
  const { settings, outcomes } = loaded;
  const signedIn = await authenticate(request, settings.auth, context);
  if ("response" in signedIn) return signedIn.response;
  const decision = await decideUploadStatus(blobName, signedIn.caller, {
    auth: settings.auth,
    outcomes,
    inboxETag: (name) => inboxETag(settings, name),
  });
  if (decision.kind === "unknown") {
    return errorResponse(404, `No upload named ${blobName} is known: it was never stored, or it is too old.`);
  }
  return { status: 200, headers: RESPONSE_HEADERS, jsonBody: decision.state };
}

/** The inbox blob's ETag, or undefined when there is no blob of that name. */
async function inboxETag(settings: Settings, blobName: string): Promise<string | undefined> {
  const inbox = uploadsServiceClient(settings.uploads)
    .getContainerClient(settings.container)
    .getBlobClient(blobName);
  try {
    return (await inbox.getProperties()).etag;
  } catch (error) {
    if (error instanceof RestError && error.statusCode === 404) return undefined;
    throw error;
  }
}
