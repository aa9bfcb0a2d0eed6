// The status endpoint's core without HTTP or storage: pending, accepted, rejected and unknown, and whose
// uploads a signed-in caller may see.
import { describe, expect, test } from "vitest";
import type { RecordedOutcome } from "../../function/checking/outcomes";
import { decideUploadStatus, type StatusParts } from "../../function/checking/uploadState";
import type { AuthSettings } from "../../function/contract/appSettings";
import { ownedBlobName } from "../../function/identity/owner";

const NAME = "0f8fad5b-d9cb-469f-a165-70867728950e.png";

function parts(
  outcome: RecordedOutcome | undefined,
  inboxETag: string | undefined,
  auth?: AuthSettings,
): StatusParts {
  return { auth, outcomes: { find: async () => outcome }, inboxETag: async () => inboxETag };
}

const common = { blobName: NAME, eTag: '"0x1"', sequencer: "01", decidedAt: "2030-01-01T00:00:00Z" };
const accepted: RecordedOutcome = {
  ...common,
  state: "accepted",
  url: "https://x/verified/a.png",
  renditions: [],
};
const rejected: RecordedOutcome = { ...common, state: "rejected", reason: "not an image", code: "content" };

const AUTH: AuthSettings = {
  issuer: "https://issuer.example",
  audiences: ["valet"],
  ownerClaim: "sub",
  algorithms: ["RS256"],
};

describe("decideUploadStatus", () => {
  test("a blob in the inbox with no outcome of its version is pending", async () => {
    expect(await decideUploadStatus(NAME, {}, parts(rejected, '"0x2"'))).toEqual({
      kind: "known",
      state: { blobName: NAME, state: "pending" },
    });
  });

  test("an outcome recorded for the very version still in the inbox is the answer", async () => {
    expect(await decideUploadStatus(NAME, {}, parts(accepted, '"0x1"'))).toEqual({
      kind: "known",
      state: { blobName: NAME, state: "accepted", url: accepted.url, renditions: [] },
    });
  });

  test("a rejected upload gone from the inbox says why", async () => {
    expect(await decideUploadStatus(NAME, {}, parts(rejected, undefined))).toEqual({
      kind: "known",
      state: { blobName: NAME, state: "rejected", reason: "not an image" },
    });
  });

  test("neither an outcome nor a blob is unknown", async () => {
    expect(await decideUploadStatus(NAME, {}, parts(undefined, undefined))).toEqual({ kind: "unknown" });
  });

  test("signed in, another person's upload is unknown, and storage is not read", async () => {
    const name = ownedBlobName("alice", NAME);
    const unreadable: StatusParts = {
      auth: AUTH,
      outcomes: { find: () => Promise.reject(new Error("read")) },
      inboxETag: () => Promise.reject(new Error("read")),
    };
    expect(await decideUploadStatus(name, { owner: "bob" }, unreadable)).toEqual({ kind: "unknown" });
    expect(await decideUploadStatus(name, {}, unreadable)).toEqual({ kind: "unknown" });
    expect(
      await decideUploadStatus(
        name,
        { owner: "alice" },
        parts({ ...accepted, blobName: name }, undefined, AUTH),
      ),
    ).toMatchObject({ kind: "known", state: { state: "accepted" } });
  });
});
