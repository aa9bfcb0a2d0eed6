// The HTTP functions' routes (the path after `/api/`) and every function's name. No imports: the Pulumi
// program reads the SAS endpoint's route, and the names a publish waits to see listed, from here without
// loading the function's handlers and the storage SDK.
export const CREDENTIALS_ROUTE = "credentials";
/** An upload's state after it was stored: `uploads/<blobName>`. */
export const UPLOAD_STATUS_ROUTE = "uploads/{blobName}";

/** Every function the app registers (functions.ts's table, which a test holds to this list). */
export const FUNCTION_NAMES = ["credentials", "uploadStatus", "validateUpload"] as const;
