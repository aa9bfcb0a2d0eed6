// The client's follow-up of the check after an upload, without a browser: where it asks, how long it waits
// between tries and when it stops, and what each answer of the status endpoint becomes on the page's row.
import { describe, expect, test } from "vitest";
import {
  DEFAULT_POLL_TIMING,
  delayBefore,
  type PollTiming,
  pollCheckStatus,
  renditionUrl,
  statusUrl,
} from "../../client/checkStatus";
import { CHECKING, type CheckText, describeCheck } from "../../web/verdictLine";

const API = "http://127.0.0.1:7071/api/credentials";
const BLOB = "3f0c1b9e.png";
const TIMING: PollTiming = { firstDelayMs: 100, factor: 2, maxDelayMs: 500, maxTries: 5 };

type Reply = { status?: number; body?: unknown; headers?: Record<string, string> } | Error;

/** A status endpoint answering with the given replies in turn (the last one again when they run out). */
function statusEndpoint(...replies: Reply[]) {
  const urls: string[] = [];
  const inits: (RequestInit | undefined)[] = [];
  const fetchImpl = (async (input: string | URL | Request, init?: RequestInit) => {
    urls.push(String(input));
    inits.push(init);
    const reply = replies.length > 1 ? replies.shift() : replies[0];
    if (!reply) throw new Error("no reply");
    if (reply instanceof Error) throw reply;
    const text = typeof reply.body === "string" ? reply.body : JSON.stringify(reply.body);
    return new Response(text, {
      status: reply.status ?? 200,
      headers: { "content-type": "application/json", ...reply.headers },
    });
  }) as typeof fetch;
  const waits: number[] = [];
  const sleep = async (ms: number) => {
    waits.push(ms);
  };
  return { urls, inits, waits, fetchImpl, sleep };
}

const pending = { body: { blobName: BLOB, state: "pending" } };
const accepted = {
  body: {
    blobName: BLOB,
    state: "accepted",
    url: `http://127.0.0.1:10000/devstoreaccount1/verified/${BLOB}`,
  },
};
const rejected = {
  body: { blobName: BLOB, state: "rejected", reason: "the file is not a PNG image: its bytes are HTML" },
};

describe("where and how often the page asks", () => {
  test("the status endpoint sits beside the SAS endpoint, under the same api prefix, with the name escaped", () => {
    expect(statusUrl(API, BLOB)).toBe("http://127.0.0.1:7071/api/uploads/3f0c1b9e.png");
    expect(statusUrl("https://app.azurewebsites.net/api/credentials", "a b#?.png")).toBe(
      "https://app.azurewebsites.net/api/uploads/a%20b%23%3F.png",
    );
  });

  test("each wait doubles from the first until the ceiling", () => {
    expect([1, 2, 3, 4, 5].map((attempt) => delayBefore(attempt, TIMING))).toEqual([100, 200, 400, 500, 500]);
    expect(
      Array.from({ length: DEFAULT_POLL_TIMING.maxTries }, (_, index) =>
        delayBefore(index + 1, DEFAULT_POLL_TIMING),
      ).reduce((sum, ms) => sum + ms, 0),
    ).toBe(95_000);
  });

  test("it waits before each try with backoff and stops at the verdict", async () => {
    const endpoint = statusEndpoint(pending, pending, accepted);
    const verdict = await pollCheckStatus(API, BLOB, { ...endpoint, timing: TIMING });
    expect(verdict).toEqual({ state: "accepted", url: accepted.body.url, renditions: [] });
    expect(endpoint.waits).toEqual([100, 200, 400]);
    expect(endpoint.urls).toEqual(Array(3).fill("http://127.0.0.1:7071/api/uploads/3f0c1b9e.png"));
    expect(endpoint.inits[0]).toMatchObject({ cache: "no-store", credentials: "omit" });
  });

  test("it stops after the last try when the check is still pending", async () => {
    const endpoint = statusEndpoint(pending);
    expect(await pollCheckStatus(API, BLOB, { ...endpoint, timing: TIMING })).toEqual({ state: "pending" });
    expect(endpoint.urls).toHaveLength(5);
    expect(endpoint.waits).toEqual([100, 200, 400, 500, 500]);
  });

  test("a 429 is asked again no sooner than it says", async () => {
    const endpoint = statusEndpoint(
      { status: 429, body: { error: "Too many requests.", retryAfterSeconds: 3 } },
      rejected,
    );
    const verdict = await pollCheckStatus(API, BLOB, { ...endpoint, timing: TIMING });
    expect(verdict).toEqual({ state: "rejected", reason: rejected.body.reason });
    expect(endpoint.waits).toEqual([100, 3000]);
  });

  test("an abort stops the polling with the abort's reason", async () => {
    const controller = new AbortController();
    const endpoint = statusEndpoint(pending);
    const sleep = async () => {
      controller.abort(new Error("page closed"));
      throw controller.signal.reason;
    };
    await expect(
      pollCheckStatus(API, BLOB, { ...endpoint, sleep, timing: TIMING, signal: controller.signal }),
    ).rejects.toThrow("page closed");
    expect(endpoint.urls).toEqual([]);
  });
});

describe("what each answer becomes", () => {
  const follow = async (...replies: Reply[]) => {
    const endpoint = statusEndpoint(...replies);
    // What the page shows: "Checking…" once stored, then the client's answer in words.
    const shown: CheckText[] = [CHECKING];
    const last = describeCheck(await pollCheckStatus(API, BLOB, { ...endpoint, timing: TIMING }));
    shown.push(last);
    return { shown, last, asked: endpoint.urls.length };
  };

  test("the row says Checking… at once, then Verified", async () => {
    const { shown, asked } = await follow(pending, accepted);
    expect(shown).toEqual([CHECKING, { state: "verified", text: "Verified" }]);
    expect(CHECKING.text).toBe("Checking…");
    expect(asked).toBe(2);
  });

  test("a rejection shows the endpoint's reason", async () => {
    const { last } = await follow(rejected);
    expect(last).toEqual({
      state: "rejected",
      text: "Rejected: the file is not a PNG image: its bytes are HTML",
    });
  });

  test("a rejection without a reason still reads as one, and a long reason is cut short", async () => {
    expect((await follow({ body: { blobName: BLOB, state: "rejected" } })).last.text).toBe(
      "Rejected: the file did not pass the check",
    );
    const long = (await follow({ body: { blobName: BLOB, state: "rejected", reason: "x".repeat(2000) } }))
      .last;
    expect(long.text).toBe(`Rejected: ${"x".repeat(500)}`);
  });

  test("still pending after every try: the row says plainly that the check goes on", async () => {
    const { last, asked } = await follow(pending);
    expect(asked).toBe(TIMING.maxTries);
    expect(last).toEqual({
      state: "unconfirmed",
      text: "Still being checked: this is taking longer than usual. The check goes on; reload later to see its result.",
    });
  });

  test("a 400 ends the polling at once with the endpoint's words", async () => {
    const { last, asked } = await follow({
      status: 400,
      body: { error: "The blob name must be a name valet issued." },
    });
    expect(asked).toBe(1);
    expect(last).toEqual({
      state: "unconfirmed",
      text: "The check could not be confirmed: The blob name must be a name valet issued.",
    });
  });

  test("a 404 is asked again, since the event may not have arrived, and is named when it lasts", async () => {
    const later = await follow({ status: 404, body: { error: "Unknown upload." } }, pending, accepted);
    expect(later.last.state).toBe("verified");
    const never = await follow({ status: 404, body: { error: "Unknown upload." } });
    expect(never.asked).toBe(TIMING.maxTries);
    expect(never.last).toEqual({
      state: "unconfirmed",
      text: "The check could not be confirmed: the check service does not know this upload.",
    });
  });

  test("network failures and server errors are tried again, and named when they last", async () => {
    const recovered = await follow(new TypeError("Failed to fetch"), { status: 503, body: {} }, rejected);
    expect(recovered.last.state).toBe("rejected");
    expect(recovered.asked).toBe(3);
    expect((await follow(new TypeError("Failed to fetch"))).last.text).toBe(
      "The check could not be confirmed: the check service could not be reached.",
    );
    expect((await follow({ status: 500, body: { error: "Internal error." } })).last.text).toBe(
      "The check could not be confirmed: the check service answered with status 500.",
    );
  });

  test("an answer the page does not understand is tried again, and named when it lasts", async () => {
    const { last } = await follow({ body: "<html>" }, { body: { state: "accepted" } });
    expect(last.text).toBe(
      "The check could not be confirmed: the check service sent an answer this page does not understand.",
    );
  });

  test("an accepted answer's thumbnail renditions reach the row; without both formats there is none", async () => {
    const renditions = [
      {
        name: `${BLOB}.feed.webp`,
        kind: "feed",
        width: 1600,
        height: 1200,
        contentType: "image/webp",
        bytes: 9,
      },
      {
        name: `${BLOB}.thumb.webp`,
        kind: "thumb",
        width: 320,
        height: 240,
        contentType: "image/webp",
        bytes: 9,
      },
      {
        name: `${BLOB}.thumb.png`,
        kind: "thumb",
        width: 320,
        height: 240,
        contentType: "image/png",
        bytes: 9,
      },
    ];
    const withThumbnail = { body: { ...accepted.body, renditions } };
    const verdict = await pollCheckStatus(API, BLOB, { ...statusEndpoint(withThumbnail), timing: TIMING });
    const thumbnail = { webp: `${BLOB}.thumb.webp`, fallback: `${BLOB}.thumb.png` };
    const listed = renditions.map(({ bytes: _, ...rendition }) => rendition);
    expect(verdict).toEqual({ state: "accepted", url: accepted.body.url, renditions: listed });
    expect(describeCheck(verdict)).toEqual({ state: "verified", text: "Verified", thumbnail });
    const onlyWebp = { body: { ...accepted.body, renditions: renditions.slice(0, 2) } };
    const webpOnly = await pollCheckStatus(API, BLOB, { ...statusEndpoint(onlyWebp), timing: TIMING });
    expect(webpOnly).toEqual({ state: "accepted", url: accepted.body.url, renditions: listed.slice(0, 2) });
    expect(describeCheck(webpOnly)).toEqual({ state: "verified", text: "Verified" });
    expect(renditionUrl("https://app.azurewebsites.net/api/credentials", "a b#.png.thumb.webp")).toBe(
      "https://app.azurewebsites.net/api/renditions/a%20b%23.png.thumb.webp",
    );
  });

  test("each verdict has its own words", () => {
    expect(describeCheck({ state: "accepted", url: "u", renditions: [] })).toEqual({
      state: "verified",
      text: "Verified",
    });
    expect(describeCheck({ state: "rejected", reason: "SVG is never accepted" }).text).toBe(
      "Rejected: SVG is never accepted",
    );
  });
});
