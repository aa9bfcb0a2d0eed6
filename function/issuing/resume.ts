// Resuming an upload: the secret the first per-upload token response carries, which later earns a fresh
// token for the same blob, and the rules on when it still may. Stateless: the secret is an HMAC, with a key
// derived from the function's key root (keyDerivation.ts), over the blob's name, its declared size and the time it was issued.
import { openStamped, signStamped } from "../signing/keyDerivation";

/**
 * How long after the upload token's maximum age a resume is still granted: enough for a phone that lost its
 * signal on a train or a person who reloads the page and finds the file again, bounded so that a secret
 * found later (a shared computer, a backup of the browser's storage) is worth nothing.
 */
export const RESUME_GRACE_MINUTES = 60;
/** A secret claiming to come from further in the future than this is not one the function signed. */
const CLOCK_SKEW_MS = 5 * 60_000;
const MAX_SECRET_LENGTH = 100;

/**
 * What a resume secret is bound to: the server-chosen blob name, the size the upload declared, and the
 * token generation (TOKEN_GENERATION) it was issued under, so that raising the generation, which revokes
 * every token issued, also ends every secret that would earn a new one.
 */
export interface ResumableUpload {
  readonly blobName: string;
  readonly size: number;
  readonly generation: number;
}

const fieldsOf = (upload: ResumableUpload) => [upload.blobName, upload.size, `g${upload.generation}`];

/** Stamped with its issue time (keyDerivation.ts), over the blob name, the size and the generation. */
export function signResumeSecret(key: Buffer, upload: ResumableUpload, issuedAt: Date): string {
  return signStamped(key, fieldsOf(upload), issuedAt);
}

/** When a secret issued at `issuedAt` stops earning tokens: the upload token's maximum age plus the grace. */
export function resumableUntil(issuedAt: Date, uploadTokenLifetimeMinutes: number): Date {
  const issued = Math.floor(issuedAt.getTime() / 1000) * 1000;
  return new Date(issued + windowMinutes(uploadTokenLifetimeMinutes) * 60_000);
}

export type ResumeSecretCheck = "valid" | "expired" | "invalid";

/**
 * Whether `secret` was signed for this very upload (blob name, size and generation) and is still within its
 * window. A secret of another blob, another size, another generation or another key is "invalid", whatever
 * its age.
 */
export function verifyResumeSecret(
  key: Buffer,
  upload: ResumableUpload,
  secret: string,
  now: Date,
  uploadTokenLifetimeMinutes: number,
): ResumeSecretCheck {
  const issued = issuedAt(key, upload, secret);
  if (!issued || issued.getTime() > now.getTime() + CLOCK_SKEW_MS) return "invalid";
  const until = resumableUntil(issued, uploadTokenLifetimeMinutes);
  return now.getTime() < until.getTime() ? "valid" : "expired";
}

/**
 * When a secret signed for this upload stops earning tokens, or undefined when it is not one: a token it
 * earns expires then at the latest, so the window bounds what a secret grants, not only when it is asked.
 */
export function resumeSecretUntil(
  key: Buffer,
  upload: ResumableUpload,
  secret: string,
  uploadTokenLifetimeMinutes: number,
): Date | undefined {
  const issued = issuedAt(key, upload, secret);
  return issued && resumableUntil(issued, uploadTokenLifetimeMinutes);
}

const issuedAt = (key: Buffer, upload: ResumableUpload, secret: string) =>
  openStamped(key, fieldsOf(upload), secret, MAX_SECRET_LENGTH);

const windowMinutes = (uploadTokenLifetimeMinutes: number) =>
  uploadTokenLifetimeMinutes + RESUME_GRACE_MINUTES;
