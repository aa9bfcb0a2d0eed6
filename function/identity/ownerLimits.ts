// Signed in, the issuance limits count each person: the same token bucket as an address gets, and their own
// daily allowance (DAILY_UPLOAD_BYTES_PER_OWNER), kept in the limits' table under a key of their own.
import { type Environment, SETTING } from "../contract/appSettings";
import { parseMaxUploadBytes } from "../contract/issuanceLimits";
import { checkDailyAllowance, parseDailyUploadBytesPerOwner, parseLimitSettings } from "../contract/limits";
import { parseTableConnection } from "../contract/storageConnection";
import { type Limiter, limitsTableClient, TableLimiter } from "../issuing/limiter";

/** The per-person limiter for these settings, or undefined when both of its limits are off. */
export function createOwnerLimiter(env: Environment): Limiter | undefined {
  const { limits } = parseLimitSettings(env);
  const dailyUploadBytes = parseDailyUploadBytesPerOwner(
    SETTING.dailyUploadBytesPerOwner,
    env[SETTING.dailyUploadBytesPerOwner],
  );
  checkDailyAllowance(
    { daily: SETTING.dailyUploadBytesPerOwner, max: SETTING.maxUploadBytes },
    {
      daily: dailyUploadBytes,
      max: parseMaxUploadBytes(SETTING.maxUploadBytes, env[SETTING.maxUploadBytes]),
    },
  );
  const ownerLimits = { ...limits, dailyUploadBytes };
  if (ownerLimits.ratePerMinute === 0 && dailyUploadBytes === 0) return undefined;
  // The same table as the address limits, required here even when those are off.
  const table = parseTableConnection(
    env,
    SETTING.limitsStorage,
    `the per-person limits keep their counts in a table. Set it, or set ${SETTING.issuanceRatePerMinute} and ` +
      `${SETTING.dailyUploadBytesPerOwner} to 0 to turn them off.`,
  );
  return new TableLimiter(limitsTableClient(table), ownerLimits);
}
