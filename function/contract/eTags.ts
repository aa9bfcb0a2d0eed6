// An ETag as storage, Event Grid and Defender each write it: with or without the quotes of the HTTP header
// (and `W/` for a weak one); the value is the same. One definition for every comparison of versions.
// https://learn.microsoft.com/rest/api/storageservices/specifying-conditional-headers-for-blob-service-operations

/** The ETag without its quotes. */
export const bareETag = (value: string): string => value.replace(/^(W\/)?"|"$/g, "");

/** Whether two ETags name the same version, whatever their quoting. */
export function sameETag(a: string, b: string): boolean {
  return bareETag(a) === bareETag(b);
}
