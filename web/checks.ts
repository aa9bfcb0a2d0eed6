// The checks the page makes before any request: the type and size limits config.json carries from the
// function's issuance limits, so the page refuses what the function would.

import { ValetUploadError } from "../client";
import type { PageConfig } from "./config";
import { describeType, formatBytes, listTypes } from "./format";

export function checkFile(
  file: Pick<File, "name" | "size" | "type">,
  config: PageConfig,
): ValetUploadError | undefined {
  if (!config.allowedContentTypes.includes(file.type.toLowerCase())) {
    const what = file.type ? `${describeType(file.type)} files` : "Files of this type";
    return new ValetUploadError(
      "type",
      `${what} are not allowed. Choose ${listTypes(config.allowedContentTypes)}.`,
      false,
    );
  }
  if (file.size > config.maxUploadBytes) {
    return new ValetUploadError(
      "size",
      `This file is too large (${formatBytes(file.size)}). The limit is ${formatBytes(config.maxUploadBytes)}.`,
      false,
    );
  }
  if (file.size === 0) return new ValetUploadError("empty", "This file is empty.", false);
  return undefined;
}
