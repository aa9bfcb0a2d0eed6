// The status endpoint's core: what is known of one upload, for one caller, without HTTP. The edge
// (uploadStatus.ts) reads the request and maps this decision to a response.
import type { AuthSettings } from "../contract/appSettings";
import { type Caller, mayAccess } from "../identity";
import type { Rendition } from "../photos/names";
import type { OutcomeStore } from "./outcomes";

export type UploadState =
  | { blobName: string; state: "pending" }
  | { blobName: string; state: "accepted"; url: string; renditions: readonly Rendition[] }
  | { blobName: string; state: "rejected"; reason: string };

/** Known (with its state), or unknown: never stored, too old, or another person's. */
export type StatusDecision =
  | { readonly kind: "known"; readonly state: UploadState }
  | { readonly kind: "unknown" };

/** What the status is read from: who may see what, the recorded outcomes, and the inbox. */
export interface StatusParts {
  readonly auth: AuthSettings | undefined;
  readonly outcomes: Pick<OutcomeStore, "find">;
  /** The ETag of the inbox's blob of that name, or undefined when there is none. */
  readonly inboxETag: (blobName: string) => Promise<string | undefined>;
}

/**
 * Another person's upload is answered as one that does not exist, before any storage call. Pending is known
 * from the inbox: a blob there has not been decided yet, unless the recorded outcome is for that very version
 * (the moment between recording and deleting it). An outcome with no blob left in the inbox is the answer;
 * neither an outcome nor a blob: never seen (or deleted unchecked by the inbox's lifecycle rule, which only
 * happens to a blob whose event never arrived).
 */
export async function decideUploadStatus(
  blobName: string,
  caller: Caller,
  parts: StatusParts,
): Promise<StatusDecision> {
  if (!mayAccess(caller, parts.auth, blobName)) return { kind: "unknown" };
  const [outcome, inboxETag] = await Promise.all([parts.outcomes.find(blobName), parts.inboxETag(blobName)]);
  if (inboxETag !== undefined && outcome?.eTag !== inboxETag) {
    return { kind: "known", state: { blobName, state: "pending" } };
  }
  if (!outcome) return { kind: "unknown" };
  return {
    kind: "known",
    state:
      outcome.state === "accepted"
        ? { blobName, state: "accepted", url: outcome.url, renditions: outcome.renditions }
        : { blobName, state: "rejected", reason: outcome.reason },
  };
}
