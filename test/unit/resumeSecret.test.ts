// The resume secret: bound to one blob name, its declared size and its issue time, valid for the upload
// token's maximum age plus the grace, and signed with a key of its own derived from the account key.
import { StorageSharedKeyCredential } from "@azure/storage-blob";
import { describe, expect, test } from "vitest";
import { parseIssuanceLimits } from "../../function/contract/issuanceLimits";
import {
  HUMAN_PASS_MINUTES,
  humanPassKey,
  signHumanPass,
  verifyHumanPass,
} from "../../function/issuing/humanCheck";
import {
  RESUME_GRACE_MINUTES,
  resumableUntil,
  signResumeSecret,
  verifyResumeSecret,
} from "../../function/issuing/resume";
import { parseTokenRequest, RequestError } from "../../function/issuing/uploadRequest";
import { deriveKey, KEY_LABELS } from "../../function/signing/keyDerivation";
import { TEST_ACCOUNT, TEST_KEY } from "../support/accounts";

const credential = new StorageSharedKeyCredential(TEST_ACCOUNT, TEST_KEY);
const key = deriveKey(credential, KEY_LABELS.resume);
const ISSUED = new Date("2026-05-01T12:00:00Z");
const LIFETIME = 15;
const UPLOAD = { blobName: "0d4c9a53-3c1e-4f57-8a9b-2f64a1b0c9de.jpg", size: 52_428_800, generation: 1 };
const minutesAfter = (minutes: number) => new Date(ISSUED.getTime() + minutes * 60_000);

describe("a resume secret", () => {
  const secret = signResumeSecret(key, UPLOAD, ISSUED);

  test("is valid for its upload until the upload token's maximum age plus the grace", () => {
    expect(verifyResumeSecret(key, UPLOAD, secret, minutesAfter(1), LIFETIME)).toBe("valid");
    expect(
      verifyResumeSecret(key, UPLOAD, secret, minutesAfter(LIFETIME + RESUME_GRACE_MINUTES - 1), LIFETIME),
    ).toBe("valid");
    expect(resumableUntil(ISSUED, LIFETIME)).toEqual(minutesAfter(LIFETIME + RESUME_GRACE_MINUTES));
  });

  test("is expired once the upload token's maximum age plus the grace has passed", () => {
    expect(
      verifyResumeSecret(key, UPLOAD, secret, minutesAfter(LIFETIME + RESUME_GRACE_MINUTES), LIFETIME),
    ).toBe("expired");
  });

  test("is invalid for another blob, another size, or when altered", () => {
    const later = minutesAfter(1);
    const otherBlob = { ...UPLOAD, blobName: "9a1b2c3d-0000-4000-8000-000000000000.jpg" };
    expect(verifyResumeSecret(key, otherBlob, secret, later, LIFETIME)).toBe("invalid");
    expect(verifyResumeSecret(key, { ...UPLOAD, size: UPLOAD.size + 1 }, secret, later, LIFETIME)).toBe(
      "invalid",
    );
    const [issued, mac = ""] = secret.split(".");
    const earlier = `${Number(issued) + 60}.${mac}`;
    expect(verifyResumeSecret(key, UPLOAD, earlier, later, LIFETIME)).toBe("invalid");
    const flipped = `${issued}.${mac.startsWith("A") ? "B" : "A"}${mac.slice(1)}`;
    expect(verifyResumeSecret(key, UPLOAD, flipped, later, LIFETIME)).toBe("invalid");
    expect(verifyResumeSecret(key, UPLOAD, "not a secret", later, LIFETIME)).toBe("invalid");
  });

  test("signed with another account key is invalid, even an expired one", () => {
    const otherKey = deriveKey(
      new StorageSharedKeyCredential(TEST_ACCOUNT, Buffer.alloc(64, 9).toString("base64")),
      KEY_LABELS.resume,
    );
    const foreign = signResumeSecret(otherKey, UPLOAD, ISSUED);
    expect(verifyResumeSecret(key, UPLOAD, foreign, minutesAfter(1), LIFETIME)).toBe("invalid");
    expect(verifyResumeSecret(key, UPLOAD, foreign, minutesAfter(24 * 60), LIFETIME)).toBe("invalid");
  });

  test("dated in the future is invalid rather than valid for longer", () => {
    const future = signResumeSecret(key, UPLOAD, minutesAfter(60));
    expect(verifyResumeSecret(key, UPLOAD, future, ISSUED, LIFETIME)).toBe("invalid");
  });
});

describe("keys derived from the account key", () => {
  test("differ per purpose, so a human pass is no resume secret and the reverse", () => {
    expect(deriveKey(credential, KEY_LABELS.resume).equals(humanPassKey(credential))).toBe(false);
    const pass = signHumanPass(humanPassKey(credential), UPLOAD.blobName, minutesAfter(30));
    expect(verifyHumanPass(humanPassKey(credential), UPLOAD.blobName, pass, ISSUED)).toBe("valid");
    expect(verifyHumanPass(key, UPLOAD.blobName, pass, ISSUED)).toBe("invalid");
  });

  test("are the same for the same credential and purpose, and differ between account keys", () => {
    const again = new StorageSharedKeyCredential(TEST_ACCOUNT, TEST_KEY);
    expect(deriveKey(again, KEY_LABELS.resume).equals(key)).toBe(true);
    const other = new StorageSharedKeyCredential(TEST_ACCOUNT, Buffer.alloc(64, 1).toString("base64"));
    expect(deriveKey(other, KEY_LABELS.resume).equals(key)).toBe(false);
  });
});

describe("a resume request", () => {
  const policy = parseIssuanceLimits({});
  const query = (extra: Record<string, string> = {}) =>
    new URLSearchParams({ filename: "a.jpg", contentType: "image/jpeg", size: "1000", ...extra });

  test("carries the blob name from the query and the secret from its header with the upload's parameters", () => {
    const request = parseTokenRequest(query({ blobName: UPLOAD.blobName }), policy, "1.abc");
    expect(request).toMatchObject({
      kind: "upload",
      size: 1000,
      resume: { blobName: UPLOAD.blobName, secret: "1.abc" },
    });
  });

  test("without both the blob name and the secret is a request error naming both", () => {
    const incomplete = new RequestError(
      "Resuming an upload needs its blobName in the query and its resume secret in the X-Valet-Resume-Secret header, both from its first token.",
    );
    expect(() => parseTokenRequest(query({ blobName: UPLOAD.blobName }), policy)).toThrow(incomplete);
    expect(() => parseTokenRequest(query(), policy, "1.abc")).toThrow(incomplete);
    expect(() => parseTokenRequest(new URLSearchParams(), policy, "1.abc")).toThrow(incomplete);
  });

  test("with the secret in the query is refused, saying to send the header, without echoing the secret", () => {
    const secret = "1795446000.q7G0n1-secret-value";
    let refusal: unknown;
    try {
      parseTokenRequest(query({ blobName: UPLOAD.blobName, resumeSecret: secret }), policy, secret);
    } catch (error) {
      refusal = error;
    }
    expect(refusal).toBeInstanceOf(RequestError);
    const message = (refusal as RequestError).message;
    expect(message).toMatch(/send it in the X-Valet-Resume-Secret header/);
    expect(message).not.toContain(secret);
    expect(message).not.toContain("q7G0n1");
  });

  test("a secret header that is empty, too long or holds control characters is a request error", () => {
    const resume = query({ blobName: UPLOAD.blobName });
    for (const secret of ["", "x".repeat(101), "1.a\u0000b"]) {
      expect(() => parseTokenRequest(resume, policy, secret)).toThrow(
        /The X-Valet-Resume-Secret header must hold the resume secret/,
      );
    }
  });

  test("naming a blob of another type or a path is a request error", () => {
    const wrong = UPLOAD.blobName.replace(".jpg", ".png");
    expect(() => parseTokenRequest(query({ blobName: wrong }), policy, "1.abc")).toThrow(
      /blobName must be the name the upload's first token gave, ending in \.jpg/,
    );
    expect(() => parseTokenRequest(query({ blobName: `../${UPLOAD.blobName}` }), policy, "1.abc")).toThrow(
      RequestError,
    );
  });
});

describe("a resume secret and the token generation", () => {
  test("a secret issued under one generation earns nothing under the next, however young", () => {
    const first = signResumeSecret(key, { ...UPLOAD, generation: 1 }, ISSUED);
    expect(verifyResumeSecret(key, { ...UPLOAD, generation: 1 }, first, minutesAfter(1), LIFETIME)).toBe(
      "valid",
    );
    expect(verifyResumeSecret(key, { ...UPLOAD, generation: 2 }, first, minutesAfter(1), LIFETIME)).toBe(
      "invalid",
    );
  });
});

describe("only the canonical form of a signed value", () => {
  /** The same value with its last base64url character changed in the bits decoding drops. */
  const otherLastCharacter = (value: string) => {
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const last = alphabet.indexOf(value.slice(-1));
    return value.slice(0, -1) + alphabet[last ^ 1];
  };
  const secret = signResumeSecret(key, UPLOAD, ISSUED);
  const passKey = humanPassKey(credential);
  const pass = signHumanPass(passKey, "ipv4-192.0.2.1", minutesAfter(30));

  test("decodes to the same bytes, yet a secret or a pass in another form is refused", () => {
    expect(Buffer.from(otherLastCharacter(secret).split(".")[1] ?? "", "base64url")).toEqual(
      Buffer.from(secret.split(".")[1] ?? "", "base64url"),
    );
    expect(verifyResumeSecret(key, UPLOAD, otherLastCharacter(secret), minutesAfter(1), LIFETIME)).toBe(
      "invalid",
    );
    expect(verifyHumanPass(passKey, "ipv4-192.0.2.1", otherLastCharacter(pass), minutesAfter(1))).toBe(
      "invalid",
    );
  });

  test("a leading 0 in the time is refused", () => {
    expect(verifyResumeSecret(key, UPLOAD, `0${secret}`, minutesAfter(1), LIFETIME)).toBe("invalid");
    expect(verifyHumanPass(passKey, "ipv4-192.0.2.1", `0${pass}`, minutesAfter(1))).toBe("invalid");
  });
});

describe("a human pass's expiry", () => {
  test("further away than a pass is ever given for is refused, even though the function signed it", () => {
    const passKey = humanPassKey(credential);
    const now = ISSUED;
    const inAYear = new Date(now.getTime() + 365 * 24 * 60 * 60_000);
    expect(
      verifyHumanPass(passKey, "ipv4-192.0.2.1", signHumanPass(passKey, "ipv4-192.0.2.1", inAYear), now),
    ).toBe("invalid");
    const inHalfAnHour = new Date(now.getTime() + HUMAN_PASS_MINUTES * 60_000);
    expect(
      verifyHumanPass(passKey, "ipv4-192.0.2.1", signHumanPass(passKey, "ipv4-192.0.2.1", inHalfAnHour), now),
    ).toBe("valid");
  });
});
