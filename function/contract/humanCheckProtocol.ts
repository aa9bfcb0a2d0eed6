// What the page and the function say to each other about the human check: header names and refusal
// reasons. No imports, so the page's bundle can take it without any of the function's code.

/** The request headers that carry a Turnstile token and a pass (headers, so no URL log ever holds them). */
export const TURNSTILE_TOKEN_HEADER = "x-turnstile-token";
export const HUMAN_PASS_HEADER = "x-valet-pass";

/** Why the caller must (again) solve the check, in a 403's `humanCheck`; the page shows the widget for each. */
export const HUMAN_CHECK_REFUSALS = ["required", "failed", "expired", "wrong-hostname"] as const;
export type HumanCheckRefusal = (typeof HUMAN_CHECK_REFUSALS)[number];

/** Added to a token's body when the request passed the human check with a Turnstile token. */
export interface HumanPassBody {
  /** Sent back in the X-Valet-Pass header until humanPassExpiresOn, instead of solving the check again. */
  readonly humanPass: string;
  readonly humanPassExpiresOn: string;
}
