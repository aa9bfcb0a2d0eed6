// The Entra ID credential the OneDeploy provider signs its requests to the SCM site with, and the audience
// it asks for, chosen from the environment of the process running `pulumi up` (a laptop or CI).
//
// Plain functions, with @azure/identity required inside them: the dynamic provider in deploy.ts captures
// them, and Pulumi serializes what a provider captures into the provider's own process.
import type { TokenCredential } from "@azure/identity";

/** The process environment, passed in (tests give their own). */
export type Environment = Readonly<Record<string, string | undefined>>;

/**
 * Per cloud: the Resource Manager audience that `az login` signs in to and caches (`az cloud show`:
 * `endpoints.activeDirectoryResourceId`), and the Entra ID authority. The SCM site accepts Resource Manager
 * tokens, and the Azure CLI signs its own deployments to the SCM site with a token for exactly this
 * audience, found in its cache (`az webapp deployment source config-zip --debug`: "CredentialAdaptor.get_token:
 * scopes=('https://management.core.windows.net//.default',) … Cache hit an AT"). Asking for the same scope
 * lets `AzureCliCredential` be served from the login's cache instead of exchanging GitHub's short-lived OIDC
 * token again (Azure/login#441, Azure/azure-cli#28708).
 * https://github.com/Azure/azure-cli/issues/26485 (that debug output)
 * https://github.com/Azure/azure-cli/pull/30797 (App Service's SCM calls ask for the ARM scope)
 * https://learn.microsoft.com/cli/azure/manage-clouds-azure-cli
 * https://learn.microsoft.com/entra/identity-platform/authentication-national-cloud
 */
const CLOUDS = {
  public: {
    audience: "https://management.core.windows.net/",
    authorityHost: "https://login.microsoftonline.com",
    resourceManager: "https://management.azure.com",
  },
  usgovernment: {
    audience: "https://management.core.usgovcloudapi.net/",
    authorityHost: "https://login.microsoftonline.us",
    resourceManager: "https://management.usgovcloudapi.net",
  },
  china: {
    audience: "https://management.core.chinacloudapi.cn/",
    authorityHost: "https://login.chinacloudapi.cn",
    resourceManager: "https://management.chinacloudapi.cn",
  },
} as const;

export type CloudName = keyof typeof CLOUDS;

/**
 * The cloud named by ARM_ENVIRONMENT (then AZURE_ENVIRONMENT), the variables and values the azure-native
 * provider reads for its own sign-in (`public`, `usgovernment`, `china`; public when unset), so the
 * publish targets the cloud the resources are in.
 * https://www.pulumi.com/registry/packages/azure-native/installation-configuration/
 */
export function cloudOf(env: Environment): CloudName {
  const name = env.ARM_ENVIRONMENT ? "ARM_ENVIRONMENT" : "AZURE_ENVIRONMENT";
  const value = (env[name] ?? "").trim().toLowerCase();
  if (value === "") return "public";
  if (value === "public" || value === "usgovernment" || value === "china") return value;
  throw new Error(`${name} is "${env[name]}": accepted values are public, usgovernment and china.`);
}

/** GitHub Actions' OIDC token request, when the job may ask for one (`permissions: id-token: write`). */
interface GitHubOidc {
  requestUrl: string;
  requestToken: string;
  clientId: string;
  tenantId: string;
}

/**
 * The GitHub OIDC variables, with the app registration to exchange the token for (ARM_* as the azure-native
 * provider reads them, then AZURE_*); undefined unless all four are present.
 * https://docs.github.com/actions/security-for-github-actions/security-hardening-your-deployments/about-security-hardening-with-openid-connect
 */
function gitHubOidcOf(env: Environment): GitHubOidc | undefined {
  const requestUrl = env.ACTIONS_ID_TOKEN_REQUEST_URL;
  const requestToken = env.ACTIONS_ID_TOKEN_REQUEST_TOKEN;
  const clientId = env.ARM_CLIENT_ID || env.AZURE_CLIENT_ID;
  const tenantId = env.ARM_TENANT_ID || env.AZURE_TENANT_ID;
  if (!requestUrl || !requestToken || !clientId || !tenantId) return undefined;
  return { requestUrl, requestToken, clientId, tenantId };
}

/**
 * Fetches a fresh GitHub OIDC token for Entra ID's federated credential exchange on every call: GitHub's
 * tokens live minutes, and a first deploy reaches the publish later than that.
 * https://learn.microsoft.com/entra/workload-id/workload-identity-federation-create-trust#github-actions
 */
export function gitHubAssertion(
  oidc: Pick<GitHubOidc, "requestUrl" | "requestToken">,
  fetchImpl: typeof fetch = fetch,
): () => Promise<string> {
  return async () => {
    const url = new URL(oidc.requestUrl);
    url.searchParams.set("audience", "api://AzureADTokenExchange");
    let response: Response;
    try {
      response = await fetchImpl(url, {
        headers: { Authorization: `bearer ${oidc.requestToken}`, Accept: "application/json" },
      });
    } catch (error) {
      const reason = error instanceof Error ? error.message : "unknown error";
      throw new Error(`Could not reach GitHub's OIDC token endpoint (${reason}).`);
    }
    const body: unknown = response.ok ? await response.json().catch(() => undefined) : undefined;
    const value = body && typeof body === "object" ? (body as { value?: unknown }).value : undefined;
    if (typeof value !== "string" || value === "") {
      throw new Error(
        `GitHub's OIDC token endpoint answered HTTP ${response.status} without a token: the job needs ` +
          "`permissions: id-token: write`.",
      );
    }
    return value;
  };
}

export interface DeployCredential {
  credential: TokenCredential;
  /**
   * What the credential is asked for: the audience followed by `/.default`, double slash included, which is
   * the scope the Azure CLI caches (AzureCliCredential turns it back into `--resource <audience>`).
   */
  scope: string;
  /**
   * Azure Resource Manager's endpoint in that cloud, where the publish syncs the app's triggers.
   * https://learn.microsoft.com/azure/azure-resource-manager/management/control-plane-and-data-plane
   */
  resourceManager: string;
  /** How it signs in, for messages. */
  source: "GitHub OIDC" | "DefaultAzureCredential";
}

/**
 * In GitHub Actions with the OIDC variables present: a ClientAssertionCredential that exchanges a fresh
 * GitHub token each time it needs one. Anywhere else: DefaultAzureCredential (environment, workload
 * identity, managed identity, Azure CLI, …).
 * https://learn.microsoft.com/javascript/api/@azure/identity/clientassertioncredential
 */
export function deployCredential(env: Environment, fetchImpl: typeof fetch = fetch): DeployCredential {
  const { ClientAssertionCredential, DefaultAzureCredential } =
    require("@azure/identity") as typeof import("@azure/identity");
  const cloud = CLOUDS[cloudOf(env)];
  const scope = `${cloud.audience}/.default`;
  const oidc = gitHubOidcOf(env);
  if (oidc) {
    return {
      credential: new ClientAssertionCredential(
        oidc.tenantId,
        oidc.clientId,
        gitHubAssertion(oidc, fetchImpl),
        {
          authorityHost: cloud.authorityHost,
        },
      ),
      scope,
      resourceManager: cloud.resourceManager,
      source: "GitHub OIDC",
    };
  }
  return {
    credential: new DefaultAzureCredential({ authorityHost: cloud.authorityHost }),
    scope,
    resourceManager: cloud.resourceManager,
    source: "DefaultAzureCredential",
  };
}
