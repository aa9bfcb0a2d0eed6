// Sign-in on the demo page: the embedding application supplies its users' access tokens through a hook (a
// function on `window.valetAccessToken`, set before this page's script runs), which the page hands to the
// client as `getAccessToken`. The local page, without a hook, can take tokens from the issuer stand-in.
import type { AccessTokenHook } from "../client";

declare global {
  interface Window {
    valetAccessToken?: AccessTokenHook;
  }
}

/**
 * The hook the page uses: the embedding application's, else (locally) the stand-in's token endpoint for the
 * user the page's own URL names (`?user=alice`), else none: anonymous.
 */
export function accessTokenHook(
  standInTokenUrl: string | undefined,
  location: { readonly search: string } = window.location,
): AccessTokenHook | undefined {
  if (typeof window.valetAccessToken === "function") return window.valetAccessToken;
  if (!standInTokenUrl) return undefined;
  const user = new URLSearchParams(location.search).get("user") || "local-user";
  return async () => {
    const response = await fetch(`${standInTokenUrl}?user=${encodeURIComponent(user)}`, {
      cache: "no-store",
    });
    const body = (await response.json().catch(() => undefined)) as { access_token?: unknown } | undefined;
    return typeof body?.access_token === "string" ? body.access_token : undefined;
  };
}
