// The HTTP edge of the renditions: `GET /api/renditions/{name}` serves one rendition of an accepted photo
// from the verified container, which stays private, so that the page can show the thumbnail. Only rendition
// names are served: the verified image itself is never handed out here.
import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { RestError } from "@azure/storage-blob";
import { SettingsError } from "../contract/appSettings";
import { authenticate, mayAccess } from "../identity";
import { type Instance, instance } from "../platform/instance";
import { errorResponse, log, methodRefusal, misconfigured } from "../platform/responses";
import type { Settings } from "../platform/settings";
import { storageFailureCause } from "../platform/uploadsAccount";
import { isRenditionName, RENDITION_FORMATS } from "./names";

export const RENDITION_METHODS = ["GET"] as const;

/** One path segment, as the status endpoint's names, ending like a rendition. */
const NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,254}$/;
/** The most a rendition may be: a feed image at the largest size the settings allow is far below it. */
const MAX_RENDITION_BYTES = 16 * 1024 * 1024;

export async function rendition(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const refused = methodRefusal(request, RENDITION_METHODS);
  if (refused) return refused;
  const name = request.params.name ?? "";
  if (!NAME.test(name) || !isRenditionName(name)) {
    return errorResponse(
      400,
      "The name must be a rendition's, as the status endpoint lists it: <blobName>.<feed|thumb>.<webp|jpg|png>.",
    );
  }
  const root = instance();
  let settings: Settings;
  let verifier: ReturnType<Instance["verifier"]>;
  try {
    settings = root.settings();
    verifier = root.verifier();
  } catch (error) {
    if (!(error instanceof SettingsError)) throw error;
    return misconfigured(error, context);
  }
  // Signed in, an upload's renditions are its owner's alone, through read URLs (reads/): a rendition name here
  // has no owner segment, so this endpoint serves none of them, and says so as it would of a name never stored.
  const signedIn = await authenticate(request, verifier, context);
  if ("response" in signedIn) return signedIn.response;
  if (!mayAccess(signedIn.caller, settings.auth, name)) {
    return errorResponse(404, `No rendition named ${name} is known.`);
  }
  const blob = root
    .uploadsClient()
    .getContainerClient(settings.verification.verifiedContainer)
    .getBlobClient(name);
  try {
    const properties = await blob.getProperties();
    const type = properties.contentType ?? "";
    if (
      !(Object.values(RENDITION_FORMATS) as string[]).includes(type) ||
      (properties.contentLength ?? 0) > MAX_RENDITION_BYTES
    ) {
      return errorResponse(404, `No rendition named ${name} is known.`);
    }
    const bytes = await blob.downloadToBuffer(0, undefined, { conditions: { ifMatch: properties.etag } });
    return {
      status: 200,
      headers: {
        "Content-Type": type,
        // A rendition never changes under its name (the verified image it belongs to is never replaced).
        "Cache-Control": "private, max-age=86400, immutable",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'",
      },
      body: bytes,
    };
  } catch (error) {
    if (error instanceof RestError && (error.statusCode === 404 || error.statusCode === 412)) {
      return errorResponse(
        404,
        `No rendition named ${name} is known: the upload was not accepted, or not yet.`,
      );
    }
    log(context, "error", { event: "invocation.failed", error: storageFailureCause(error) });
    return errorResponse(500, "The rendition could not be read; retry, and report it if it persists.");
  }
}
