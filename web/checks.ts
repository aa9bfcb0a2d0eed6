// The checks the page makes before any request: the type and size limits config.json carries from the
// function's issuance policy, so the page refuses what the function would.
import type { PageConfig } from "./config";
import { UploadFailure } from "./failures";
import { describeType, formatBytes, listTypes } from "./format";
import type { FileFacts } from "./types";

export function checkFile(file: FileFacts, config: PageConfig): UploadFailure | undefined {
  if (!config.allowedContentTypes.includes(file.type.toLowerCase())) {
    const what = file.type ? `${describeType(file.type)} files` : "Files of this type";
    return new UploadFailure(
      "type",
      `${what} are not allowed. Choose ${listTypes(config.allowedContentTypes)}.`,
      false,
    );
  }
  if (file.size > config.maxUploadBytes) {
    return new UploadFailure(
      "size",
      `This file is too large (${formatBytes(file.size)}). The limit is ${formatBytes(config.maxUploadBytes)}.`,
      false,
    );
  }
  if (file.size === 0) return new UploadFailure("empty", "This file is empty.", false);
  return undefined;
}
