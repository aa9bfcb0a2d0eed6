// The names the function gives uploads, and what such a name tells the check: signed in, the owner's segment
// (identity/owner.ts), then a random id, the size the upload's token declared, and the extension of its
// content type (`[<owner>/]<id>-<size>.<extension>`). The token is for that one name (`sr=b`), so the owner
// and the size in it are the function's word, not the uploader's.
import { randomUUID } from "node:crypto";

const ID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
/** Signed in, the owner's segment before the upload's own (identity/owner.ts): never `.` or `..`. */
const OWNER = "(?:~?[A-Za-z0-9_-][A-Za-z0-9._-]{0,399}/)?";
const SIZED_NAME = new RegExp(`^${OWNER}${ID}-(\\d{1,16})\\.[a-z0-9]{1,10}$`);

/**
 * Every name the function or the page gives an upload: one path segment of letters, digits, `.`, `_` and
 * `-`, not starting with `.` (so never a `.` or `..` segment), after the owner's segment when signed in.
 */
const SEGMENT = "[A-Za-z0-9_-][A-Za-z0-9._-]{0,254}";
const ANONYMOUS_NAME = new RegExp(`^${SEGMENT}$`);
const OWNED_NAME = new RegExp(`^${OWNER.slice(0, -1)}${SEGMENT}$`);

/**
 * Whether `name` is one the function or the page gives an upload: signed in (`owned` true) always under an
 * owner's segment, anonymous (`owned` false) never; either form when `owned` is not known. The check deletes
 * a blob with any other name unchecked, and the status endpoint answers for these only.
 */
export function isUploadName(name: string, owned?: boolean): boolean {
  if (owned === undefined) return ANONYMOUS_NAME.test(name) || OWNED_NAME.test(name);
  return (owned ? OWNED_NAME : ANONYMOUS_NAME).test(name);
}

/** A fresh name for an upload declaring `size` bytes (a name without a size when none was declared). */
export function uploadBlobName(size: number | undefined, extension: string): string {
  return size === undefined ? `${randomUUID()}.${extension}` : `${randomUUID()}-${size}.${extension}`;
}

/** Whether `name` is one uploadBlobName gives for this extension: what a resume may name. */
export function isUploadBlobName(name: string, extension: string): boolean {
  return new RegExp(`^${OWNER}${ID}(-\\d{1,16})?\\.${extension}$`).test(name);
}

/**
 * The size the token for `name` declared, or undefined for a name the function did not give with a size
 * (a container token's upload, whose token counted as the largest size allowed).
 */
export function declaredSize(name: string): number | undefined {
  const match = SIZED_NAME.exec(name);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}
