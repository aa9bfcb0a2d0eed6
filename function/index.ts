// Entry point of the function app (and of its deployment bundle): registers the HTTP and queue functions.
import { app } from "@azure/functions";
import { SettingsError, settingsInvalidEvent } from "./contract/appSettings";
import { functionTable, httpFunctions } from "./functions";
import { loadInstance } from "./platform/instance";
import { warmUpSigner } from "./signing/signing";

for (const [name, options] of Object.entries(functionTable.http)) {
  app.http(name, options);
}
for (const [name, options] of Object.entries(functionTable.storageQueue)) {
  app.storageQueue(name, options);
}

// Configuration problems surface when the instance starts, not only at the first request; the
// function still answers, with a 500 that names the setting, so the host keeps running.
try {
  loadInstance((_settings, signer) => {
    // The container's stored access policies are checked now, while the instance starts, so that the first
    // request finds the check done or under way; the request reports its outcome.
    void signer.prepare();
    // Keyless: the first user delegation key is fetched now; a failure is logged, and the first request that
    // needs a key asks again.
    void warmUpSigner(signer);
  });
} catch (error) {
  if (!(error instanceof SettingsError)) throw error;
  console.error(JSON.stringify(settingsInvalidEvent(error)));
}

// Exported so the bundle can be loaded and invoked outside the Functions host (cold-start measurement).
export { httpFunctions };
