// The names the function gives uploads, and what such a name tells the check: a random id, the size the
// upload's token declared, and the extension of its content type (`<id>-<size>.<extension>`). The token is
// for that one name (`sr=b`), so the size in it is the function's word, not the uploader's.
import { randomUUID } from "node:crypto";

const ID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
const SIZED_NAME = new RegExp(`^${ID}-(\\d{1,16})\\.[a-z0-9]{1,10}$`);

/**
 * Every name the function or the page gives an upload: one path segment of letters, digits, `.`, `_` and
 * `-`, not starting with `.` (so never a `.` or `..` segment, and never a path). The check deletes a blob
 * with any other name unchecked, and the status endpoint answers for these only.
 */
const UPLOAD_NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,254}$/;

export function isUploadName(name: string): boolean {
  return UPLOAD_NAME.test(name);
}

/** A fresh name for an upload declaring `size` bytes (a name without a size when none was declared). */
export function uploadBlobName(size: number | undefined, extension: string): string {
  return size === undefined ? `${randomUUID()}.${extension}` : `${randomUUID()}-${size}.${extension}`;
}

/** Whether `name` is one uploadBlobName gives for this extension: what a resume may name. */
export function isUploadBlobName(name: string, extension: string): boolean {
  return new RegExp(`^${ID}(-\\d{1,16})?\\.${extension}$`).test(name);
}

/**
 * The size the token for `name` declared, or undefined for a name the function did not give with a size
 * (a container token's upload, whose token counted as the largest size allowed).
 */
export function declaredSize(name: string): number | undefined {
  const match = SIZED_NAME.exec(name);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}
