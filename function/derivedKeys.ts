// The function's own secrets (the human pass key, the resume key), each derived from the credential it
// signs tokens with: the one place that knows the root, so a change of root changes every derived key here.
// Also the one form of value signed with them, stamped with a time.
import { createHmac, timingSafeEqual } from "node:crypto";

/** StorageSharedKeyCredential's own HMAC with the account key (named structurally: infra/ loads this file). */
export interface KeyRoot {
  computeHMACSHA256(stringToSign: string): string;
}

/**
 * One fixed label per purpose: keys for different purposes differ, so a value signed for one purpose is
 * never valid for another. A new version of a label ends every value signed under the old one.
 */
export const KEY_LABELS = {
  humanPass: "valet human pass key v1",
  resume: "valet resume key v1",
} as const;

export type KeyPurpose = keyof typeof KEY_LABELS;

const derived = new WeakMap<object, Map<KeyPurpose, Buffer>>();

/**
 * The key for one purpose: an HMAC of its label with the root, so there is no further secret to manage, a
 * rotation of the root also ends every value signed with a derived key, and the root itself signs only
 * tokens. Derived once per credential and purpose: the settings, and with them the credential, are kept
 * per instance, so requests reuse the key instead of computing an HMAC to get it.
 */
export function deriveKey(root: KeyRoot, purpose: KeyPurpose): Buffer {
  let keys = derived.get(root);
  if (!keys) {
    keys = new Map();
    derived.set(root, keys);
  }
  let key = keys.get(purpose);
  if (!key) {
    key = Buffer.from(root.computeHMACSHA256(KEY_LABELS[purpose]), "base64");
    keys.set(purpose, key);
  }
  return key;
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
  const match = value.length <= maxLength ? /^(\d{1,12})\.([A-Za-z0-9_-]+)$/.exec(value) : null;
  if (!match?.[1] || !match[2]) return undefined;
  const seconds = Number(match[1]);
  const expected = stampMac(key, fields, seconds);
  const given = Buffer.from(match[2], "base64url");
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
  return new Date(seconds * 1000);
}

function stampMac(key: Buffer, fields: readonly (string | number)[], seconds: number): Buffer {
  return createHmac("sha256", key)
    .update(`${[...fields, seconds].join("\n")}`)
    .digest();
}
