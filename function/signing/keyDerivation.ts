// Every HMAC key the function needs (the human pass key, the resume key) is derived from one root secret,
// each under its own label, so that one secret is managed and each use has a key of its own. Also the one
// form of value signed with them, stamped with a time.
import { createHmac, timingSafeEqual } from "node:crypto";
import { SettingsError, trimmed } from "../contract/appSettings";

/** The labels keys are derived under: a new use takes a new label, never a label of another use. */
export const KEY_LABELS = {
  humanPass: "valet human pass key v1",
  resume: "valet resume key v1",
} as const;

/**
 * The root: HMAC-SHA256 keyed with the root secret over a label, base64. In account-key mode it is the
 * account key itself (StorageSharedKeyCredential's own `computeHMACSHA256`, named structurally so infra/
 * loads no storage SDK), so there is no further secret and a key rotation renews every derived key; in
 * identity mode there is no account key, and the root is the secret app setting KEY_DERIVATION_SECRET.
 */
export interface KeyRoot {
  computeHMACSHA256(stringToSign: string): string;
}

const derived = new WeakMap<KeyRoot, Map<string, Buffer>>();

/**
 * The key for one label. Kept per root: the settings, and with them the root, are kept per instance, so
 * requests reuse the key instead of computing an HMAC to get it.
 */
export function deriveKey(root: KeyRoot, label: string): Buffer {
  let keys = derived.get(root);
  if (!keys) {
    keys = new Map();
    derived.set(root, keys);
  }
  let key = keys.get(label);
  if (!key) {
    key = Buffer.from(root.computeHMACSHA256(label), "base64");
    keys.set(label, key);
  }
  return key;
}

/** At least 256 bits, as an HMAC-SHA256 key should have (RFC 2104 section 3: at least the output's length). */
export const MIN_ROOT_SECRET_BYTES = 32;

/**
 * The identity mode's root secret: base64 of at least 32 random bytes (`openssl rand -base64 32`). A
 * secret: no message quotes it.
 */
export function parseRootSecret(name: string, raw: string | undefined): KeyRoot | undefined {
  const text = trimmed(raw);
  if (text === undefined) return undefined;
  const bytes =
    /^[A-Za-z0-9+/]+={0,2}$/.test(text) && text.length % 4 === 0 ? Buffer.from(text, "base64") : undefined;
  if (!bytes || bytes.length < MIN_ROOT_SECRET_BYTES) {
    throw new SettingsError(
      name,
      `${name} must be base64 of at least ${MIN_ROOT_SECRET_BYTES} random bytes (openssl rand -base64 32).`,
    );
  }
  return secretKeyRoot(bytes);
}

export function secretKeyRoot(secret: Buffer): KeyRoot {
  return { computeHMACSHA256: (label) => createHmac("sha256", secret).update(label).digest("base64") };
}

/**
 * A value signed with a derived key: `<Unix seconds>.<HMAC-SHA256 of the fields and the time, base64url>`.
 * It names none of its fields: whoever checks it brings them, so it is valid only for those.
 */
export function signStamped(key: Buffer, fields: readonly (string | number)[], at: Date): string {
  const seconds = Math.floor(at.getTime() / 1000);
  return `${seconds}.${stampMac(key, fields, seconds).toString("base64url")}`;
}

/** The time a stamped value carries, if it was signed with `key` for these fields; undefined otherwise. */
export function openStamped(
  key: Buffer,
  fields: readonly (string | number)[],
  value: string,
  maxLength: number,
): Date | undefined {
  const match = value.length <= maxLength ? /^(\d{1,12})\./.exec(value) : null;
  if (!match?.[1]) return undefined;
  const seconds = Number(match[1]);
  // The value must be the one form signStamped writes, byte for byte: a leading 0 in the time, or a last
  // base64url character whose spare bits differ (which decodes to the same MAC), is another value.
  const expected = Buffer.from(`${seconds}.${stampMac(key, fields, seconds).toString("base64url")}`);
  const given = Buffer.from(value);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
  return new Date(seconds * 1000);
}

function stampMac(key: Buffer, fields: readonly (string | number)[], seconds: number): Buffer {
  return createHmac("sha256", key)
    .update(`${[...fields, seconds].join("\n")}`)
    .digest();
}
