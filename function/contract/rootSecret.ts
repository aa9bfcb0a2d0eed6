// The root every derived key comes from (signing/keyDerivation.ts), and the identity mode's root secret
// setting, parsed here so that infra/config.ts checks the stack's value with the function's own parser.
import { createHmac } from "node:crypto";
import { SettingsError, trimmed } from "./appSettings";

/**
 * The root: HMAC-SHA256 keyed with the root secret over a label, base64. In account-key mode it is the
 * account key itself (StorageSharedKeyCredential's own `computeHMACSHA256`, named structurally so infra/
 * loads no storage SDK), so there is no further secret and a key rotation renews every derived key; in
 * identity mode there is no account key, and the root is the secret app setting KEY_DERIVATION_SECRET.
 */
export interface KeyRoot {
  computeHMACSHA256(stringToSign: string): string;
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
