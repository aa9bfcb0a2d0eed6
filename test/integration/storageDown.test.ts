// Signing is local: the function keeps issuing tokens while the storage service is unreachable, and says
// once that it could not check the container's stored access policies.
import { afterAll, beforeAll, expect, test } from "vitest";
import { SETTING } from "../../function/contract/appSettings";
import { configureInstance } from "../../function/platform/instance";
import { policyId } from "../../function/signing/accessPolicies";
import { type FunctionHost, startFunctionHost } from "../../local/functionHost";
import { freePort } from "../../local/ports";
import { TEST_KEY } from "../support/accounts";
import { LIMITS_OFF } from "../support/function";

let host: FunctionHost;
let deadPort: number;
const logs: string[] = [];

beforeAll(async () => {
  deadPort = await freePort();
  configureInstance({
    ...LIMITS_OFF,
    [SETTING.connectionString]:
      `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=${TEST_KEY};` +
      `BlobEndpoint=http://127.0.0.1:${deadPort}/devstoreaccount1`,
  });
  host = await startFunctionHost({
    port: await freePort(),
    allowedOrigins: [],
    log: (line) => logs.push(line),
  });
});
afterAll(() => host?.stop());

test("a token is issued while nothing listens on the blob endpoint", async () => {
  await expect(fetch(`http://127.0.0.1:${deadPort}/devstoreaccount1/images`)).rejects.toThrow();
  const response = await fetch(`${host.apiUrl}/credentials`);
  expect(response.status).toBe(200);
  const body = (await response.json()) as { sasKey: string; url: string };
  expect(body.url).toBe(`http://127.0.0.1:${deadPort}/devstoreaccount1`);
  expect(new URLSearchParams(body.sasKey).get("si")).toBe(policyId(1, "container"));
  expect((await fetch(`${host.apiUrl}/credentials`)).status).toBe(200);
  const warnings = logs.filter((line) => line.includes('"event":"accessPolicies.unverified"'));
  expect(warnings).toHaveLength(1);
  expect(warnings[0]).toMatch(/^\[warning\]/);
});
