// Sign-in: every request the client makes to the function (tokens, status, read URLs) carries the signed-in
// user's access token as `Authorization: Bearer`, asked of the application's hook each time so it can renew
// it. With sign-in, an accepted photo is read through the short-lived URL only its owner gets.

/** Returns the signed-in user's access token for the valet API (MSAL's acquireTokenSilent, say), or undefined. */
export type AccessTokenHook = () => Promise<string | undefined> | string | undefined;

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
