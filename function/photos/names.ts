// The names of an accepted photo's renditions in the verified container, derived from the upload's name, and
// the list of them as the status endpoint answers it and a verified blob's metadata keeps it. No SDK imports:
// the page and the status endpoint share these.

/** The renditions every accepted photo gets, by the part of the name they add. */
export const RENDITION_KINDS = ["feed", "thumb"] as const;
export type RenditionKind = (typeof RENDITION_KINDS)[number];

/** WebP for browsers (every current one decodes it), and a fallback for the rest: JPEG, or PNG with alpha. */
export const RENDITION_FORMATS = {
  webp: "image/webp",
  jpg: "image/jpeg",
  png: "image/png",
} as const;
export type RenditionExtension = keyof typeof RENDITION_FORMATS;

/** One rendition as the status endpoint lists it. */
export interface Rendition {
  readonly name: string;
  readonly kind: RenditionKind;
  readonly width: number;
  readonly height: number;
  readonly contentType: string;
  readonly bytes: number;
}

/**
 * `<upload name>.<kind>.<extension>`: the whole upload name is kept, so `a.png` and `a.jpg` never share a
 * rendition. Such names are reserved: an upload named like a rendition is refused (isRenditionName), so no
 * upload can take or replace another's rendition.
 */
export function renditionName(blobName: string, kind: RenditionKind, extension: RenditionExtension): string {
  return `${blobName}.${kind}.${extension}`;
}

const RENDITION_SUFFIX = new RegExp(
  `\\.(${RENDITION_KINDS.join("|")})\\.(${Object.keys(RENDITION_FORMATS).join("|")})$`,
  "i",
);

export function isRenditionName(name: string): boolean {
  return RENDITION_SUFFIX.test(name);
}

/**
 * The list in a blob metadata value, which must be ASCII (the names are left out: they follow from the blob's
 * own name, which may not be). `feed.webp:1600x1200:52341,thumb.jpg:320x240:9120`.
 * https://learn.microsoft.com/rest/api/storageservices/setting-and-retrieving-properties-and-metadata-for-blob-resources
 */
export function renditionsMetadata(renditions: readonly Rendition[], blobName: string): string {
  return renditions
    .map((r) => `${r.name.slice(blobName.length + 1)}:${r.width}x${r.height}:${r.bytes}`)
    .join(",");
}

/** The list back from renditionsMetadata's form; entries that are not renditions are dropped. */
export function parseRenditionsMetadata(text: string | undefined, blobName: string): Rendition[] {
  const renditions: Rendition[] = [];
  for (const entry of (text ?? "").split(",")) {
    const match = /^(feed|thumb)\.(webp|jpg|png):(\d+)x(\d+):(\d+)$/.exec(entry);
    if (!match) continue;
    const [, kind, extension, width, height, bytes] = match as unknown as [
      string,
      RenditionKind,
      RenditionExtension,
      string,
      string,
      string,
    ];
    renditions.push({
      name: renditionName(blobName, kind, extension),
      kind,
      width: Number(width),
      height: Number(height),
      contentType: RENDITION_FORMATS[extension],
      bytes: Number(bytes),
    });
  }
  return renditions;
}
