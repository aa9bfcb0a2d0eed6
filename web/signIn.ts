// Sign-in on the page: the embedding application supplies its users' access tokens through a hook (a function
// on `window.valetAccessToken`, set before this page's script runs), and every request to the function carries
// one as `Authorization: Bearer`. The local page, without a hook, can take tokens from the issuer stand-in.
// With sign-in, an accepted photo is shown through the short-lived read URL only its owner gets.

/** Returns the signed-in user's access token for the valet API (MSAL's acquireTokenSilent, say), or undefined. */
export type AccessTokenHook = () => Promise<string | undefined> | string | undefined;

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

/**
 * `fetch` with the hook's token added as `Authorization: Bearer` (asked for on every request, so the
 * application can renew it); plain fetch without a hook.
 */
export function fetchWithToken(hook: AccessTokenHook | undefined): typeof fetch {
  if (!hook) return (input, init) => fetch(input, init);
  return async (input, init) => {
    const token = await hook();
    const headers = new Headers(init?.headers);
    if (token) headers.set("Authorization", `Bearer ${token}`);
    return fetch(input, { ...init, headers });
  };
}

/** The read URL endpoint for an upload: `<api>/images/<owner>/<name>`, each segment encoded. */
export function imageReadUrl(apiUrl: string, blobName: string): string {
  return new URL(`images/${blobName.split("/").map(encodeURIComponent).join("/")}`, apiUrl).toString();
}

/** A short-lived URL that reads the owner's verified photo, or undefined when none is given. */
export async function readUrlOf(
  apiUrl: string,
  blobName: string,
  fetchImpl: typeof fetch,
): Promise<string | undefined> {
  try {
    const response = await fetchImpl(imageReadUrl(apiUrl, blobName), {
      cache: "no-store",
      credentials: "omit",
    });
    if (!response.ok) return undefined;
    const body = (await response.json()) as { url?: unknown };
    return typeof body.url === "string" ? body.url : undefined;
  } catch {
    return undefined;
  }
}
