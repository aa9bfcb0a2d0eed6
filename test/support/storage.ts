// Blob service calls shared by the tests: an operation's status, and a raw single-request upload.
import { RestError } from "@azure/storage-blob";

/** The HTTP status an SDK operation ended with: 200 for success, the service's status for a RestError. */
export async function statusOf(operation: Promise<unknown>): Promise<number> {
  try {
    await operation;
    return 200;
  } catch (error) {
    if (error instanceof RestError && error.statusCode) return error.statusCode;
    throw error;
  }
}

/** A raw single-request upload (Put Blob), as a browser's fetch would send it; resolves to the status. */
export async function putBlob(
  url: string,
  body: string | Uint8Array<ArrayBuffer>,
  contentType = "image/png",
): Promise<number> {
  const response = await fetch(url, {
    method: "PUT",
    body,
    headers: { "x-ms-blob-type": "BlockBlob", "Content-Type": contentType },
  });
  return response.status;
}
