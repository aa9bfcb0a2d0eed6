// Who owns an upload, and where that shows: the owner comes from the verified token alone (never from the
// client's query) and becomes the first segment of the blob's name, so one person's photos share a prefix
// that an application can list, and the check can read the owner back from the name it signed.
import { createHash } from "node:crypto";

/** The longest owner accepted: Entra's `oid` is 36 characters, `sub` 43, Auth0's `<connection>|<id>` short. */
export const MAX_OWNER_LENGTH = 256;
/** The metadata key the owner is recorded under on the verified copy (and the inbox blob, by the page). */
export const OWNER_METADATA = "owner";

/** Printable ASCII without spaces: it fits a metadata value (an HTTP header) and a log line as it is. */
export function isUsableOwner(owner: string): boolean {
  return owner.length > 0 && owner.length <= MAX_OWNER_LENGTH && /^[\x21-\x7e]+$/.test(owner);
}

/** Names that are already safe as one path segment are kept as they are; others are encoded, marked `~`. */
const PLAIN_SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;

/**
 * The owner's path segment: the owner itself when it is letters, digits, `.`, `_` and `-` (an Entra object
 * id, a Keycloak or Auth0 id), otherwise `~` and the base64url of it (`auth0|abc` → `~YXV0aDB8YWJj`). `~` never
 * starts a plain segment, so the two forms cannot collide.
 */
export function ownerSegment(owner: string): string {
  return PLAIN_SEGMENT.test(owner) ? owner : `~${Buffer.from(owner, "utf8").toString("base64url")}`;
}

/** The owner a blob name was issued for (its first segment, decoded), or undefined for an anonymous name. */
export function ownerOfBlobName(blobName: string): string | undefined {
  const slash = blobName.indexOf("/");
  if (slash <= 0) return undefined;
  const segment = blobName.slice(0, slash);
  if (PLAIN_SEGMENT.test(segment)) return segment;
  if (!/^~[A-Za-z0-9_-]+$/.test(segment)) return undefined;
  const owner = Buffer.from(segment.slice(1), "base64url").toString("utf8");
  return isUsableOwner(owner) && ownerSegment(owner) === segment ? owner : undefined;
}

/** A blob name for `owner`: `<segment>/<name>`. */
export function ownedBlobName(owner: string, name: string): string {
  return `${ownerSegment(owner)}/${name}`;
}

/** The metadata recording a blob's owner, read from its name: empty for an anonymous upload. */
export function ownerMetadata(blobName: string): Record<string, string> {
  const owner = ownerOfBlobName(blobName);
  return owner ? { [OWNER_METADATA]: owner } : {};
}

/**
 * The issuance limits' key for a signed-in person: a hash, as a table key may hold neither `/` nor `?` and an
 * owner may; `owner-` keeps it apart from the address keys (`ipv4-`, `ipv6-`).
 * https://learn.microsoft.com/rest/api/storageservices/understanding-the-table-service-data-model#characters-disallowed-in-key-fields
 */
export function ownerLimitKey(owner: string): string {
  return `owner-${createHash("sha256").update(owner).digest("hex").slice(0, 32)}`;
}
