// The stored access policies tokens reference (function/signing/accessPolicies.ts): the TOKEN_GENERATION setting,
// and what an instance writes to the container for each list it finds there.
import type { SignedIdentifier } from "@azure/storage-blob";
import { describe, expect, test } from "vitest";
import { SETTING, SettingsError } from "../../function/contract/appSettings";
import { parseSettings } from "../../function/platform/settings";
import {
  AccessPolicyError,
  generationAccessPolicies,
  MAX_POLICIES_PER_CONTAINER,
  planAccessPolicies,
} from "../../function/signing/accessPolicies";
import { connectionStrings } from "../support/accounts";

const NAME = SETTING.tokenGeneration;
const withGeneration = (raw: string | undefined) =>
  parseSettings({ [SETTING.connectionString]: connectionStrings.azureWithoutSuffix, [NAME]: raw });
const other = (id: string): SignedIdentifier => ({ id, accessPolicy: { permissions: "r" } });

describe("TOKEN_GENERATION", () => {
  test("is 1 when unset or blank, and any whole number from 1 to 999999 otherwise", () => {
    expect(withGeneration(undefined).tokenGeneration).toBe(1);
    expect(withGeneration("  ").tokenGeneration).toBe(1);
    expect(withGeneration("42").tokenGeneration).toBe(42);
    expect(withGeneration("999999").tokenGeneration).toBe(999999);
  });

  test.each(["0", "-1", "1.5", "two", "1000000"])(
    "%j is refused with a message naming the setting",
    (raw) => {
      let caught: unknown;
      try {
        withGeneration(raw);
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(SettingsError);
      expect((caught as SettingsError).setting).toBe(NAME);
      expect((caught as Error).message).toBe(
        "TOKEN_GENERATION must be a whole number of generations from 1 to 999999 (default 1).",
      );
    },
  );
});

describe("planning the container's policies", () => {
  test("an empty container gets the generation's two policies, permission only", () => {
    expect(planAccessPolicies([], 3, NAME)).toEqual({
      kind: "write",
      policies: [
        { id: "valet-g3-c", accessPolicy: { permissions: "c" } },
        { id: "valet-g3-w", accessPolicy: { permissions: "w" } },
      ],
    });
  });

  test("the generation's policies already in place need no write", () => {
    expect(planAccessPolicies([other("audit"), ...generationAccessPolicies(3)], 3, NAME)).toEqual({
      kind: "current",
    });
  });

  test("an older generation is dropped and every other policy kept", () => {
    const plan = planAccessPolicies([other("audit"), ...generationAccessPolicies(2)], 3, NAME);
    expect(plan).toEqual({ kind: "write", policies: [other("audit"), ...generationAccessPolicies(3)] });
  });

  test("a newer generation is never replaced: the instance is superseded", () => {
    expect(planAccessPolicies(generationAccessPolicies(4), 3, NAME)).toEqual({
      kind: "superseded",
      newest: 4,
    });
  });

  test.each([
    ["a policy of ours with a different permission", { permissions: "cw" }],
    ["a policy of ours with an expiry", { permissions: "c", expiresOn: new Date("2031-01-01") }],
    ["a policy of ours with a start", { permissions: "c", startsOn: new Date("2020-01-01") }],
  ])("%s is rewritten to the permission alone", (_, accessPolicy) => {
    const [container, upload] = generationAccessPolicies(3);
    const plan = planAccessPolicies(
      [{ id: "valet-g3-c", accessPolicy }, upload as SignedIdentifier],
      3,
      NAME,
    );
    expect(plan).toEqual({ kind: "write", policies: [container, upload] });
  });

  test("the generation always fits beside at most three other policies, and more are refused by name", () => {
    const three = ["a", "b", "c"].map(other);
    const plan = planAccessPolicies([...three, ...generationAccessPolicies(1)], 2, NAME);
    expect(plan.kind === "write" && plan.policies.length).toBe(MAX_POLICIES_PER_CONTAINER);
    const four = ["a", "b", "c", "d"].map(other);
    expect(() => planAccessPolicies(four, 2, NAME)).toThrow(AccessPolicyError);
    expect(() => planAccessPolicies(four, 2, NAME)).toThrow(
      /holds 4 stored access policies of its own and Azure allows 5; tokens need 2: delete 1 .*TOKEN_GENERATION/,
    );
  });
});
