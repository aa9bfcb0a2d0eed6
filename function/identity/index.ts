// Sign-in at the HTTP edge: who is calling, by their bearer token, when the function has an issuer; nobody in
// particular (anonymous, as without sign-in) when it has none. The verifier is the instance's (instance.ts),
// so its discovery document and keys are fetched once and kept.
import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import type { AuthSettings } from "../contract/appSettings";
import { errorResponse, log } from "../platform/responses";
import { AuthError, bearerChallenge, IssuerUnavailableError } from "./errors";
import { ownerOfBlobName } from "./owner";
import type { BearerVerifier } from "./verifier";

export { AuthError, bearerChallenge, IssuerUnavailableError } from "./errors";
export { ownedBlobName, ownerLimitKey, ownerMetadata, ownerOfBlobName, ownerSegment } from "./owner";
export { BearerVerifier, KEY_SET_BOUNDS } from "./verifier";

/** The caller: a signed-in owner, or anonymous when sign-in is off. */
export type Caller = { readonly owner: string } | { readonly owner?: undefined };

/**
 * The caller, or the response refusing them: 401 with the RFC 6750 challenge for a missing or bad token, 503
 * when the issuer's keys cannot be had (the token may be good; try again). Refusals are logged with their
 * reason only, never the token.
 */
export async function authenticate(
  request: HttpRequest,
  verifier: Pick<BearerVerifier, "verify"> | undefined,
  context: InvocationContext,
): Promise<{ caller: Caller } | { response: HttpResponseInit }> {
  if (!verifier) return { caller: {} };
  try {
    return { caller: await verifier.verify(request.headers.get("authorization")) };
  } catch (error) {
    if (error instanceof AuthError) {
      log(context, "warning", { event: "auth.refused", reason: error.reason });
      return { response: unauthorized(error) };
    }
    if (error instanceof IssuerUnavailableError) {
      log(context, "error", { event: "auth.issuerUnavailable", message: error.message });
      return {
        response: errorResponse(
          503,
          "Sign-in cannot be checked right now (the issuer's keys are out of reach): try again in a minute.",
          { "Retry-After": "60" },
        ),
      };
    }
    throw error;
  }
}

/**
 * 401 with `WWW-Authenticate`, and `auth` naming the reason in the body (a page on another origin cannot read
 * that header unless it is exposed).
 */
export function unauthorized(error: AuthError): HttpResponseInit {
  return errorResponse(
    401,
    error.message,
    { "WWW-Authenticate": bearerChallenge(error), "Access-Control-Expose-Headers": "WWW-Authenticate" },
    { auth: error.reason },
  );
}

/** The blob name a route names: `{owner}/{blobName}` (signed in) or `{blobName}`. */
export function routedBlobName(params: Readonly<Record<string, string | undefined>>): string {
  const name = params.blobName ?? "";
  return params.owner === undefined ? name : `${params.owner}/${name}`;
}

/**
 * Whether the caller may see the upload named `blobName`: anyone when sign-in is off; signed in, only the
 * person it was issued to (others are answered as if it did not exist, so names cannot be probed).
 */
export function mayAccess(caller: Caller, auth: AuthSettings | undefined, blobName: string): boolean {
  return !auth || (caller.owner !== undefined && ownerOfBlobName(blobName) === caller.owner);
}
