// The baseline every issuance row is compared with: a container SAS signed with nothing but node:crypto
// HMAC-SHA256, over the same string-to-sign @azure/storage-blob builds for its service version.
import { createHmac } from "node:crypto";

/**
 * The service version @azure/storage-blob 12.32.0 signs with (its SERVICE_VERSION). For a shared-key
 * service SAS of version 2020-12-06 or later the SDK's string-to-sign is, one field per line:
 * sp, st, se, canonicalized resource, si, sip, spr, sv, sr, snapshot time, ses, rscc, rscd, rsce, rscl,
 * rsct (generateBlobSASQueryParameters20201206 in sas/BlobSASSignatureValues.js).
 * https://learn.microsoft.com/rest/api/storageservices/create-service-sas#version-2020-12-06-and-later
 */
export const SAS_VERSION = "2026-04-06";

export interface BaselineAccount {
  accountName: string;
  /** The account key, base64 as it appears in a connection string. */
  accountKey: string;
  blobServiceUrl: string;
  container: string;
  /** `https` or `https,http`. */
  protocol: string;
  lifetimeMinutes: number;
  /** The stored access policy the token names (`si`); it holds the permission, so the token has no `sp`. */
  identifier: string;
}

export interface BaselineSigner {
  /** The container token's query string (create only, by its policy), expiring `lifetimeMinutes` after `nowMs`. */
  containerSas(nowMs: number): { sasKey: string; expiresOn: string };
  /** The same token as the function's JSON response body. */
  responseBody(nowMs: number): string;
}

export function baselineSigner(account: BaselineAccount): BaselineSigner {
  const key = Buffer.from(account.accountKey, "base64");
  const resource = `/blob/${account.accountName}/${account.container}`;
  const protocol = encodeURIComponent(account.protocol);
  const containerSas = (nowMs: number) => {
    const expiry = new Date(Math.floor(nowMs / 1000) * 1000 + account.lifetimeMinutes * 60_000);
    const expiresOn = expiry.toISOString();
    // `se` is ISO 8601 without milliseconds.
    const se = `${expiresOn.slice(0, -5)}Z`;
    const stringToSign = `\n\n${se}\n${resource}\n${account.identifier}\n\n${account.protocol}\n${SAS_VERSION}\nc\n\n\n\n\n\n\n`;
    const sig = createHmac("sha256", key).update(stringToSign, "utf8").digest("base64");
    const sasKey =
      `sv=${SAS_VERSION}&spr=${protocol}&se=${encodeURIComponent(se)}&si=${encodeURIComponent(account.identifier)}&sr=c` +
      `&sig=${encodeURIComponent(sig)}`;
    return { sasKey, expiresOn };
  };
  return {
    containerSas,
    responseBody(nowMs) {
      const { sasKey, expiresOn } = containerSas(nowMs);
      return JSON.stringify({ sasKey, url: account.blobServiceUrl, container: account.container, expiresOn });
    },
  };
}
