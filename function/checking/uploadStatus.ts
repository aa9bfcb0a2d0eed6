// The HTTP edge of the check of stored uploads: `GET /api/uploads/{blobName}` says whether an upload is
// still being checked, was accepted (with the verified blob's URL) or was rejected (with the reason).
import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { type BlobClient, RestError } from "@azure/storage-blob";
import { readUploadRoute } from "../identity/uploadRoute";
import { errorResponse, log, RESPONSE_HEADERS } from "../platform/responses";
import { storageFailureCause } from "../platform/uploadsAccount";
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
  const route = await readUploadRoute(request, context, UPLOAD_STATUS_METHODS, () => {
    log(context, "warning", { event: "request.rejected", message: "malformed blob name" });
    return errorResponse(
      400,
      "The blob name must be 1 to 255 letters, digits, '.', '_' or '-', not starting with '.': use the blobName the upload was given.",
    );
  });
  if ("response" in route) return route.response;
  const { blobName, settings, outcomes } = route;
  const client = route.root.uploadsClient();
  const decision = await decideUploadStatus(blobName, route.caller, {
    auth: settings.auth,
    outcomes,
    inboxETag: (name) => inboxETag(client.getContainerClient(settings.container).getBlobClient(name)),
  });
  if (decision.kind === "unknown") {
    return errorResponse(404, `No upload named ${blobName} is known: it was never stored, or it is too old.`);
  }
  return { status: 200, headers: RESPONSE_HEADERS, jsonBody: decision.state };
}

/** The inbox blob's ETag, or undefined when there is no blob of that name. */
async function inboxETag(inbox: BlobClient): Promise<string | undefined> {
  try {
    return (await inbox.getProperties()).etag;
  } catch (error) {
    if (error instanceof RestError && error.statusCode === 404) return undefined;
    throw error;
  }
}
