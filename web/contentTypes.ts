// Content types of the page's files by extension: one table for the local page server and for the blobs
// the Pulumi program uploads to the static website.

/**
 * Content types by extension: Blob Storage serves a blob with the type it was stored with, and a script or
 * stylesheet served as application/octet-stream is refused by the browser (X-Content-Type-Options).
 */
export const PAGE_CONTENT_TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".json": "application/json",
  ".map": "application/json",
  ".txt": "text/plain; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".gif": "image/gif",
  ".webp": "image/webp",
  ".avif": "image/avif",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".webmanifest": "application/manifest+json",
};

/** The content type of a page file, or undefined for an extension the table does not know. */
export function pageContentType(file: string): string | undefined {
  const dot = file.lastIndexOf(".");
  return dot < 0 ? undefined : PAGE_CONTENT_TYPES[file.slice(dot).toLowerCase()];
}
