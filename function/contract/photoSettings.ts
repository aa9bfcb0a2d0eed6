// What an accepted photo becomes: the quality of its re-encode and the sizes and quality of its renditions.
// infra/config.ts calls these parsers with stack keys, so each rule lives once.
import { type Environment, parseWholeNumber, SETTING } from "./appSettings";

/**
 * JPEG, WebP and AVIF are re-encoded at this quality (libvips' 1 to 100 scale): 90 keeps a photo visually
 * the same as its original at about the size a phone writes. PNG and GIF are re-encoded losslessly.
 */
export const DEFAULT_PHOTO_QUALITY = 90;
/** Renditions are shown small, where 80 is indistinguishable and a third smaller than 90. */
export const DEFAULT_RENDITION_QUALITY = 80;
export const QUALITY_BOUNDS = { min: 1, max: 100 } as const;
/** The long side of the feed rendition: a full-width image on a large screen. */
export const DEFAULT_FEED_SIZE = 1600;
/** The long side of the thumbnail: a grid cell on a phone at 2x. */
export const DEFAULT_THUMBNAIL_SIZE = 320;
export const RENDITION_SIZE_BOUNDS = { min: 16, max: 8192 } as const;

export interface PhotoSettings {
  readonly quality: number;
  readonly renditionQuality: number;
  readonly feedSize: number;
  readonly thumbnailSize: number;
}

export function parsePhotoSettings(env: Environment): PhotoSettings {
  return {
    quality: parsePhotoQuality(SETTING.photoQuality, env[SETTING.photoQuality]),
    renditionQuality: parseRenditionQuality(SETTING.renditionQuality, env[SETTING.renditionQuality]),
    feedSize: parseFeedSize(SETTING.feedSize, env[SETTING.feedSize]),
    thumbnailSize: parseThumbnailSize(SETTING.thumbnailSize, env[SETTING.thumbnailSize]),
  };
}

// One parser per setting; infra/config.ts may call them with stack keys.

export function parsePhotoQuality(name: string, raw: string | undefined): number {
  return parseWholeNumber(name, raw, DEFAULT_PHOTO_QUALITY, QUALITY_BOUNDS, "quality steps");
}

export function parseRenditionQuality(name: string, raw: string | undefined): number {
  return parseWholeNumber(name, raw, DEFAULT_RENDITION_QUALITY, QUALITY_BOUNDS, "quality steps");
}

export function parseFeedSize(name: string, raw: string | undefined): number {
  return parseWholeNumber(name, raw, DEFAULT_FEED_SIZE, RENDITION_SIZE_BOUNDS, "pixels");
}

export function parseThumbnailSize(name: string, raw: string | undefined): number {
  return parseWholeNumber(name, raw, DEFAULT_THUMBNAIL_SIZE, RENDITION_SIZE_BOUNDS, "pixels");
}
