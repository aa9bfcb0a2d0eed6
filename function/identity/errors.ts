// Why a bearer token was refused, and the 401 that says so: the RFC 6750 challenge in WWW-Authenticate and
// the same words in the JSON body. Neither ever quotes the token. A leaf module: it imports nothing.
// https://www.rfc-editor.org/rfc/rfc6750#section-3

/** `invalid_request`: no usable Authorization header; `invalid_token`: a token that does not verify. */
export type AuthErrorCode = "invalid_request" | "invalid_token";

export type AuthRefusalReason =
  | "missing"
  | "malformed"
  | "notJwt"
  | "signature"
  | "unknownKey"
  | "algorithm"
  | "issuer"
  | "audience"
  | "expired"
  | "notYetValid"
  | "claims"
  | "owner";

/** The token was refused: a 401 whose message names the problem. */
export class AuthError extends Error {
  override name = "AuthError";
  constructor(
    readonly reason: AuthRefusalReason,
    message: string,
  ) {
    super(message);
  }

  get code(): AuthErrorCode {
    return this.reason === "missing" || this.reason === "malformed" ? "invalid_request" : "invalid_token";
  }
}

/** The issuer's discovery document or keys could not be had: a 503, the token may well be good. */
export class IssuerUnavailableError extends Error {
  override name = "IssuerUnavailableError";
}

/** The realm named in every challenge. */
export const AUTH_REALM = "valet";

/**
 * `Bearer realm="valet", error="invalid_token", error_description="…"`: the description is the message with
 * anything outside the characters RFC 6750 allows there (and `"`, `\`) replaced, so the header stays valid.
 */
export function bearerChallenge(error: AuthError): string {
  const description = error.message.replace(/[^\x20\x21\x23-\x5b\x5d-\x7e]/g, "?");
  return `Bearer realm="${AUTH_REALM}", error="${error.code}", error_description="${description}"`;
}
