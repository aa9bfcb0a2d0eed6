// Prepares a blob service for uploads: the private container and the blob service CORS rule, the same
// rule the Pulumi program applies in Azure.
import { BlobServiceClient } from "@azure/storage-blob";
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
