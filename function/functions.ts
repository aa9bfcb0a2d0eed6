// The function app's functions and their options, by trigger kind: registered with the Functions runtime by
// index.ts and run by the local host from this same table (HTTP functions by its server, queue functions by
// its queue runner).
import type { HttpFunctionOptions, StorageQueueFunctionOptions } from "@azure/functions";
import { checkQueuedUpload } from "./checking/queuedCheck";
import { UPLOAD_STATUS_METHODS, uploadStatus } from "./checking/uploadStatus";
import { SETTING } from "./contract/appSettings";
import { UPLOADS_CREATED_QUEUE } from "./contract/check";
import { MALWARE_SCAN_RESULTS_QUEUE } from "./contract/malwareScanning";
import {
  CREDENTIALS_ROUTE,
  IMAGE_READ_ROUTE,
  OWNED_UPLOAD_STATUS_ROUTE,
  RENDITION_ROUTE,
  UPLOAD_STATUS_ROUTE,
} from "./contract/routes";
import { CREDENTIALS_METHODS, credentials } from "./issuing/credentials";
import { RENDITION_METHODS, rendition } from "./photos/renditionEndpoint";
import { IMAGE_READ_METHODS, imageRead } from "./reads/imageRead";
import { malwareScanResult } from "./scanning/scanResults";

export interface RoutedHttpFunction extends HttpFunctionOptions {
  /** The path after `/api/`; `{name}` is one path segment, passed as `request.params.name`. */
  route: string;
}

/** `satisfies`, not a type annotation: each entry stays known, so `httpFunctions.credentials` is defined. */
export const httpFunctions = {
  credentials: {
    route: CREDENTIALS_ROUTE,
    methods: [...CREDENTIALS_METHODS],
    authLevel: "anonymous",
    handler: credentials,
  },
  uploadStatus: {
    route: UPLOAD_STATUS_ROUTE,
    methods: [...UPLOAD_STATUS_METHODS],
    authLevel: "anonymous",
    handler: uploadStatus,
  },
  // Signed in, a name has two segments (owner and upload): a route of its own, the same handler.
  ownedUploadStatus: {
    route: OWNED_UPLOAD_STATUS_ROUTE,
    methods: [...UPLOAD_STATUS_METHODS],
    authLevel: "anonymous",
    handler: uploadStatus,
  },
  imageRead: {
    route: IMAGE_READ_ROUTE,
    methods: [...IMAGE_READ_METHODS],
    authLevel: "anonymous",
    handler: imageRead,
  },
  rendition: {
    route: RENDITION_ROUTE,
    methods: [...RENDITION_METHODS],
    authLevel: "anonymous",
    handler: rendition,
  },
} satisfies Readonly<Record<string, RoutedHttpFunction>>;

/**
 * `connection` is a prefix: in Azure the host reads `VALIDATION_STORAGE__queueServiceUri` and signs in with
 * the app's identity; elsewhere `VALIDATION_STORAGE` holds a connection string.
 * https://learn.microsoft.com/azure/azure-functions/functions-bindings-storage-queue-trigger#identity-based-connections
 */
export const queueFunctions = {
  validateUpload: {
    queueName: UPLOADS_CREATED_QUEUE,
    connection: SETTING.validationStorage,
    handler: checkQueuedUpload,
  },
  // With MALWARE_SCANNING, each scan result runs the check of the version it is about.
  malwareScanResult: {
    queueName: MALWARE_SCAN_RESULTS_QUEUE,
    connection: SETTING.validationStorage,
    handler: malwareScanResult,
  },
} satisfies Readonly<Record<string, StorageQueueFunctionOptions>>;

/** Every function, by trigger kind: what Azure and the local host both register. */
export const functionTable = { http: httpFunctions, storageQueue: queueFunctions } as const;
