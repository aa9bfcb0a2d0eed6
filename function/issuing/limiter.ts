// Applies the issuance limits with counts shared by every instance: one Table Storage row per client,
// written only if nobody changed it since it was read (its ETag), so concurrent instances never lose a count.
import { setTimeout as sleep } from "node:timers/promises";
import type { TableClient as Client, Edm } from "@azure/data-tables";
import { type Environment, SETTING, SettingsError } from "../contract/appSettings";
import {
  type ClientUsage,
  type Decision,
  decide,
  type IssuanceLimits,
  LIMITS_TABLE,
  LIMITS_TABLE_SERVICE_URI,
  type LimitsTable,
  parseLimitSettings,
} from "../contract/limits";
import { isMissingTable, tableClient } from "../platform/tableClient";

/**
 * A decision, and what it was counted on: the shared table; this instance's memory because the table failed
 * (with the failure, which the caller reports in a sampled warning); or nothing, for a flood refused at once.
 */
export type LimiterDecision = Decision &
  ({ readonly countedOn: "table" | "none" } | { readonly countedOn: "memory"; readonly fallback: string });

/** What an instance let through and refused on its own counts, since it last reported them. */
export interface FallbackCounts {
  readonly allowed: number;
  readonly refused: number;
}

/**
 * Decides one request for one client and records it. When the shared counts cannot be read or kept, it
 * decides on counts of its own, with the same limits, and tallies those decisions until they are taken.
 */
export interface Limiter {
  /** `scale`: how many callers' limits the key gets (a wider IPv6 prefix, uploadRequest.ts limitTiers). */
  check(clientKey: string, bytes: number, now: number, scale?: number): Promise<LimiterDecision>;
  takeFallbackCounts(): FallbackCounts;
}

/** The table could not be reached in time, or answered with a failure: the instance counts in memory. */
export class LimitsUnavailableError extends Error {
  override name = "LimitsUnavailableError";
}

/** The table's answers the loop below acts on (the rest are failures). */
const NOT_FOUND = 404;
const ALREADY_EXISTS = 409;
const CHANGED_SINCE_READ = 412;
/** Writes lost to other instances before refusing (each loss means another instance's write landed). */
const MAX_ATTEMPTS = 10;
/** A slow table must not hold up issuance for long: past this the request goes on without the limits. */
export const TABLE_TIMEOUT_MS = 2000;
/** Rows of usage this instance remembers (with their ETags), so a client's next request is one write. */
const CACHE_SIZE = 10_000;
/**
 * One client's requests this instance holds waiting for the table at once. More at the same moment is a
 * flood, not a person (the page sends a few at a time): the rest are refused at once instead of piling up.
 */
export const MAX_QUEUED_PER_CLIENT = 32;
/** After the table failed, how long requests skip it and go on without the limits rather than wait on it. */
const UNAVAILABLE_FOR_MS = 10_000;

/** One row per client: the client is the partition (spreading load), the row has a fixed key. */
const USAGE_ROW = "usage";

/**
 * A usage row as written. The numbers go typed as Edm.Double rather than untyped: Table Storage infers a
 * type for an untyped number (a whole one as Edm.Int32), and a timestamp in milliseconds or a day's bytes
 * do not fit an Int32; Double holds them exactly (integers up to 2^53). Reading gives plain numbers back.
 * https://learn.microsoft.com/rest/api/storageservices/payload-format-for-table-service-operations#property-types-in-a-json-feed
 */
type Row = { partitionKey: string; rowKey: string; day: string } & {
  [K in Exclude<keyof ClientUsage, "day">]: Edm<"Double">;
};

function rowOf(clientKey: string, usage: ClientUsage): Row {
  const double = (value: number): Edm<"Double"> => ({ value, type: "Double" });
  return {
    partitionKey: clientKey,
    rowKey: USAGE_ROW,
    day: usage.day,
    tokens: double(usage.tokens),
    updatedAt: double(usage.updatedAt),
    grantedBytes: double(usage.grantedBytes),
    requests: double(usage.requests),
    refused: double(usage.refused),
  };
}

/**
 * Optimistic concurrency: each write carries the ETag of the row it was computed from (If-Match) and fails
 * with 412 when another instance wrote in between; a first write is an insert that fails with 409 when
 * the row already exists. Either way the row is read again and the decision made again.
 * https://learn.microsoft.com/rest/api/storageservices/update-entity2
 * https://learn.microsoft.com/rest/api/storageservices/insert-entity
 * The row this instance last wrote is kept with its ETag, so the usual request costs one round trip
 * (a write) rather than two (a read, then a write).
 */
export class TableLimiter implements Limiter {
  private readonly known = new Map<string, { usage: ClientUsage; etag: string }>();
  /** The last check queued per client: this instance checks one client's requests one at a time. */
  private readonly queues = new Map<string, { last: Promise<unknown>; waiting: number }>();
  /** Until when the table counts as unavailable, after a failure (0: available). */
  private unavailableUntil = 0;
  /** Each client's usage as this instance alone counted it while the table failed. */
  private readonly memory = new Map<string, ClientUsage>();
  private fallbackCounts = { allowed: 0, refused: 0 };

  constructor(
    private readonly table: Client,
    private readonly limits: IssuanceLimits,
  ) {}

  /**
   * Requests of one client that reach this instance together are checked in turn, each from the row the
   * one before wrote: racing them would only make them overwrite each other's ETag. Only writes from
   * other instances can then be lost, and are retried.
   */
  check(clientKey: string, bytes: number, now: number, scale = 1): Promise<LimiterDecision> {
    const limits = scaled(this.limits, scale);
    // The time allowed counts from here, waiting in the queue included, so a hanging table costs each
    // request at most TABLE_TIMEOUT_MS however many of the same client's requests are queued.
    const abortSignal = AbortSignal.timeout(TABLE_TIMEOUT_MS);
    const queue = this.queues.get(clientKey) ?? { last: Promise.resolve(), waiting: 0 };
    if (queue.waiting >= MAX_QUEUED_PER_CLIENT) {
      return Promise.resolve(this.flood(clientKey, bytes, now, limits));
    }
    queue.waiting++;
    const next = queue.last
      .catch(() => undefined)
      .then(() => this.checkNow(clientKey, bytes, now, limits, abortSignal))
      .catch((error: unknown) => {
        if (!(error instanceof LimitsUnavailableError)) throw error;
        return this.decideInMemory(clientKey, bytes, now, limits, error.message);
      });
    queue.last = next;
    this.queues.set(clientKey, queue);
    const settle = () => {
      queue.waiting--;
      if (queue.waiting === 0 && this.queues.get(clientKey) === queue) this.queues.delete(clientKey);
    };
    next.then(settle, settle);
    return next;
  }

  /**
   * A refusal for a flood from one client, decided without the table: counting it would only add to the
   * backlog it comes from. The usage reported is the last this instance wrote, unchanged.
   */
  private flood(clientKey: string, bytes: number, now: number, limits: IssuanceLimits): LimiterDecision {
    const usage = this.known.get(clientKey)?.usage ?? decide(limits, undefined, now, bytes).usage;
    return { allowed: false, reason: "rate", retryAfterSeconds: 1, usage, countedOn: "none" };
  }

  /**
   * The table failed: the same limits on this instance's own counts, starting from the client's last row
   * this instance saw, so an outage of the table is not an outage of the limits. Each instance counts
   * apart (n instances let a client through n times the burst at most), and the counts are not written
   * back when the table returns: bounded, where failing open was not.
   */
  private decideInMemory(
    clientKey: string,
    bytes: number,
    now: number,
    limits: IssuanceLimits,
    cause: string,
  ): LimiterDecision {
    const previous = this.memory.get(clientKey) ?? this.known.get(clientKey)?.usage;
    const decision = decide(limits, previous, now, bytes);
    this.memory.delete(clientKey);
    this.memory.set(clientKey, decision.usage);
    evictOldest(this.memory);
    if (decision.allowed) this.fallbackCounts.allowed++;
    else this.fallbackCounts.refused++;
    return { ...decision, countedOn: "memory", fallback: cause };
  }

  takeFallbackCounts(): FallbackCounts {
    const counts = this.fallbackCounts;
    this.fallbackCounts = { allowed: 0, refused: 0 };
    return counts;
  }

  private async checkNow(
    clientKey: string,
    bytes: number,
    now: number,
    limits: IssuanceLimits,
    abortSignal: AbortSignal,
  ): Promise<LimiterDecision> {
    if (Date.now() < this.unavailableUntil) {
      throw new LimitsUnavailableError("the limits' table failed moments ago");
    }
    // Out of time before the table was even asked: the requests ahead of this one used it up. The table
    // answers (it would have failed above otherwise), so this is a backlog of one client's requests, not an
    // outage: refused like a flood rather than let through uncounted.
    if (abortSignal.aborted) return this.flood(clientKey, bytes, now, limits);
    try {
      return {
        ...(await this.decideAndRecord(clientKey, bytes, now, limits, abortSignal)),
        countedOn: "table",
      };
    } catch (error) {
      this.unavailableUntil = Date.now() + UNAVAILABLE_FOR_MS;
      // Named by its kind and code only: a storage error's message can carry URLs and request details.
      const code = isMissingTable(error) ? "TableNotFound" : (error as { code?: unknown } | undefined)?.code;
      const status = statusOf(error);
      throw new LimitsUnavailableError(
        [
          error instanceof Error ? error.name : typeof error,
          status,
          typeof code === "string" ? code : undefined,
        ]
          .filter((part) => part !== undefined)
          .join(" "),
      );
    }
  }

  private async decideAndRecord(
    clientKey: string,
    bytes: number,
    now: number,
    limits: IssuanceLimits,
    abortSignal: AbortSignal,
  ): Promise<Decision> {
    let current = this.known.get(clientKey);
    let decision = decide(limits, current?.usage, now, bytes);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      decision = decide(limits, current?.usage, now, bytes);
      const row = rowOf(clientKey, decision.usage);
      try {
        const { etag } = current
          ? await this.table.updateEntity(row, "Replace", { etag: current.etag, abortSignal })
          : await this.table.createEntity(row, { abortSignal });
        if (!etag) throw new Error("the table answered a write without an ETag");
        this.remember(clientKey, { usage: decision.usage, etag });
        return decision;
      } catch (error) {
        const status = statusOf(error);
        // A missing table is a deployment fault, not a lost race: the limits are unavailable.
        if (isMissingTable(error)) throw error;
        if (status !== CHANGED_SINCE_READ && status !== ALREADY_EXISTS && status !== NOT_FOUND) throw error;
        // Another instance wrote first: wait a random moment, so the instances stop colliding, and read.
        await sleep(Math.random() * 10 * (attempt + 1), undefined, { signal: abortSignal });
        current = await this.read(clientKey, abortSignal);
      }
    }
    // So many instances write this one client's row at once that none of these writes landed: that is a
    // flood from one client, not a person, so it is refused for a second rather than let through uncounted.
    return { allowed: false, reason: "rate", retryAfterSeconds: 1, usage: decision.usage };
  }

  private async read(clientKey: string, abortSignal: AbortSignal) {
    try {
      const entity = await this.table.getEntity<ClientUsage>(clientKey, USAGE_ROW, { abortSignal });
      const { tokens, updatedAt, day, grantedBytes, requests, refused } = entity;
      return { usage: { tokens, updatedAt, day, grantedBytes, requests, refused }, etag: entity.etag };
    } catch (error) {
      if (statusOf(error) === NOT_FOUND && !isMissingTable(error)) return undefined;
      throw error;
    }
  }

  private remember(clientKey: string, entry: { usage: ClientUsage; etag: string }): void {
    this.known.delete(clientKey);
    this.known.set(clientKey, entry);
    evictOldest(this.known);
  }
}

/** Keeps a map of clients (in the order last used) within CACHE_SIZE. */
function evictOldest(map: Map<string, unknown>): void {
  if (map.size <= CACHE_SIZE) return;
  const oldest = map.keys().next().value;
  if (oldest !== undefined) map.delete(oldest);
}

/** The limits of `scale` callers: each of the bucket's size, its refill and the daily allowance times it. */
function scaled(limits: IssuanceLimits, scale: number): IssuanceLimits {
  if (scale === 1) return limits;
  return {
    ratePerMinute: limits.ratePerMinute * scale,
    burst: limits.burst * scale,
    dailyUploadBytes: limits.dailyUploadBytes * scale,
  };
}

function statusOf(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown } | undefined)?.statusCode;
  return typeof status === "number" ? status : undefined;
}

/** A client for the limits table: an identity in Azure, a connection string elsewhere (Azurite). */
export function limitsTableClient(table: LimitsTable): Client {
  // One retry for a transient failure; the timeout above bounds the whole check anyway.
  return tableClient(table, LIMITS_TABLE, {
    retryOptions: { maxRetries: 1, retryDelayInMs: 100, maxRetryDelayInMs: 500 },
  });
}

/** The limiter for these settings, or undefined when both limits are off. */
export function createLimiter(env: Environment): Limiter | undefined {
  const { limits, table } = parseLimitSettings(env);
  if (!table) return undefined;
  let client: Client;
  try {
    client = limitsTableClient(table);
  } catch {
    // The SDK's own error (often a TypeError from deep inside its parser) names neither the setting nor
    // the problem, and may quote the value: this names the setting and stays quiet about the value.
    const name = table.kind === "identity" ? LIMITS_TABLE_SERVICE_URI : SETTING.limitsStorage;
    throw new SettingsError(
      name,
      `${name} is not a usable table service: give an account's table endpoint URL (with the app's identity) ` +
        "or a connection string with AccountName, AccountKey and a table endpoint.",
    );
  }
  return new TableLimiter(client, limits);
}
