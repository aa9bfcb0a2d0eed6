// Row 9: keyless signing against account-key signing, on Azurite: the first token of a fresh instance
// (keyless: an Entra ID token, then the user delegation key's round trip over HTTPS) and the steady state,
// where both sign an HMAC in this process.
import type { TokenCredential } from "@azure/identity";
import type { Environment } from "../function/contract/appSettings";
import { issueUploadToken } from "../function/issuing/tokens";
import { parseSettings } from "../function/platform/settings";
import { signerFor } from "../function/signing/signing";
import { perSecond } from "./issuance";
import { alternate, type BenchRow, ratioOf, round } from "./results";

export interface KeylessOptions {
  runs: number;
  /** How long each steady-state run issues tokens for. */
  runMs: number;
  accountKeySettings: Environment;
  identitySettings: Environment;
  /** A fresh one per instance, as each instance has its own. */
  credential: () => TokenCredential;
}

/**
 * Keyless costs one round trip per instance, then an HMAC per token like the key. The SDK signs a user
 * delegation token with more fields and makes its key credential anew for each one, which costs about
 * twice the CPU of an account-key token (measured: tens of microseconds either way, against the
 * milliseconds of any request): the target is that it stays within that, not that it matches the key.
 */
export const KEYLESS_STEADY_TARGET = 0.5;
/** The first token on loopback, the key's round trip included. */
export const KEYLESS_FIRST_TOKEN_TARGET_MS = 500;

export async function benchKeyless(options: KeylessOptions): Promise<BenchRow> {
  const upload = { extension: "png" };
  const firstToken = (env: Environment, credential?: () => TokenCredential) => async () => {
    const start = performance.now();
    const settings = parseSettings(env, { uploadsCredential: credential?.() });
    await issueUploadToken(settings, signerFor(settings), new Date(), upload);
    return performance.now() - start;
  };
  const first = await alternate(
    options.runs,
    firstToken(options.identitySettings, options.credential),
    firstToken(options.accountKeySettings),
    2,
  );

  const identity = parseSettings(options.identitySettings, { uploadsCredential: options.credential() });
  const accountKey = parseSettings(options.accountKeySettings);
  // One signer per side, kept as an instance keeps its own (keyless, with its key cache).
  const signers = new Map([identity, accountKey].map((settings) => [settings, signerFor(settings)]));
  const issueWith = (settings: typeof identity) => async () =>
    (await issueUploadToken(settings, signers.get(settings) ?? signerFor(settings), new Date(), upload))
      .sasKey;
  // Warm both (the key fetched, the JIT done), then alternate.
  await perSecond(issueWith(identity), Math.min(200, options.runMs));
  await perSecond(issueWith(accountKey), Math.min(200, options.runMs));
  const steady = await alternate(
    options.runs,
    () => perSecond(issueWith(identity), options.runMs),
    () => perSecond(issueWith(accountKey), options.runMs),
    0,
  );

  const steadyRatio = ratioOf(steady.project.median, steady.baseline.median, "higher");
  const ratio = ratioOf(first.project.median, first.baseline.median, "lower");
  return {
    id: "keyless",
    title: "9. Keyless signing, first token on a fresh instance",
    unit: "ms",
    better: "lower",
    project: first.project,
    baseline: first.baseline,
    ratio: round(ratio),
    target: `first < ${KEYLESS_FIRST_TOKEN_TARGET_MS} ms, steady >= ${KEYLESS_STEADY_TARGET}x account key`,
    targetMet: first.project.median < KEYLESS_FIRST_TOKEN_TARGET_MS && steadyRatio >= KEYLESS_STEADY_TARGET,
    details: {
      firstTokenAddedMs: round(first.project.median - first.baseline.median, 2),
      steadyIdentityPerSecond: steady.project.median,
      steadyAccountKeyPerSecond: steady.baseline.median,
      steadyRatio: round(steadyRatio),
    },
  };
}
