// Table connections named by a connection prefix, the Functions convention for storage connections: an
// identity (`<prefix>__tableServiceUri`) in Azure, or a connection string (`<prefix>` itself) elsewhere.
// https://learn.microsoft.com/azure/azure-functions/functions-reference#connecting-to-host-storage-with-an-identity
import { type Environment, SettingsError, trimmed } from "./appSettings";

/** Where a table lives: a connection string (Azurite, a developer's account) or an identity. */
export type TableConnection =
  | { readonly kind: "connectionString"; readonly connectionString: string }
  | { readonly kind: "identity"; readonly tableServiceUri: string };

/** The identity-based form of a table connection under `prefix`. */
export function tableServiceUriSetting(prefix: string): string {
  return `${prefix}__tableServiceUri`;
}

/** The identity-based form of a queue connection under `prefix` (read by the Functions host's queue trigger). */
export function queueServiceUriSetting(prefix: string): string {
  return `${prefix}__queueServiceUri`;
}

/**
 * The table connection under `prefix`: the service URI when set (an identity), else the connection string.
 * `whenMissing` completes the error for neither being set: what needs the table, and what to do.
 */
export function parseTableConnection(env: Environment, prefix: string, whenMissing: string): TableConnection {
  const uriSetting = tableServiceUriSetting(prefix);
  const uri = trimmed(env[uriSetting]);
  const connectionString = trimmed(env[prefix]);
  if (uri !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(uri);
    } catch {
      url = undefined;
    }
    if (url?.protocol !== "https:" || url.username || url.password || url.search) {
      throw new SettingsError(
        uriSetting,
        `${uriSetting} must be a table service https URL such as https://<account>.table.core.windows.net.`,
      );
    }
    return { kind: "identity", tableServiceUri: url.href.replace(/\/+$/, "") };
  }
  if (connectionString !== undefined) return { kind: "connectionString", connectionString };
  throw new SettingsError(
    prefix,
    `${uriSetting} (or ${prefix}, a connection string) is not set: ${whenMissing}`,
  );
}
