// What a file's row says of valet's check once its bytes are stored: "Checking…", then the verdict (or why
// there is none) in words, with the thumbnail valet made of an accepted photo. DOM only: the client asks.
import type { CheckStatus, Rendition } from "../client";

/** A thumbnail's two renditions: WebP, and the JPEG or PNG for a browser without it. */
export interface Thumbnail {
  readonly webp: string;
  readonly fallback: string;
}

/** What a row shows: `checking`, `verified`, `rejected` or `unconfirmed` (for styles and tests), and the words. */
export interface CheckText {
  readonly state: "checking" | "verified" | "rejected" | "unconfirmed";
  readonly text: string;
  readonly thumbnail?: Thumbnail;
}

export const CHECKING: CheckText = { state: "checking", text: "Checking…" };

export function describeCheck(status: CheckStatus): CheckText {
  switch (status.state) {
    case "accepted": {
      const thumbnail = thumbnailOf(status.renditions);
      return { state: "verified", text: "Verified", ...(thumbnail && { thumbnail }) };
    }
    case "rejected":
      return { state: "rejected", text: `Rejected: ${status.reason}` };
    case "pending":
      return {
        state: "unconfirmed",
        text: "Still being checked: this is taking longer than usual. The check goes on; reload later to see its result.",
      };
    case "unconfirmed":
      // The endpoint's own words may already end a sentence.
      return {
        state: "unconfirmed",
        text: `The check could not be confirmed: ${status.problem.replace(/[.!?]*$/, ".")}`,
      };
  }
}

/** The thumbnail's names among the renditions, when both formats are there. */
export function thumbnailOf(renditions: readonly Rendition[]): Thumbnail | undefined {
  const thumbs = renditions.filter((rendition) => rendition.kind === "thumb");
  const webp = thumbs.find((rendition) => rendition.contentType === "image/webp");
  const fallback = thumbs.find((rendition) => rendition.contentType !== "image/webp");
  return webp && fallback ? { webp: webp.name, fallback: fallback.name } : undefined;
}

/**
 * The row's line for the check, added under its status; `announce` tells screen readers the verdict. Once
 * verified, the row shows the thumbnail valet made (upright and without the photo's metadata), from the URL
 * `renditionUrl` gives, when it gives one.
 */
export function checkLine(
  row: HTMLElement,
  announce: (message: string) => void,
  renditionUrl: ((name: string) => string) | undefined,
  label = "the upload",
): (text: CheckText) => void {
  const line = document.createElement("p");
  line.className = "upload-verification";
  row.append(line);
  return ({ state, text, thumbnail }) => {
    row.dataset.verification = state;
    line.textContent = text;
    if (thumbnail && renditionUrl) row.append(thumbnailPicture(renditionUrl, thumbnail, label));
    if (state !== "checking") announce(text);
  };
}

function thumbnailPicture(
  renditionUrl: (name: string) => string,
  thumbnail: Thumbnail,
  label: string,
): HTMLElement {
  const picture = document.createElement("picture");
  picture.className = "upload-thumbnail";
  const source = document.createElement("source");
  source.type = "image/webp";
  source.srcset = renditionUrl(thumbnail.webp);
  const image = document.createElement("img");
  image.src = renditionUrl(thumbnail.fallback);
  image.alt = `Thumbnail of ${label}`;
  image.decoding = "async";
  picture.append(source, image);
  return picture;
}
