// A Table Storage client for a table connection (storageConnection.ts): the app's identity in Azure, a
// connection string elsewhere (Azurite).
import { TableClient, type TableServiceClientOptions } from "@azure/data-tables";
import { DefaultAzureCredential } from "@azure/identity";
import type { TableConnection } from "../contract/storageConnection";

export function tableClient(
  connection: TableConnection,
  table: string,
  options: TableServiceClientOptions = {},
): TableClient {
  if (connection.kind === "identity") {
    // The app's managed identity in Azure (Storage Table Data Contributor on the runtime account); a
    // developer's own sign-in elsewhere.
    // https://learn.microsoft.com/javascript/api/overview/azure/data-tables-readme#azure-active-directory-authentication
    return new TableClient(connection.tableServiceUri, table, new DefaultAzureCredential(), options);
  }
  // The emulator speaks plain HTTP on loopback, which the SDK refuses unless told.
  return TableClient.fromConnectionString(connection.connectionString, table, {
    ...options,
    allowInsecureConnection:
      /DefaultEndpointsProtocol=http;|TableEndpoint=http:|UseDevelopmentStorage=true/i.test(
        connection.connectionString,
      ),
  });
}

/**
 * Table Storage answers 404 both for a missing row (ResourceNotFound) and for a missing table
 * (TableNotFound); only the error code tells them apart.
 * https://learn.microsoft.com/rest/api/storageservices/table-service-error-codes
 */
export function isMissingTable(error: unknown): boolean {
  const { statusCode, code, message } = (error ?? {}) as {
    statusCode?: unknown;
    code?: unknown;
    message?: unknown;
  };
  if (statusCode !== 404) return false;
  return code === "TableNotFound" || (typeof message === "string" && message.includes("TableNotFound"));
}
