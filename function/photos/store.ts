// The storage side of processing a photo: reads a candidate upload whole (only once its first bytes passed),
// and writes its renditions beside the verified image. processPhoto does the work in between.
import type { BlobClient, ContainerClient } from "@azure/storage-blob";
import type { ImageContentType } from "../contract/issuanceLimits";
import { isRenditionName } from "./names";
import { type EncodedRendition, type PhotoRules, type ProcessedPhoto, processPhoto } from "./process";

/**
 * The upload, read whole and only if it is still the version checked (`If-Match`: a 412 or 404 surfaces as
 * the RestError the caller settles), then processed. A name in the renditions' form is refused unread: it
 * would land where another upload's rendition lives.
 */
export async function preparePhoto(
  inbox: BlobClient,
  size: number,
  conditions: { ifMatch: string },
  contentType: ImageContentType,
  rules: PhotoRules,
): Promise<ProcessedPhoto> {
  if (isRenditionName(inbox.name)) {
    return {
      accepted: false,
      code: "reservedName",
      reason: "the file name ends like a rendition's (.feed.webp, .thumb.jpg, …): choose another name",
    };
  }
  const bytes = await inbox.downloadToBuffer(0, size, { conditions, maxRetryRequestsPerBlock: 0 });
  return processPhoto(bytes, contentType, inbox.name, rules);
}

/**
 * Written before the verified image, so that an image in the verified container always has its renditions
 * (a retry after a failure in between writes them again, replacing the same bytes). Only the function writes
 * the verified container, and rendition names are refused as upload names, so nothing else has these names.
 */
export async function writeRenditions(
  container: ContainerClient,
  renditions: readonly EncodedRendition[],
): Promise<void> {
  for (const rendition of renditions) {
    await container.getBlockBlobClient(rendition.name).uploadData(rendition.data, {
      blobHTTPHeaders: { blobContentType: rendition.contentType },
    });
  }
}
