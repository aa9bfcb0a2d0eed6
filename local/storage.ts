// Prepares a blob service for uploads (the private container and the blob service CORS rule, the same
// rule the Pulumi program applies in Azure), a table service for the issuance limits' counts, and what the
// check of stored uploads needs: its queue and poison queue, its outcomes table and the verified container.

import { BlobServiceClient } from "@azure/storage-blob";
import { QueueServiceClient } from "@azure/storage-queue";
import { outcomesTableClient } from "../function/checking/outcomes";
import { UPLOADS_CREATED_POISON_QUEUE, UPLOADS_CREATED_QUEUE } from "../function/contract/check";
import { MALWARE_SCAN_RESULTS_QUEUE } from "../function/contract/malwareScanning";
import { limitsTableClient } from "../function/issuing/limiter";
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

/**
 * What the Pulumi program creates in Azure for the check: the queue Event Grid writes to and its poison queue
 * (the host would create the poison queue itself), the outcomes table, and the verified container, private
 * like the inbox. Creating any of them twice is harmless.
 */
export async function prepareCheckStorage(
  blobConnectionString: string,
  checkConnectionString: string,
  verifiedContainer: string,
): Promise<void> {
  const queues = QueueServiceClient.fromConnectionString(checkConnectionString);
  await Promise.all([
    queues.getQueueClient(UPLOADS_CREATED_QUEUE).createIfNotExists(),
    queues.getQueueClient(UPLOADS_CREATED_POISON_QUEUE).createIfNotExists(),
    // The malware scan results' queue (infra/malwareScanning.ts), which the queue runner reads in any case.
    queues.getQueueClient(MALWARE_SCAN_RESULTS_QUEUE).createIfNotExists(),
    outcomesTableClient({
      kind: "connectionString",
      connectionString: checkConnectionString,
    }).createTable(),
    BlobServiceClient.fromConnectionString(blobConnectionString)
      .getContainerClient(verifiedContainer)
      .createIfNotExists(),
  ]);
}
