// Stands in for Microsoft Entra ID on loopback: a TokenCredential that mints the unsigned JWTs Azurite's
// `--oauth basic` accepts. It does not sign them (Azurite checks no token signature, Azure refuses them),
// knows one fixed identity, and talks to no one; only the local stack and the tests use it (for Azurite, and
// for the local Event Grid topic stand-in, eventGridTopic.ts).
import type { AccessToken, TokenCredential } from "@azure/identity";

/** The identity the tokens name: Azurite derives the user delegation key from these two ids. */
export interface LocalIdentity {
  readonly tenantId: string;
  readonly objectId: string;
}

export const LOCAL_IDENTITY: LocalIdentity = {
  tenantId: "00000000-0000-4000-8000-00000000a1e0",
  objectId: "00000000-0000-4000-8000-0000000f0a11",
};

const TOKEN_LIFETIME_S = 60 * 60;
const STORAGE_AUDIENCE = "https://storage.azure.com";

/**
 * Azurite accepts a token whose issuer starts with https://sts.windows.net/ and whose audience is
 * https://storage.azure.com, within its nbf/exp, and takes `oid` and `tid` as the caller.
 * https://github.com/Azure/Azurite/blob/main/src/blob/authentication/BlobTokenAuthenticator.ts
 * https://github.com/Azure/Azurite#oauth-authentication
 */
export function localIdentityCredential(identity: LocalIdentity = LOCAL_IDENTITY): TokenCredential {
  return {
    // The audience is the resource asked for (`https://storage.azure.com/.default` by the storage SDK,
    // `https://eventgrid.azure.net/.default` by Event Grid's), as Entra ID's tokens carry it.
    getToken: async (scopes): Promise<AccessToken> => {
      const scope = (Array.isArray(scopes) ? scopes[0] : scopes) ?? STORAGE_AUDIENCE;
      const now = Math.floor(Date.now() / 1000);
      const expires = now + TOKEN_LIFETIME_S;
      const part = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
      const token = [
        part({ alg: "none", typ: "JWT" }),
        part({
          aud: scope.replace(/\/\.default$/, ""),
          iss: `https://sts.windows.net/${identity.tenantId}/`,
          iat: now,
          nbf: now - 60,
          exp: expires,
          oid: identity.objectId,
          tid: identity.tenantId,
        }),
        "",
      ].join(".");
      return { token, expiresOnTimestamp: expires * 1000 };
    },
  };
}
