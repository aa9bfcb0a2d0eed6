// The HTTP functions' routes (the path after `/api/`) and every function's name. No imports: the Pulumi
// program reads the SAS endpoint's route, and the names a publish waits to see listed, from here without
// loading the function's handlers and the storage SDK.
export const CREDENTIALS_ROUTE = "credentials";
/** An upload's state after it was stored: `uploads/<blobName>`. */
export const UPLOAD_STATUS_ROUTE = "uploads/{blobName}";
/** Signed in, an upload's name starts with its owner's segment: `uploads/<owner>/<name>`. */
export const OWNED_UPLOAD_STATUS_ROUTE = "uploads/{owner}/{blobName}";
/** A short-lived read URL for the owner's verified image: `images/<owner>/<name>`. */
export const IMAGE_READ_ROUTE = "images/{owner}/{blobName}";
/** One rendition of an accepted photo, by the name the status endpoint lists: `renditions/<name>`. */
export const RENDITION_ROUTE = "renditions/{name}";

/** Every function the app registers (functions.ts's table, which a test holds to this list). */
export const FUNCTION_NAMES = [
  "credentials",
  "uploadStatus",
  "ownedUploadStatus",
  "imageRead",
  "rendition",
  "validateUpload",
  "malwareScanResult",
] as const;
