// What GET /api/credentials answers: the bodies the page reads. No imports, so the page's bundle can take
// them without any of the function's code.

/** The response contract. `sasKey` and `url` are the original fields; the rest are additive. */
export interface CredentialsBody {
  /** SAS query string without a leading `?`. */
  sasKey: string;
  /** Blob service URL without a trailing slash: clients PUT to `<url>/<container>/<name>?<sasKey>`. */
  url: string;
  container: string;
  /** When the token stops working, ISO 8601 UTC, equal to its `se` field. */
  expiresOn: string;
}

/** A token for one blob whose name the server chose. */
export interface UploadCredentialsBody extends CredentialsBody {
  blobName: string;
  /** The blob's URL without the token: clients PUT to `<blobUrl>?<sasKey>`. */
  blobUrl: string;
  /**
   * With an upload's first token: presented later with `blobName` (resume.ts), it earns a fresh token for
   * the same blob until `resumableUntil`. A resumed token's answer carries neither.
   */
  resumeSecret?: string;
  /** When `resumeSecret` stops earning tokens, ISO 8601 UTC. */
  resumableUntil?: string;
  /**
   * Signed in: whom the upload belongs to (the token's owner claim), for the page to record as the inbox blob's
   * `owner` metadata. valet itself trusts only the name's first segment, which the token binds.
   */
  owner?: string;
}
