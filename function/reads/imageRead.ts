// The HTTP edge of reads: `GET /api/images/{owner}/{name}` answers the owner of a verified image with a
// short-lived read URL for it (and, once the photo pipeline makes them, for its renditions). Sign-in only:
// without it nobody is an owner, and sharing with others is the application's decision, not an open read.
import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { mayAccess } from "../identity";
import { readUploadRoute } from "../identity/uploadRoute";
import { errorResponse, log, RESPONSE_HEADERS } from "../platform/responses";
import { storageFailureCause } from "../platform/uploadsAccount";
import { SigningUnavailableError } from "../signing/signing";
import { readTargets, signReadUrl } from "./readTokens";

export const IMAGE_READ_METHODS = ["GET"] as const;

export interface ImageReadBody {
  blobName: string;
  /** The verified image's URL with a read-only token. */
  url: string;
  /** When the token stops working, ISO 8601 UTC. */
  expiresOn: string;
}

export async function imageRead(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  try {
    return await answer(request, context);
  } catch (error) {
    if (error instanceof SigningUnavailableError) {
      log(context, "error", { event: "signing.unavailable", message: error.message });
      return errorResponse(503, "The function cannot sign read tokens right now: try again in a minute.", {
        "Retry-After": "60",
      });
    }
    log(context, "error", { event: "invocation.failed", error: storageFailureCause(error) });
    return errorResponse(500, "The read token could not be issued; retry, and report it if it persists.");
  }
}

async function answer(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const route = await readUploadRoute(request, context, IMAGE_READ_METHODS, () =>
    errorResponse(400, "The image name must be the blobName its upload was given."),
  );
  if ("response" in route) return route.response;
  const { blobName, settings, outcomes } = route;
  const notFound = errorResponse(
    404,
    `No verified image named ${blobName} is yours to read: it was never accepted, or it is another person's.`,
  );
  if (!settings.auth) {
    return errorResponse(
      404,
      "Read tokens are issued to signed-in owners only, and sign-in is off (AUTH_ISSUER).",
    );
  }
  if (!mayAccess(route.caller, settings.auth, blobName)) return notFound;
  const outcome = await outcomes.find(blobName);
  if (outcome?.state !== "accepted") return notFound;
  const now = new Date();
  const [original] = await Promise.all(
    readTargets(settings, blobName).map((target) =>
      signReadUrl(settings, route.root.readKeys(), target, now),
    ),
  );
  if (!original) return notFound;
  log(context, "information", { event: "readToken.issued", blobName, expiresOn: original.expiresOn });
  const body: ImageReadBody = { blobName, url: original.url, expiresOn: original.expiresOn };
  return { status: 200, headers: RESPONSE_HEADERS, jsonBody: body };
}
