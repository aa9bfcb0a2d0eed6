// Prepares a blob service for uploads (the private container and the blob service CORS rule, the same
// rule the Pulumi program applies in Azure) and a table service for the issuance limits' counts.
import { BlobServiceClient } from "@azure/storage-blob";
import { limitsTableClient } from "../function/limiter";
import { blobCorsRule } from "../infra/cors";

export async function prepareUploadsStorage(
  connectionString: string,
  container: string,
  allowedOrigins: readonly string[],
): Promise<void> {
  const service = BlobServiceClient.fromConnectionString(connectionString);
  // No `access` option: the container stays private, readable only with the account key or a token.
  await service.getContainerClient(container).createIfNotExists();
  const rule = blobCorsRule(allowedOrigins);
  await service.setProperties({
    cors: [
      {
        allowedOrigins: rule.allowedOrigins.join(","),
        allowedMethods: rule.allowedMethods.join(","),
        allowedHeaders: rule.allowedHeaders.join(","),
        exposedHeaders: rule.exposedHeaders.join(","),
        maxAgeInSeconds: rule.maxAgeInSeconds,
      },
    ],
  });
}

/** The table the Pulumi program creates on the runtime account in Azure; creating it twice is harmless. */
export async function prepareLimitsTable(connectionString: string): Promise<void> {
  await limitsTableClient({ kind: "connectionString", connectionString }).createTable();
}
