// What the check decided about each upload, kept in a table on the runtime account so that the status
// endpoint can answer on any instance, for as long as the row is kept (rows are never deleted by valet).
import { createHash } from "node:crypto";
import type { TableClient } from "@azure/data-tables";
import { type Environment, SETTING, SettingsError } from "../contract/appSettings";
import { OUTCOMES_TABLE } from "../contract/check";
import {
  parseTableConnection,
  type TableConnection,
  tableServiceUriSetting,
} from "../contract/storageConnection";
import { ownerMetadata } from "../identity/owner";
import type { Rendition } from "../photos/names";
import { isMissingTable, tableClient } from "../platform/tableClient";

export type Outcome =
  | { readonly state: "accepted"; readonly url: string; readonly renditions: readonly Rendition[] }
  | { readonly state: "rejected"; readonly reason: string; readonly code: string };

/** An outcome as kept: for which blob, which version of it (its ETag), and when. */
export type RecordedOutcome = Outcome & {
  readonly blobName: string;
  readonly eTag: string;
  /** The BlobCreated event's sequencer for that version: later writes of a name compare greater. */
  readonly sequencer: string;
  readonly decidedAt: string;
};

export interface OutcomeStore {
  record(outcome: RecordedOutcome): Promise<void>;
  find(blobName: string): Promise<RecordedOutcome | undefined>;
}

/**
 * One row per blob name. The key is a hash of the name: a table key may not hold `/`, `\\`, `#`, `?` or
 * control characters, which a blob name may, and is limited to 1 KiB.
 * https://learn.microsoft.com/rest/api/storageservices/understanding-the-table-service-data-model#characters-disallowed-in-key-fields
 *
 * A row is replaced only by the outcome of a later version (by the events' sequencer, which orders the
 * events of one blob name by string comparison), and an accepted outcome never: the verified blob it
 * points at is never replaced either. Checks of two versions can finish in any order, so the write is
 * conditioned on the row as read (its ETag; a create fails if another created it first) and tried again.
 * https://learn.microsoft.com/azure/event-grid/event-schema-blob-storage#event-properties
 * https://learn.microsoft.com/rest/api/storageservices/update-entity2
 */
export class TableOutcomeStore implements OutcomeStore {
  constructor(private readonly table: TableClient) {}

  async record(outcome: RecordedOutcome): Promise<void> {
    const entity = {
      partitionKey: outcomeKey(outcome.blobName),
      rowKey: ROW,
      blobName: outcome.blobName,
      eTag: outcome.eTag,
      sequencer: outcome.sequencer,
      decidedAt: outcome.decidedAt,
      state: outcome.state,
      // Signed in, who uploaded it: read from the name the function signed, never from the uploader's word.
      ...ownerMetadata(outcome.blobName),
      ...(outcome.state === "accepted"
        ? { url: outcome.url, renditions: JSON.stringify(outcome.renditions) }
        : { reason: outcome.reason, code: outcome.code }),
    };
    for (let tries = 0; tries < 5; tries++) {
      const current = await this.row(outcome.blobName);
      if (current && !supersedes(outcome, current)) return;
      try {
        if (current) await this.table.updateEntity(entity, "Replace", { etag: current.etag });
        else await this.table.createEntity(entity);
        return;
      } catch (error) {
        const status = (error as { statusCode?: unknown }).statusCode;
        if (status !== 409 && status !== 412) throw error;
      }
    }
    throw new Error("the upload's outcome kept changing while it was being recorded");
  }

  private async row(blobName: string): Promise<(Record<string, unknown> & { etag: string }) | undefined> {
    try {
      return await this.table.getEntity<Record<string, unknown>>(outcomeKey(blobName), ROW);
    } catch (error) {
      if ((error as { statusCode?: unknown }).statusCode === 404 && !isMissingTable(error)) return undefined;
      throw error;
    }
  }

  async find(blobName: string): Promise<RecordedOutcome | undefined> {
    const row = await this.row(blobName);
    if (!row) return undefined;
    const text = (name: string) => (typeof row[name] === "string" ? (row[name] as string) : "");
    const common = {
      blobName,
      eTag: text("eTag"),
      sequencer: text("sequencer"),
      decidedAt: text("decidedAt"),
    };
    return row.state === "accepted"
      ? { ...common, state: "accepted", url: text("url"), renditions: parseRenditions(text("renditions")) }
      : { ...common, state: "rejected", reason: text("reason"), code: text("code") };
  }
}

const ROW = "outcome";

/** The renditions as recorded (JSON); a row written before renditions existed has none. */
function parseRenditions(text: string): Rendition[] {
  if (text === "") return [];
  const value: unknown = JSON.parse(text);
  return Array.isArray(value) ? (value as Rendition[]) : [];
}

/** Whether `next` may replace the row: never an accepted one; otherwise only by a version no older. */
function supersedes(next: RecordedOutcome, row: Record<string, unknown>): boolean {
  if (row.state === "accepted") return false;
  // The verified blob of an accepted version is never replaced, so its outcome is the truth whenever it lands.
  if (next.state === "accepted") return true;
  const previous = typeof row.sequencer === "string" ? row.sequencer : "";
  // A row or event without a sequencer cannot be ordered: the newer decision wins, as before.
  if (previous === "" || next.sequencer === "") return true;
  return next.sequencer >= previous;
}

function outcomeKey(blobName: string): string {
  return createHash("sha256").update(blobName).digest("hex");
}

export function parseOutcomesTable(env: Environment): TableConnection {
  return parseTableConnection(
    env,
    SETTING.validationStorage,
    "the check of stored uploads keeps its outcomes in a table on the runtime account.",
  );
}

export function outcomesTableClient(connection: TableConnection): TableClient {
  try {
    return tableClient(connection, OUTCOMES_TABLE);
  } catch {
    // The SDK's own error names neither the setting nor the problem, and may quote the value.
    const name =
      connection.kind === "identity"
        ? tableServiceUriSetting(SETTING.validationStorage)
        : SETTING.validationStorage;
    throw new SettingsError(
      name,
      `${name} is not a usable table service: give the runtime account's table endpoint URL (with the app's ` +
        "identity) or a connection string with AccountName, AccountKey and a table endpoint.",
    );
  }
}
