// The page's shared shapes: what the checks read of a file, and where one upload goes. No imports, so every
// module may take them without forming a circle.

/** The part of a File the checks look at (a File satisfies it). */
export interface FileFacts {
  readonly name: string;
  readonly size: number;
  readonly type: string;
}

/** Where one upload goes and with which token. */
export interface UploadTarget {
  readonly blobName: string;
  /** Signed in: the upload's owner, recorded as the blob's `owner` metadata. */
  readonly owner?: string;
  /** The blob's URL without the token. */
  readonly blobUrl: string;
  readonly sasKey: string;
  readonly expiresOn: Date;
  /** A per-upload token may upload in blocks; a container token is create-only, so one Put Blob. */
  readonly perUpload: boolean;
  /** With an upload's first per-upload token: what earns fresh tokens for the same blob, and until when. */
  readonly resume?: { readonly secret: string; readonly until: Date };
}
