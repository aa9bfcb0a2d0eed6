// The queue edge of the malware scanning gate: one Microsoft.Security.MalwareScanningResult in, for a blob of
// the inbox; if the blob is still the version scanned (same ETag), the check runs on it now, with that result.
// A result for another version, a blob gone, or a blob outside the inbox is acknowledged and logged.
// https://learn.microsoft.com/azure/defender-for-cloud/defender-for-storage-configure-malware-scan
import type { InvocationContext } from "@azure/functions";
import { RestError } from "@azure/storage-blob";
import { checkEvent } from "../checking/queuedCheck";
import { sameETag } from "../contract/eTags";
import { parseScanResultMessage, type ScanResult, ScanResultMessageError } from "../contract/malwareScanning";
import { instance } from "../platform/instance";
import { log } from "../platform/responses";

export async function malwareScanResult(message: unknown, context: InvocationContext): Promise<void> {
  let scan: ScanResult;
  try {
    scan = parseScanResultMessage(message);
  } catch (error) {
    if (!(error instanceof ScanResultMessageError)) throw error;
    log(context, "error", {
      event: "scanning.messageInvalid",
      message: `A message on the scan results' queue was dropped: ${error.message}.`,
    });
    return;
  }
  const root = instance();
  if (!root.malwareScanning()) {
    log(context, "warning", {
      event: "scanning.ignored",
      reason: "malware scanning is off",
      scanId: scan.id,
    });
    return;
  }
  const settings = root.settings();
  const container = root.uploadsClient().getContainerClient(settings.container);
  const prefix = `${container.url}/`;
  if (!scan.blobUri.startsWith(prefix)) {
    log(context, "information", {
      event: "scanning.ignored",
      reason: "not the uploads container",
      scanId: scan.id,
    });
    return;
  }
  const blobName = decodeURIComponent(scan.blobUri.slice(prefix.length));
  const inbox = container.getBlobClient(blobName);
  let properties: Awaited<ReturnType<typeof inbox.getProperties>>;
  try {
    properties = await inbox.getProperties();
  } catch (error) {
    if (error instanceof RestError && error.statusCode === 404) {
      log(context, "information", { event: "scanning.skipped", reason: "gone", blobName, scanId: scan.id });
      return;
    }
    throw error;
  }
  if (!properties.etag || !sameETag(properties.etag, scan.eTag)) {
    // The version scanned was replaced; the new one has a scan of its own.
    log(context, "information", { event: "scanning.skipped", reason: "changed", blobName, scanId: scan.id });
    return;
  }
  log(context, "information", {
    event: "scanning.result",
    result: scan.resultType,
    blobName,
    scanId: scan.id,
  });
  await checkEvent(
    {
      id: scan.id,
      container: settings.container,
      blobName,
      api: "PutBlob",
      contentType: properties.contentType ?? "",
      contentLength: properties.contentLength ?? 0,
      blobType: properties.blobType ?? "BlockBlob",
      eTag: properties.etag,
      url: inbox.url,
      // A scan result carries no sequencer: the outcome of this version is then ordered as the newest.
      sequencer: "",
    },
    context,
    scan,
  );
}
