// Reads what a caller asks for from the query string and checks it against the issuance limits: either a
// container token (no parameters), a token for one upload (filename + contentType + size), or a fresh
// token for an upload already started (the same, plus blobName, with its resume secret in a header).
import { isIPv4, isIPv6 } from "node:net";
import { IMAGE_EXTENSIONS, type ImageContentType, type IssuanceLimits } from "../contract/issuanceLimits";
import { isUploadBlobName } from "../contract/uploadNames";

/** Query parameters the endpoint understands; anything else is refused rather than silently ignored. */
export const UPLOAD_PARAMETERS = ["filename", "contentType", "size", "blobName"] as const;
type UploadParameter = (typeof UPLOAD_PARAMETERS)[number];

const MAX_FILENAME_LENGTH = 255;
const MAX_CONTENT_TYPE_LENGTH = 100;

export type TokenRequest =
  | { readonly kind: "container" }
  | {
      readonly kind: "upload";
      readonly contentType: ImageContentType;
      /** The extension the blob gets: the canonical one for the content type. */
      readonly extension: string;
      /** The declared size: the most the token lets through, and what the daily allowance counts. */
      readonly size: number;
      /** Present when the caller resumes the upload of this blob, presenting its resume secret. */
      readonly resume?: { readonly blobName: string; readonly secret: string };
    };

/** The caller's input is wrong: a 400 whose message says what to change. */
export class RequestError extends Error {
  override name = "RequestError";
}

/**
 * `resumeSecret` is the X-Valet-Resume-Secret header's value (null without one): the secret never travels in
 * the URL, which request logs keep.
 */
export function parseTokenRequest(
  query: URLSearchParams,
  limits: IssuanceLimits,
  resumeSecret: string | null = null,
): TokenRequest {
  const values = new Map<UploadParameter, string>();
  for (const [name, value] of query) {
    if (name === "resumeSecret") {
      // Never echoed: the value is a secret, already in every log that kept this URL.
      throw new RequestError(
        "The resume secret must not be sent in the URL, where request logs keep it: send it in the X-Valet-Resume-Secret header and blobName in the query.",
      );
    }
    if (!(UPLOAD_PARAMETERS as readonly string[]).includes(name)) {
      throw new RequestError(
        `Unknown query parameter ${quote(name)}: the parameters are ${UPLOAD_PARAMETERS.join(", ")}.`,
      );
    }
    const parameter = name as UploadParameter;
    if (values.has(parameter)) throw new RequestError(`The parameter ${parameter} is given more than once.`);
    values.set(parameter, value);
  }

  if (values.size === 0) {
    if (resumeSecret !== null) throw RESUME_INCOMPLETE;
    if (!limits.containerTokensEnabled) {
      throw new RequestError(
        "Container tokens are turned off: ask for a token per upload with ?filename=<name>&contentType=<type>&size=<bytes>.",
      );
    }
    return { kind: "container" };
  }

  const filename = values.get("filename");
  const contentTypeText = values.get("contentType");
  const sizeText = values.get("size");
  const incomplete = new RequestError(
    "A per-upload token needs filename, contentType and size (the file's size in bytes).",
  );
  if (filename === undefined || contentTypeText === undefined) throw incomplete;
  const contentType = parseContentType(contentTypeText, limits);
  const extension = parseExtension(filename, contentType);
  if (sizeText === undefined) throw incomplete;
  const size = parseSize(sizeText, limits);
  const resume = parseResume(values.get("blobName"), resumeSecret ?? undefined, extension);
  return { kind: "upload", contentType, extension, size, ...(resume && { resume }) };
}

const MAX_RESUME_SECRET_LENGTH = 100;
const RESUME_INCOMPLETE = new RequestError(
  "Resuming an upload needs its blobName in the query and its resume secret in the X-Valet-Resume-Secret header, both from its first token.",
);

/**
 * A resume names the blob the function chose for the upload (uploadNames.ts) and the secret that came with its first token. Whether the secret is right is the handler's check.
 */
function parseResume(
  blobName: string | undefined,
  secret: string | undefined,
  extension: string,
): { blobName: string; secret: string } | undefined {
  if (blobName === undefined && secret === undefined) return undefined;
  if (blobName !== undefined && !isUploadBlobName(blobName, extension)) {
    throw new RequestError(
      `blobName must be the name the upload's first token gave, ending in .${extension} for its contentType, not ${quote(blobName)}.`,
    );
  }
  if (blobName === undefined || secret === undefined) throw RESUME_INCOMPLETE;
  if (secret.length === 0 || secret.length > MAX_RESUME_SECRET_LENGTH || hasControlCharacters(secret)) {
    throw new RequestError(
      `The X-Valet-Resume-Secret header must hold the resume secret of the upload's first token (at most ${MAX_RESUME_SECRET_LENGTH} printable characters).`,
    );
  }
  return { blobName, secret };
}

function parseContentType(text: string, limits: IssuanceLimits): ImageContentType {
  if (text.length === 0 || text.length > MAX_CONTENT_TYPE_LENGTH || hasControlCharacters(text)) {
    throw new RequestError(
      `contentType must be a MIME type of at most ${MAX_CONTENT_TYPE_LENGTH} printable characters.`,
    );
  }
  const type = text.trim().toLowerCase();
  const allowed = limits.allowedContentTypes.find((candidate) => candidate === type);
  if (!allowed) {
    throw new RequestError(
      `contentType ${quote(type)} is not allowed: upload one of ${limits.allowedContentTypes.join(", ")}.`,
    );
  }
  return allowed;
}

/** The client's file name is only used to check its extension; it never becomes part of a blob path. */
function parseExtension(filename: string, contentType: ImageContentType): string {
  if (filename.length === 0 || filename.length > MAX_FILENAME_LENGTH) {
    throw new RequestError(`filename must be 1 to ${MAX_FILENAME_LENGTH} characters long.`);
  }
  if (hasControlCharacters(filename) || /[/\\]/.test(filename)) {
    throw new RequestError(
      "filename must be a bare file name, without path separators or control characters.",
    );
  }
  const dot = filename.lastIndexOf(".");
  const extension = dot > 0 ? filename.slice(dot + 1).toLowerCase() : "";
  const expected: readonly string[] = IMAGE_EXTENSIONS[contentType];
  if (!expected.includes(extension)) {
    throw new RequestError(
      `filename must end in .${expected.join(" or .")} for contentType ${contentType}` +
        (extension ? `, not ${quote(`.${extension}`, 20)}.` : "."),
    );
  }
  return expected[0] ?? extension;
}

function parseSize(text: string, limits: IssuanceLimits): number {
  if (!/^\d{1,16}$/.test(text) || Number(text) === 0) {
    throw new RequestError("size must be the file's size in bytes, a whole number greater than 0.");
  }
  const size = Number(text);
  if (size > limits.maxUploadBytes) {
    throw new RequestError(`The file is too large: the limit is ${limits.maxUploadBytes} bytes.`);
  }
  return size;
}

/**
 * The caller's IPv4 address as the Functions front end reports it, or undefined. SAS `sip` takes IPv4
 * addresses only.
 * https://learn.microsoft.com/rest/api/storageservices/create-service-sas#specify-an-ip-address-or-ip-range
 */
export function clientIpv4(forwardedFor: string | null): string | undefined {
  const address = clientAddress(forwardedFor);
  return address?.family === 4 ? address.address : undefined;
}

/**
 * The caller's address as the Functions front end reports it, or undefined. The front end appends the
 * address it saw (written `address:port`, `[v6]:port` or bare) to any `X-Forwarded-For` the client sent,
 * so only the last entry is trusted: the first ones are whatever the client chose.
 */
export function clientAddress(
  forwardedFor: string | null,
): { readonly family: 4 | 6; readonly address: string } | undefined {
  const last = forwardedFor?.split(",").at(-1)?.trim();
  if (!last) return undefined;
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(last)?.[1];
  const v6 = bracketed ?? (isIPv6(last) ? last : undefined);
  const mapped = v6 && /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(v6)?.[1];
  if (v6 && !mapped) return isIPv6(v6) ? { family: 6, address: v6.toLowerCase() } : undefined;
  const candidate = (mapped || last).replace(/^::ffff:/i, "").replace(/:\d+$/, "");
  return isIPv4(candidate) ? { family: 4, address: candidate } : undefined;
}

/**
 * The key the issuance limits count a caller under: its IPv4 address (/32), or the /64 network of its
 * IPv6 address, since one IPv6 subscriber is usually handed a whole /64. A table key may hold neither
 * `/` nor `?`, hence the written form. Callers without an address share one key.
 */
export function clientKey(forwardedFor: string | null): string {
  const address = clientAddress(forwardedFor);
  if (!address) return "unknown";
  if (address.family === 4) return `ipv4-${address.address}`;
  return `ipv6-${ipv6Hextets(address.address).slice(0, 4).join(":")}`;
}

/** A key the issuance limits count a caller under, and how many callers' limits that key gets. */
export interface LimitTier {
  readonly key: string;
  readonly scale: number;
}

/**
 * Every key a request counts against: its clientKey, and for IPv6 also its /56 (4 callers' limits) and its
 * /48 (16 callers' limits). An end site is handed a /48 or a /56 (RIPE-690), and tunnel brokers give a /48
 * for free: a /48 holds 65,536 /64s, so without the wider tiers one person would hold as many buckets. The
 * wider tiers still leave a household or an office on one /48 room for several people at once.
 * https://www.ripe.net/publications/docs/ripe-690/ (4.2, prefix assignment options)
 */
export function limitTiers(forwardedFor: string | null): readonly LimitTier[] {
  const address = clientAddress(forwardedFor);
  const key = clientKey(forwardedFor);
  if (address?.family !== 6) return [{ key, scale: 1 }];
  const hextets = ipv6Hextets(address.address);
  return [
    { key, scale: 1 },
    { key: `ipv6-56-${[...hextets.slice(0, 3), hextets[3]?.slice(0, 2)].join(":")}`, scale: 4 },
    { key: `ipv6-48-${hextets.slice(0, 3).join(":")}`, scale: 16 },
  ];
}

/** The eight 16-bit groups of an IPv6 address (already checked by isIPv6), zero-padded. */
function ipv6Hextets(address: string): string[] {
  const [head = "", tail] = address.split("::");
  const groups = (part: string) =>
    part === ""
      ? []
      : part.split(":").flatMap((group) => {
          if (!group.includes(".")) return [group];
          const [a = 0, b = 0, c = 0, d = 0] = group.split(".").map(Number);
          return [((a << 8) | b).toString(16), ((c << 8) | d).toString(16)];
        });
  const start = groups(head);
  const end = tail === undefined ? [] : groups(tail);
  const zeros = Array.from({ length: 8 - start.length - end.length }, () => "0");
  return [...start, ...zeros, ...end].map((group) => group.padStart(4, "0"));
}

function hasControlCharacters(text: string): boolean {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
  return /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(text);
}

/** Echoes a short piece of input safely: JSON-escaped (no raw control characters or quotes), truncated. */
function quote(text: string, max = 40): string {
  return JSON.stringify(text.length > max ? `${text.slice(0, max)}…` : text);
}
