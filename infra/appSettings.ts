// The function's own app settings (function/contract/appSettings.ts names them), from the validated options
// and the uploads storage's outputs: what the function reads at start-up, each value in the form its parser
// accepts (test/infra/appSettings.test.ts parses what the program registers). The runtime's settings (host
// storage, queues, tables, Application Insights) are the Function App component's own (infra/functionApp.ts).
import * as pulumi from "@pulumi/pulumi";
import { SETTING } from "../function/contract/appSettings";
import type { StackConfig } from "./config";
import type { SigningPlan, UploadsEndpoints } from "./signing";

/** The options that become app settings: all of the stack's but where things are and how they are signed. */
export type FunctionSettingsOptions = Omit<
  StackConfig,
  | "location"
  | "allowedOrigins"
  | "deployUploadPage"
  | "container"
  | "signing"
  | "maximumInstanceCount"
  | "instanceMemoryMB"
  | "softDeleteRetentionDays"
  | "inboxRetentionDays"
  | "logRetentionDays"
  | "budget"
  | "events"
  | "malwareScanning"
>;

export interface UploadsForSettings extends UploadsEndpoints {
  readonly containerName: pulumi.Input<string>;
  readonly verifiedContainerName: pulumi.Input<string>;
}

export function functionAppSettings(
  options: FunctionSettingsOptions,
  uploads: UploadsForSettings,
  signing: SigningPlan,
): Record<string, pulumi.Input<string>> {
  return {
    // How tokens are signed: the account's connection string, or keyless its URL and the key root.
    ...signing.appSettings(uploads),
    [SETTING.container]: uploads.containerName,
    [SETTING.tokenLifetimeMinutes]: String(options.tokenLifetimeMinutes),
    [SETTING.uploadTokenLifetimeMinutes]: String(options.uploadTokenLifetimeMinutes),
    [SETTING.allowedContentTypes]: options.allowedContentTypes.join(","),
    [SETTING.maxUploadBytes]: String(options.maxUploadBytes),
    [SETTING.containerTokensEnabled]: String(options.containerTokensEnabled),
    [SETTING.bindTokenToClientIp]: String(options.bindTokenToClientIp),
    [SETTING.tokenGeneration]: String(options.tokenGeneration),
    [SETTING.issuanceRatePerMinute]: String(options.issuanceRatePerMinute),
    [SETTING.issuanceBurst]: String(options.issuanceBurst),
    [SETTING.dailyUploadBytesPerClient]: String(options.dailyUploadBytesPerClient),
    // The check after each upload; its queue and outcomes table are the app's own (infra/functionApp.ts).
    [SETTING.verifiedContainer]: uploads.verifiedContainerName,
    [SETTING.maxImagePixels]: String(options.maxImagePixels),
    // What an accepted photo becomes (function/contract/photoSettings.ts).
    [SETTING.photoQuality]: String(options.photos.quality),
    [SETTING.renditionQuality]: String(options.photos.renditionQuality),
    [SETTING.feedSize]: String(options.photos.feedSize),
    [SETTING.thumbnailSize]: String(options.photos.thumbnailSize),
    // Secret in the app's inputs and the state, like the connection string.
    ...(options.turnstile && { [SETTING.turnstileSecretKey]: pulumi.secret(options.turnstile.secretKey) }),
    // Sign-in, when an issuer is set: bearer tokens from that issuer, uploads owned by their subject.
    [SETTING.dailyUploadBytesPerOwner]: String(options.dailyUploadBytesPerOwner),
    ...(options.auth && {
      [SETTING.authIssuer]: options.auth.issuer,
      [SETTING.authAudience]: options.auth.audiences.join(","),
      [SETTING.authOwnerClaim]: options.auth.ownerClaim,
      [SETTING.authAlgorithms]: options.auth.algorithms.join(","),
    }),
  };
}
