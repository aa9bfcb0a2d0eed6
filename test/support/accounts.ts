// Connection strings for tests. The key is made at run time so no key-shaped literal sits in the repo.
import type { StorageSharedKeyCredential } from "@azure/storage-blob";
import type { Settings } from "../../function/platform/settings";
import { EMULATOR_ACCOUNT, EMULATOR_KEY } from "../../local/azurite";

export const TEST_ACCOUNT = "valetuploads";
export const TEST_KEY = Buffer.alloc(64, 0x5a).toString("base64");

export const connectionStrings = {
  /** The form Pulumi examples build: no EndpointSuffix. */
  azureWithoutSuffix: `DefaultEndpointsProtocol=https;AccountName=${TEST_ACCOUNT};AccountKey=${TEST_KEY}`,
  azureWithSuffix: `DefaultEndpointsProtocol=https;AccountName=${TEST_ACCOUNT};AccountKey=${TEST_KEY};EndpointSuffix=core.windows.net`,
  azureBlobEndpoint: `DefaultEndpointsProtocol=https;AccountName=${TEST_ACCOUNT};AccountKey=${TEST_KEY};BlobEndpoint=https://uploads.example.com/`,
  emulatorBlobEndpoint: `DefaultEndpointsProtocol=http;AccountName=${EMULATOR_ACCOUNT};AccountKey=${EMULATOR_KEY};BlobEndpoint=http://127.0.0.1:10000/${EMULATOR_ACCOUNT}`,
  developmentStorage: "UseDevelopmentStorage=true",
  sasOnly: `BlobEndpoint=https://${TEST_ACCOUNT}.blob.core.windows.net/;SharedAccessSignature=sv=2024-11-04&ss=b&srt=sco&sp=rwdlac&se=2030-01-01T00:00:00Z&sig=c2lnbmF0dXJl`,
} as const;

/** The account key of account-key settings, for tests that sign a token of their own with it. */
export function accountKeyOf(settings: Settings): StorageSharedKeyCredential {
  if (settings.uploads.mode !== "accountKey") throw new Error("these settings sign keyless: no account key");
  return settings.uploads.credential;
}
