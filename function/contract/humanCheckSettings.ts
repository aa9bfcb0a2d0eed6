// The opt-in human check's settings: the Turnstile keys and the siteverify URL, one parser each, shared with
// infra/config.ts, which checks the stack's keys with them.
import { type Environment, SETTING, SettingsError, trimmed } from "./appSettings";

/** https://developers.cloudflare.com/turnstile/get-started/server-side-validation/ */
export const DEFAULT_SITEVERIFY_URL = "https://challenges.cloudflare.com/turnstile/v0/siteverify";

export interface HumanCheckSettings {
  readonly secretKey: string;
  readonly siteverifyUrl: string;
}

/** The human check's settings, or undefined when TURNSTILE_SECRET_KEY is unset (the check is off). */
export function parseHumanCheckSettings(env: Environment): HumanCheckSettings | undefined {
  const secretKey = parseTurnstileSecretKey(SETTING.turnstileSecretKey, env[SETTING.turnstileSecretKey]);
  const siteverifyUrl = parseSiteverifyUrl(
    SETTING.turnstileSiteverifyUrl,
    env[SETTING.turnstileSiteverifyUrl],
  );
  return secretKey === undefined ? undefined : { secretKey, siteverifyUrl };
}

/** A secret: the message never quotes it, whatever is wrong. */
export function parseTurnstileSecretKey(name: string, raw: string | undefined): string | undefined {
  const text = trimmed(raw);
  if (text === undefined) return undefined;
  if (!/^[\x21-\x7e]{1,200}$/.test(text)) {
    throw new SettingsError(
      name,
      `${name} must be a Turnstile secret key from the Cloudflare dashboard (printable characters, no spaces).`,
    );
  }
  return text;
}

/** Cloudflare's site keys are short and URL-safe; the page puts one in the widget. */
export function parseTurnstileSiteKey(name: string, raw: string | undefined): string | undefined {
  const text = trimmed(raw);
  if (text === undefined) return undefined;
  if (!/^[A-Za-z0-9_-]{1,100}$/.test(text)) {
    throw new SettingsError(
      name,
      `${name} must be a Turnstile site key from the Cloudflare dashboard (letters, digits, - and _).`,
    );
  }
  return text;
}

/** https, or http to a stand-in on this machine (the tests' and the local stack's). */
export function parseSiteverifyUrl(name: string, raw: string | undefined): string {
  const text = trimmed(raw);
  if (text === undefined) return DEFAULT_SITEVERIFY_URL;
  const url = URL.canParse(text) ? new URL(text) : undefined;
  const loopback = url?.protocol === "http:" && ["127.0.0.1", "localhost", "[::1]"].includes(url.hostname);
  if (!url || !(url.protocol === "https:" || loopback) || url.username || url.password) {
    throw new SettingsError(
      name,
      `${name} must be an https URL (http only on 127.0.0.1, localhost or ::1), default ${DEFAULT_SITEVERIFY_URL}.`,
    );
  }
  return url.href;
}

/** The widget needs the site key and the function the secret key: one without the other is a mistake. */
export function checkTurnstileKeysPaired(
  names: { siteKey: string; secretKey: string },
  set: { siteKey: boolean; secretKey: boolean },
): void {
  if (set.siteKey === set.secretKey) return;
  const [given, missing] = set.siteKey ? [names.siteKey, names.secretKey] : [names.secretKey, names.siteKey];
  throw new SettingsError(
    missing,
    `${given} is set but ${missing} is not: the human check needs both (the page shows the widget with the ` +
      "site key, the function verifies its answers with the secret key), or neither to turn it off.",
  );
}
