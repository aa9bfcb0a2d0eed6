// How the OneDeploy provider signs in: GitHub OIDC exchanged afresh on every token in Actions, the default
// chain elsewhere, always for the Resource Manager audience of the cloud the environment names.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { cloudOf, deployCredential, gitHubAssertion } from "../../infra/deploy/deployCredential";
import { GitHubOidcEndpoint } from "../support/gitHubOidc";

const REQUEST_TOKEN = "job-request-token";
const github = new GitHubOidcEndpoint(REQUEST_TOKEN);
let requestUrl: string;

beforeAll(async () => {
  requestUrl = await github.start();
});
afterAll(() => github.stop());

const inActions = () => ({
  ACTIONS_ID_TOKEN_REQUEST_URL: requestUrl,
  ACTIONS_ID_TOKEN_REQUEST_TOKEN: REQUEST_TOKEN,
  ARM_CLIENT_ID: "00000000-0000-0000-0000-000000000001",
  ARM_TENANT_ID: "00000000-0000-0000-0000-000000000002",
});

describe("choosing the credential", () => {
  test("in GitHub Actions with the OIDC variables, a client assertion credential is used", () => {
    const chosen = deployCredential(inActions());
    expect(chosen.credential.constructor.name).toBe("ClientAssertionCredential");
    expect(chosen.source).toBe("GitHub OIDC");
  });

  test("the client assertion credential asks GitHub for a token when Entra ID needs one", async () => {
    const before = github.requests.length;
    const { credential, scope } = deployCredential(inActions());
    // The exchange itself fails here (no Entra ID); what matters is that it was attempted with GitHub's token.
    await credential.getToken(scope).catch(() => undefined);
    const asked = github.requests.slice(before);
    expect(asked.length).toBeGreaterThan(0);
    expect(asked[0]?.url.searchParams.get("audience")).toBe("api://AzureADTokenExchange");
  });

  test("AZURE_CLIENT_ID and AZURE_TENANT_ID serve when the ARM_ names are not set", () => {
    const { ARM_CLIENT_ID, ARM_TENANT_ID, ...rest } = inActions();
    const chosen = deployCredential({
      ...rest,
      AZURE_CLIENT_ID: ARM_CLIENT_ID,
      AZURE_TENANT_ID: ARM_TENANT_ID,
    });
    expect(chosen.credential.constructor.name).toBe("ClientAssertionCredential");
  });

  test("without a client id, or outside Actions, the default credential chain is used", () => {
    const { ARM_CLIENT_ID: _, ...withoutClient } = inActions();
    expect(deployCredential(withoutClient).credential.constructor.name).toBe("DefaultAzureCredential");
    expect(deployCredential({}).credential.constructor.name).toBe("DefaultAzureCredential");
    expect(deployCredential({}).source).toBe("DefaultAzureCredential");
  });
});

describe("the GitHub OIDC assertion", () => {
  test("fetches a fresh token for Entra ID's token exchange on every call", async () => {
    const assertion = gitHubAssertion({ requestUrl, requestToken: REQUEST_TOKEN });
    const first = await assertion();
    const second = await assertion();
    expect(first).not.toBe(second);
    const recent = github.requests.slice(-2);
    expect(recent).toHaveLength(2);
    for (const request of recent) {
      expect(request.url.searchParams.get("audience")).toBe("api://AzureADTokenExchange");
      expect(request.url.searchParams.get("api-version")).toBe("2.0");
      expect(request.headers.authorization).toBe(`bearer ${REQUEST_TOKEN}`);
    }
  });

  test("says the job needs id-token permission when GitHub gives no token, without the request token", async () => {
    const assertion = gitHubAssertion({ requestUrl, requestToken: "wrong" });
    const error = await assertion().catch((caught: unknown) => caught);
    expect((error as Error).message).toMatch(/answered HTTP 401 without a token: .*id-token: write/);
    expect((error as Error).message).not.toContain("wrong");
  });
});

describe("the Resource Manager audience", () => {
  test.each([
    [{}, "https://management.core.windows.net//.default"],
    [{ ARM_ENVIRONMENT: "public" }, "https://management.core.windows.net//.default"],
    [{ ARM_ENVIRONMENT: "usgovernment" }, "https://management.core.usgovcloudapi.net//.default"],
    [{ AZURE_ENVIRONMENT: "China" }, "https://management.core.chinacloudapi.cn//.default"],
    [
      { ARM_ENVIRONMENT: "china", AZURE_ENVIRONMENT: "public" },
      "https://management.core.chinacloudapi.cn//.default",
    ],
  ])("the environment %o asks for %s", (env, scope) => {
    expect(deployCredential(env).scope).toBe(scope);
    expect(deployCredential({ ...inActions(), ...env }).scope).toBe(scope);
  });

  test("an unknown cloud name is refused, naming the variable and the accepted values", () => {
    expect(() => cloudOf({ ARM_ENVIRONMENT: "AzureCloud" })).toThrow(
      'ARM_ENVIRONMENT is "AzureCloud": accepted values are public, usgovernment and china.',
    );
  });
});
