// The common start of an endpoint that answers about one upload by its name (the status endpoint, read
// tokens): the method, the routed name, the instance's parts, and who is asking.
import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import type { OutcomeStore } from "../checking/outcomes";
import { SettingsError } from "../contract/appSettings";
import { isUploadName } from "../contract/uploadNames";
import { type Instance, instance } from "../platform/instance";
import { methodRefusal, misconfigured } from "../platform/responses";
import type { Settings } from "../platform/settings";
import { authenticate, type Caller, routedBlobName } from "./index";

export interface UploadRoute {
  readonly blobName: string;
  readonly caller: Caller;
  readonly settings: Settings;
  readonly outcomes: OutcomeStore;
  readonly root: Instance;
}

/**
 * The request read as far as every such endpoint reads it, or the response that ends it: 405 for another
 * method, `badName` for a name no upload is given (before any setting is read), 500 for a bad setting, and
 * sign-in's refusals.
 */
export async function readUploadRoute(
  request: HttpRequest,
  context: InvocationContext,
  methods: readonly string[],
  badName: () => HttpResponseInit,
): Promise<UploadRoute | { response: HttpResponseInit }> {
  const refused = methodRefusal(request, methods);
  if (refused) return { response: refused };
  const blobName = routedBlobName(request.params);
  // The names the function and the page give uploads: a blob with another name is deleted unchecked.
  if (!isUploadName(blobName)) return { response: badName() };
  const root = instance();
  let settings: Settings;
  let outcomes: OutcomeStore;
  let verifier: ReturnType<Instance["verifier"]>;
  try {
    settings = root.settings();
    outcomes = root.outcomes();
    verifier = root.verifier();
  } catch (error) {
    if (!(error instanceof SettingsError)) throw error;
    return { response: misconfigured(error, context) };
  }
  const signedIn = await authenticate(request, verifier, context);
  if ("response" in signedIn) return signedIn;
  return { blobName, caller: signedIn.caller, settings, outcomes, root };
}
