// The HTTP edge of the check of stored uploads: `GET /api/uploads/{blobName}` says whether an upload is
// still being checked, was accepted (with the verified blob's URL) or was rejected (with the reason).
import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { RestError } from "@azure/storage-blob";
import { SettingsError } from "../contract/appSettings";
import { isUploadName } from "../contract/uploadNames";
import { authenticate, mayAccess, routedBlobName } from "../identity";
import type { Rendition } from "../photos/names";
import { errorResponse, log, methodRefusal, misconfigured, RESPONSE_HEADERS } from "../platform/responses";
import type { Settings } from "../platform/settings";
import { storageFailureCause, uploadsServiceClient } from "../platform/uploadsAccount";
import { loadCheckContext, type OutcomeStore } from "./outcomes";

export const UPLOAD_STATUS_METHODS = ["GET"] as const;

export type UploadState =
  | { blobName: string; state: "pending" }
  | { blobName: string; state: "accepted"; url: string; renditions: readonly Rendition[] }
  | { blobName: string; state: "rejected"; reason: string };

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
  const signedIn = await authenticate(request, loaded.settings.auth, context);
  if ("response" in signedIn) return signedIn.response;
  // Another person's upload is answered as one that does not exist, before any storage call.
  const state = mayAccess(signedIn.caller, loaded.settings.auth, blobName)
    ? await stateOf(blobName, loaded.settings, loaded.outcomes)
    : undefined;
  if (!state) {
    return errorResponse(404, `No upload named ${blobName} is known: it was never stored, or it is too old.`);
  }
  return { status: 200, headers: RESPONSE_HEADERS, jsonBody: state };
}

/**
 * Pending is known from the inbox: a blob there has not been decided yet, unless the recorded outcome is for
 * that very version (the moment between recording and deleting it). An outcome with no blob left in the
 * inbox is the answer; neither an outcome nor a blob: never seen (or deleted unchecked by the inbox's
 * lifecycle rule, which only happens to a blob whose event never arrived).
 */
async function stateOf(
  blobName: string,
  settings: Settings,
  outcomes: OutcomeStore,
): Promise<UploadState | undefined> {
  const inbox = uploadsServiceClient(settings.uploads)
    .getContainerClient(settings.container)
    .getBlobClient(blobName);
  const [outcome, inboxETag] = await Promise.all([
    outcomes.find(blobName),
    inbox.getProperties().then(
      (properties) => properties.etag,
      (error: unknown) => {
        if (error instanceof RestError && error.statusCode === 404) return undefined;
        throw error;
      },
    ),
  ]);
  if (inboxETag !== undefined && outcome?.eTag !== inboxETag) return { blobName, state: "pending" };
  if (!outcome) return undefined;
  return outcome.state === "accepted"
    ? { blobName, state: "accepted", url: outcome.url, renditions: outcome.renditions }
    : { blobName, state: "rejected", reason: outcome.reason };
}
