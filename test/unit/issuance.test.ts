// The issuance core's decisions without HTTP or storage: what is counted, in which order requests are refused,
// and what a resume, the human check and a table outage come to.
import { describe, expect, test } from "vitest";
import { SETTING, SettingsError } from "../../function/contract/appSettings";
import type { Decision } from "../../function/contract/limits";
import {
  accessPolicyDecision,
  decideIssuance,
  type IssuanceAsk,
  type IssuanceDecision,
  type IssuanceParts,
} from "../../function/issuing/issuance";
import type { Limiter, LimiterDecision } from "../../function/issuing/limiter";
import { UploadOutcomeUnavailableError } from "../../function/issuing/uploadOutcome";
import { LogSampler } from "../../function/platform/logSampler";
import { parseSettings } from "../../function/platform/settings";
import { AccessPolicyError } from "../../function/signing/accessPolicies";
import { signerFor } from "../../function/signing/signing";
import { connectionStrings } from "../support/accounts";
import { LIMITS_OFF } from "../support/function";

const UPLOAD = "filename=a.png&contentType=image/png&size=2048";

function ask(query: string, fields: Partial<IssuanceAsk> = {}): IssuanceAsk {
  return {
    query: new URLSearchParams(query),
    forwardedFor: "203.0.113.7:50000",
    resumeSecret: null,
    origin: null,
    humanPass: null,
    turnstileToken: null,
    owner: undefined,
    ...fields,
  };
}

interface Recorded {
  logs: Array<{ level: string; event: Record<string, unknown> }>;
}

function parts(
  env: Record<string, string> = {},
  overrides: Partial<IssuanceParts> = {},
): IssuanceParts & Recorded {
  const logs: Recorded["logs"] = [];
  const settings = parseSettings({
    ...LIMITS_OFF,
    [SETTING.connectionString]: connectionStrings.azureWithoutSuffix,
    ...env,
  });
  return {
    settings,
    signer: signerFor(settings),
    limiter: undefined,
    ownerLimiter: undefined,
    uploadFinished: async () => false,
    sampler: new LogSampler(),
    log: (level, event) => logs.push({ level, event: event as Record<string, unknown> }),
    now: () => new Date(),
    logs,
    ...overrides,
  };
}

/** A limiter that lets `allowed` requests through and refuses the rest, keeping the bytes it was asked about. */
function countingLimiter(allowed: number, asked: number[] = []): Limiter & { asked: number[] } {
  const usage = { tokens: 0, updatedAt: 0, day: "2030-01-01", grantedBytes: 0, requests: 0, refused: 0 };
  return {
    asked,
    async check(_key, bytes): Promise<LimiterDecision> {
      asked.push(bytes);
      const decision: Decision =
        asked.length <= allowed
          ? { allowed: true, usage }
          : { allowed: false, usage, reason: "rate", retryAfterSeconds: 7 };
      return { ...decision, countedOn: "table" };
    },
    takeFallbackCounts: () => ({ allowed: 0, refused: 0 }),
  };
}

function issuedBody(decision: IssuanceDecision): Record<string, unknown> {
  if (decision.kind !== "issued") throw new Error(`expected a token, got ${decision.kind}`);
  return decision.body as unknown as Record<string, unknown>;
}

describe("decideIssuance", () => {
  test("issues a container token and logs it without the token", async () => {
    const instance = parts();
    const decision = await decideIssuance(ask(""), instance);
    const body = issuedBody(decision);
    expect(body.container).toBe("images");
    expect(instance.logs.map((line) => line.event.event)).toEqual(["token.issued"]);
    expect(JSON.stringify(instance.logs)).not.toContain(String(body.sasKey));
  });

  test("counts an upload's declared size, a container token as the largest upload, and a bad request as nothing", async () => {
    const asked: number[] = [];
    const instance = parts({ [SETTING.maxUploadBytes]: "5000000" }, { limiter: countingLimiter(10, asked) });
    await decideIssuance(ask(UPLOAD), instance);
    await decideIssuance(ask(""), instance);
    const bad = await decideIssuance(ask("filename=a.png&size=-1"), instance);
    expect(bad.kind).toBe("badRequest");
    // One tier per IPv4 caller: its own address.
    expect(asked).toEqual([2048, 5_000_000, 0]);
  });

  test("a bad request over the limit is refused for the limit, not for its input", async () => {
    const decision = await decideIssuance(ask("nonsense=1"), parts({}, { limiter: countingLimiter(0) }));
    expect(decision).toMatchObject({
      kind: "limited",
      counted: "address",
      refusal: { retryAfterSeconds: 7 },
    });
  });

  test("signed in, the person is counted first and a refusal there spends nothing of the address", async () => {
    const address: number[] = [];
    const decision = await decideIssuance(
      ask(UPLOAD, { owner: "alice" }),
      parts({}, { ownerLimiter: countingLimiter(0), limiter: countingLimiter(10, address) }),
    );
    expect(decision).toMatchObject({ kind: "limited", counted: "person" });
    expect(address).toEqual([]);
  });

  test("signed in, a container token is a bad request", async () => {
    const decision = await decideIssuance(ask("", { owner: "alice" }), parts());
    expect(decision).toMatchObject({
      kind: "badRequest",
      message: expect.stringContaining("per upload only"),
    });
  });

  test("a limiter that fails lets the request through and says so once", async () => {
    const broken: Limiter = {
      check: async () => {
        throw new Error("table gone");
      },
      takeFallbackCounts: () => ({ allowed: 0, refused: 0 }),
    };
    const instance = parts({}, { limiter: broken });
    expect((await decideIssuance(ask(UPLOAD), instance)).kind).toBe("issued");
    expect((await decideIssuance(ask(UPLOAD), instance)).kind).toBe("issued");
    expect(instance.logs.filter((line) => line.event.event === "limits.unavailable")).toHaveLength(1);
  });
});

describe("a resume", () => {
  async function firstToken(instance: IssuanceParts) {
    const body = issuedBody(await decideIssuance(ask(UPLOAD), instance));
    return { blobName: String(body.blobName), secret: String(body.resumeSecret) };
  }

  function resume(first: { blobName: string; secret: string }, secret = first.secret) {
    return ask(`${UPLOAD}&blobName=${first.blobName}`, { resumeSecret: secret });
  }

  test("with its own secret earns a token for the same blob, and no new secret", async () => {
    const instance = parts();
    const first = await firstToken(instance);
    const body = issuedBody(await decideIssuance(resume(first), instance));
    expect(body.blobName).toBe(first.blobName);
    expect(body.resumeSecret).toBeUndefined();
  });

  test("with another upload's secret is refused as invalid", async () => {
    const instance = parts();
    const first = await firstToken(instance);
    const other = await firstToken(instance);
    expect(await decideIssuance(resume(first, other.secret), instance)).toEqual({
      kind: "resumeRefused",
      reason: "invalid",
    });
  });

  test("of a finished upload is refused as finished", async () => {
    const instance = parts({}, { uploadFinished: async () => true });
    const first = await firstToken(instance);
    expect(await decideIssuance(resume(first), instance)).toEqual({
      kind: "resumeRefused",
      reason: "finished",
    });
  });

  test("is refused as unavailable while storage cannot say whether it is finished", async () => {
    const instance = parts(
      {},
      {
        uploadFinished: async () => {
          throw new UploadOutcomeUnavailableError("storage answered 503");
        },
      },
    );
    const first = await firstToken(instance);
    expect(await decideIssuance(resume(first), instance)).toEqual({
      kind: "resumeRefused",
      reason: "unavailable",
    });
  });

  test("with a bad outcomes setting is a misconfiguration naming the setting", async () => {
    const error = new SettingsError(SETTING.validationStorage, "VALIDATION_STORAGE is not set.");
    const instance = parts(
      {},
      {
        uploadFinished: async () => {
          throw error;
        },
      },
    );
    const first = await firstToken(instance);
    expect(await decideIssuance(resume(first), instance)).toEqual({ kind: "misconfigured", error });
    expect(instance.logs.at(-1)?.event).toMatchObject({ setting: SETTING.validationStorage });
  });
});

describe("the human check", () => {
  const HUMAN_CHECK = { [SETTING.turnstileSecretKey]: "1x0000000000000000000000000000000AA" };

  test("without a Turnstile token or a pass, is required", async () => {
    expect(await decideIssuance(ask(UPLOAD), parts(HUMAN_CHECK))).toEqual({
      kind: "humanCheckRefused",
      reason: "required",
    });
  });

  test("is not asked of a bad request, so its single-use token is not spent", async () => {
    let asked = 0;
    const fetch = (async () => {
      asked++;
      return Response.json({ success: true });
    }) as typeof globalThis.fetch;
    const decision = await decideIssuance(
      ask("nonsense=1", { turnstileToken: "t" }),
      parts(HUMAN_CHECK, { fetch }),
    );
    expect(decision.kind).toBe("badRequest");
    expect(asked).toBe(0);
  });

  test("while siteverify cannot be reached, refuses rather than lets everyone through", async () => {
    const fetch = (async () => {
      throw new TypeError("fetch failed");
    }) as typeof globalThis.fetch;
    const decision = await decideIssuance(
      ask(UPLOAD, { turnstileToken: "t" }),
      parts(HUMAN_CHECK, { fetch }),
    );
    expect(decision).toEqual({ kind: "humanCheckUnavailable" });
  });
});

describe("accessPolicyDecision", () => {
  test("a refused check refuses every request and is logged by the first only", () => {
    const logs: string[] = [];
    const status = {
      kind: "refused" as const,
      error: new AccessPolicyError("the container holds generation 3", "older generation"),
      at: 0,
      reported: false,
    };
    const note = (_level: string, event: object) => logs.push(JSON.stringify(event));
    expect(accessPolicyDecision(status, note)).toEqual({ kind: "cannotIssue", summary: "older generation" });
    expect(accessPolicyDecision(status, note)).toEqual({ kind: "cannotIssue", summary: "older generation" });
    expect(logs).toHaveLength(1);
  });

  test("storage out of reach still issues", () => {
    const status = { kind: "unverified" as const, reason: "storage answered 503", at: 0, reported: false };
    expect(accessPolicyDecision(status, () => undefined)).toBeUndefined();
  });
});
