// One completion event for one recorded outcome: a pure function of the outcome row and, when accepted, of
// the verified blob (which is never replaced), so that every try of the same queue message, and every
// re-delivery of it, publishes the very same event: same id, same time, same data.
// https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/spec.md#id
import { createHash } from "node:crypto";
import type { SendCloudEventInput } from "@azure/eventgrid";
import type { RecordedOutcome } from "../checking/outcomes";
import {
  COMPLETION_EVENT_TYPE,
  COMPLETION_SUBJECT_PREFIX,
  type CompletionData,
} from "../contract/completionEvents";
import { bareETag } from "../contract/eTags";
import { ownerOfBlobName } from "../identity/owner";

/** What the verified blob says of itself: its type and size, and the dimensions the check wrote on it. */
export interface VerifiedFacts {
  readonly contentType: string;
  readonly size: number;
  readonly width?: number;
  readonly height?: number;
}

/**
 * The id of an upload's event: a hash of its name and the ETag of the version decided. One upload version has
 * one verdict and so one id, whichever try publishes it; a new upload under the same name gets a new id.
 * CloudEvents makes `source` + `id` the consumer's key for duplicates.
 */
export function completionEventId(blobName: string, eTag: string): string {
  const hex = createHash("sha256")
    .update(`${blobName}\n${bareETag(eTag)}`)
    .digest("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

export function completionEvent(
  outcome: RecordedOutcome,
  source: string,
  verified?: VerifiedFacts,
): SendCloudEventInput<CompletionData> {
  const owner = ownerOfBlobName(outcome.blobName);
  const common = { blobName: outcome.blobName, ...(owner !== undefined && { owner }) };
  let data: CompletionData;
  if (outcome.state === "accepted") {
    if (!verified) throw new Error("an accepted outcome's event needs the verified blob's facts");
    data = {
      state: "accepted",
      ...common,
      url: outcome.url,
      contentType: verified.contentType,
      size: verified.size,
      ...(verified.width !== undefined && { width: verified.width }),
      ...(verified.height !== undefined && { height: verified.height }),
      ...(outcome.renditions.length > 0 && { renditions: outcome.renditions }),
    };
  } else {
    data = { state: "rejected", ...common, reason: outcome.reason, code: outcome.code };
  }
  return {
    type: COMPLETION_EVENT_TYPE[outcome.state],
    source,
    id: completionEventId(outcome.blobName, outcome.eTag),
    subject: `${COMPLETION_SUBJECT_PREFIX}${outcome.blobName}`,
    time: new Date(outcome.decidedAt),
    datacontenttype: "application/json",
    data,
  };
}
