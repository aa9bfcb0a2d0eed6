// Every HMAC key the function needs (the human pass key, the resume key) is derived from one root secret,
// each under its own label, so that one secret is managed and each use has a key of its own. Also the one
// form of value signed with them, stamped with a time.
import { createHmac, timingSafeEqual } from "node:crypto";
import type { KeyRoot } from "../contract/rootSecret";

/** The labels keys are derived under: a new use takes a new label, never a label of another use. */
export const KEY_LABELS = {
  humanPass: "valet human pass key v1",
  resume: "valet resume key v1",
} as const;

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
