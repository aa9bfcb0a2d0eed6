// The user delegation key an instance signs its keyless tokens with: fetched once, kept, and replaced ahead
// of its expiry, so that no token outlives the key that signed it and the service is asked rarely.
import type { UserDelegationKey } from "@azure/storage-blob";
import { storageFailureCause } from "../platform/uploadsAccount";

/**
 * Get User Delegation Key accepts a start and an expiry within seven days of the current time.
 * https://learn.microsoft.com/rest/api/storageservices/get-user-delegation-key#request-body
 */
export const MAX_KEY_LIFETIME_MS = 7 * 24 * 60 * 60_000;
/**
 * What this instance asks for: two days, well inside the cap (so a clock running ahead of the service's is
 * no problem) and longer than the longest token (24 h) plus the refresh margin, so a key serves about a day
 * before it is replaced.
 */
export const DEFAULT_KEY_LIFETIME_MS = 2 * 24 * 60 * 60_000;
/**
 * The key starts a little in the past: a key (and so a token) dated "now" by this clock may be refused by a
 * storage clock running behind.
 * https://learn.microsoft.com/dotnet/api/azure.storage.blobs.models.blobgetuserdelegationkeyoptions.startson
 */
export const KEY_START_SKEW_MS = 5 * 60_000;
/** A new key is fetched in the background this long before the current one could no longer cover a token. */
export const REFRESH_MARGIN_MS = 15 * 60_000;
/**
 * After a failed fetch, requests that need a new key are refused for a while instead of asking again: 10 s
 * after the first failure, doubling with each further one up to 5 min. A failure that lasts (the role
 * removed, the service answering 503 Server Busy) then costs a few calls an hour per instance, not one
 * every few seconds; Azure Storage asks clients meeting 503 to back off exponentially so the load on the
 * partition can fall.
 * https://learn.microsoft.com/rest/api/storageservices/get-user-delegation-key
 * https://learn.microsoft.com/azure/storage/common/scalability-targets-resource-provider
 */
export const RETRY_AFTER_MS = 10_000;
export const MAX_RETRY_AFTER_MS = 5 * 60_000;

/** How long to refuse after the given number of failures in a row. */
export function retryAfterMs(failures: number): number {
  return Math.min(RETRY_AFTER_MS * 2 ** Math.max(0, failures - 1), MAX_RETRY_AFTER_MS);
}

/** A failed Get User Delegation Key, for the log: the cause as the service named it, never a credential. */
export interface DelegationKeyFailure {
  readonly event: "delegationKey.fetchFailed";
  readonly cause: string;
  /** Failures in a row, this one included. */
  readonly failures: number;
  readonly retryInSeconds: number;
}

export function delegationKeyFailureEvent(error: unknown, failures: number): DelegationKeyFailure {
  return {
    event: "delegationKey.fetchFailed",
    cause: storageFailureCause(error),
    failures,
    retryInSeconds: retryAfterMs(failures) / 1000,
  };
}

export type FetchDelegationKey = (startsOn: Date, expiresOn: Date) => Promise<UserDelegationKey>;

export interface DelegationKeyCacheOptions {
  /** Asks the service for a key (Get User Delegation Key). */
  readonly fetch: FetchDelegationKey;
  /** The longest lifetime of a token signed with the key: the key must outlive every token it signs. */
  readonly longestTokenMs: number;
  readonly keyLifetimeMs?: number;
  /** The clock, in Unix milliseconds (tests pass a fake one). */
  readonly now?: () => number;
  /** Told of each failed fetch (the instance logs it). */
  readonly onFailure?: (failure: DelegationKeyFailure) => void;
}

/**
 * One key per instance. Azure answers 503 (ServerBusy) when Get User Delegation Key is called too often, so
 * it is never called per request: a request is served from the kept key while it can cover the longest
 * token; within the margin before that, the first request starts one background refresh and is still
 * served from the kept key; only a request that finds no key able to cover its token waits, and all such
 * requests wait on the same single fetch.
 */
export class DelegationKeyCache {
  private readonly fetchKey: FetchDelegationKey;
  private readonly longestTokenMs: number;
  private readonly keyLifetimeMs: number;
  private readonly now: () => number;
  private key: UserDelegationKey | undefined;
  private inFlight: Promise<UserDelegationKey> | undefined;
  private readonly onFailure: (failure: DelegationKeyFailure) => void;
  private failure: { readonly at: number; readonly error: unknown; readonly count: number } | undefined;

  constructor(options: DelegationKeyCacheOptions) {
    this.fetchKey = options.fetch;
    this.longestTokenMs = options.longestTokenMs;
    this.keyLifetimeMs = options.keyLifetimeMs ?? DEFAULT_KEY_LIFETIME_MS;
    this.now = options.now ?? Date.now;
    this.onFailure = options.onFailure ?? (() => undefined);
    if (this.keyLifetimeMs > MAX_KEY_LIFETIME_MS - KEY_START_SKEW_MS) {
      throw new RangeError("A user delegation key lasts at most seven days from now (its start included).");
    }
    if (this.keyLifetimeMs <= this.longestTokenMs + REFRESH_MARGIN_MS) {
      throw new RangeError("A user delegation key must outlive the longest token plus the refresh margin.");
    }
  }

  /** A key that stays valid at least as long as the longest token issued now. */
  async current(): Promise<UserDelegationKey> {
    const now = this.now();
    const left = this.key ? this.key.signedExpiresOn.getTime() - now : Number.NEGATIVE_INFINITY;
    if (this.key && left >= this.longestTokenMs + REFRESH_MARGIN_MS) return this.key;
    if (this.key && left >= this.longestTokenMs) {
      // Errors are kept in `failure` and met by the next request that has to wait.
      this.refresh(now).catch(() => undefined);
      return this.key;
    }
    return this.refresh(now);
  }

  private refresh(now: number): Promise<UserDelegationKey> {
    if (this.inFlight) return this.inFlight;
    const failure = this.failure;
    if (failure && now - failure.at < retryAfterMs(failure.count)) return Promise.reject(failure.error);
    const fetching = this.fetchKey(
      new Date(now - KEY_START_SKEW_MS),
      new Date(now + this.keyLifetimeMs),
    ).then(
      (key) => {
        this.key = key;
        this.failure = undefined;
        return key;
      },
      (error: unknown) => {
        const count = (failure?.count ?? 0) + 1;
        this.failure = { at: this.now(), error, count };
        this.onFailure(delegationKeyFailureEvent(error, count));
        throw error;
      },
    );
    this.inFlight = fetching;
    const settle = () => {
      if (this.inFlight === fetching) this.inFlight = undefined;
    };
    fetching.then(settle, settle);
    return fetching;
  }
}
