// The two ways tokens can be signed, named once for the stack's `valet:signing`, the local stack's
// VALET_SIGNING and the function (which tells them apart by the setting it is given).
import { SettingsError, trimmed } from "./appSettings";

/**
 * `accountKey`: tokens are service SAS signed with the uploads account's key, which the function holds.
 * `identity`: tokens are user delegation SAS signed with a key the function gets with its managed identity,
 * and the account allows no Shared Key at all.
 * https://learn.microsoft.com/rest/api/storageservices/create-user-delegation-sas
 */
export const SIGNING_MODES = ["accountKey", "identity"] as const;
export type SigningMode = (typeof SIGNING_MODES)[number];
export const DEFAULT_SIGNING_MODE: SigningMode = "accountKey";

export function parseSigningMode(name: string, raw: string | undefined): SigningMode {
  const text = trimmed(raw);
  if (text === undefined) return DEFAULT_SIGNING_MODE;
  const mode = SIGNING_MODES.find((candidate) => candidate === text);
  if (!mode) {
    throw new SettingsError(
      name,
      `${name} must be one of ${SIGNING_MODES.join(", ")} (default ${DEFAULT_SIGNING_MODE}).`,
    );
  }
  return mode;
}
