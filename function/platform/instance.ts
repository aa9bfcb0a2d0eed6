// The per-instance root: everything one instance of the function app keeps while it lives, made from its
// settings in one place. The Functions entry (index.ts) and the local host (local/stack.ts) both start it
// with loadInstance(); handlers take their parts from instance(); a host that runs the function inside its
// own process (the local stack, the benchmark, tests) points it at other settings with configureInstance().
import type { BlobServiceClient } from "@azure/storage-blob";
import {
  type OutcomeStore,
  outcomesTableClient,
  parseOutcomesTable,
  TableOutcomeStore,
} from "../checking/outcomes";
import type { Environment } from "../contract/appSettings";
import { parseEventsTopicEndpoint } from "../contract/completionEvents";
import { parseMalwareScanning } from "../contract/malwareScanning";
import { type CompletionPublisher, completionPublisher, type EventsClientOptions } from "../events/publisher";
import { createOwnerLimiter } from "../identity/ownerLimits";
import { BearerVerifier } from "../identity/verifier";
import { createLimiter, type Limiter } from "../issuing/limiter";
import { readKeyCache } from "../reads/readTokens";
import type { AccessPolicyCheck } from "../signing/accessPolicies";
import type { DelegationKeyCache } from "../signing/delegationKeys";
import { signerFor, type TokenSigner } from "../signing/signing";
import { LogSampler } from "./logSampler";
import { parseSettings, type Settings, type SettingsOptions } from "./settings";
import { uploadsServiceClient } from "./uploadsAccount";

export interface InstanceOptions extends SettingsOptions {
  /**
   * How the container's stored access policies are checked: against storage, unless a host that runs the
   * function without one (the handler's unit tests) passes its own.
   */
  readonly accessPolicyCheck?: AccessPolicyCheck;
  /** For a host with an Event Grid topic stand-in: the credential and CA its publisher uses. */
  readonly events?: EventsClientOptions;
}

/**
 * One instance's parts. Each is made on first use and kept, or the SettingsError it threw is kept and thrown
 * again, so a bad setting is reported the same way on every request and only by the handlers that need it
 * (a bad limits table does not stop the status endpoint).
 */
export interface Instance {
  /** The app settings this instance reads. */
  readonly env: Environment;
  readonly settings: () => Settings;
  /** How tokens are signed, chosen once from the uploads account's settings (signing.ts). */
  readonly signer: () => TokenSigner;
  /** The uploads account's blob service client for the default options, shared by every use. */
  readonly uploadsClient: () => BlobServiceClient;
  /** Keyless: the user delegation keys read tokens are signed with (reads/readTokens.ts). */
  readonly readKeys: () => DelegationKeyCache;
  /** The per-address issuance limits, or undefined when they are off. */
  readonly limiter: () => Limiter | undefined;
  /** Signed in, the per-person limits; undefined when they are off or sign-in is. */
  readonly ownerLimiter: () => Limiter | undefined;
  readonly outcomes: () => OutcomeStore;
  /** Signed in, the verifier of bearer tokens (its discovery document and keys fetched once); else undefined. */
  readonly verifier: () => BearerVerifier | undefined;
  /** The completion events' publisher, or undefined when they are off (no EVENTS_TOPIC_ENDPOINT). */
  readonly events: () => CompletionPublisher | undefined;
  /** Whether the check waits for malware scan results (MALWARE_SCANNING). */
  readonly malwareScanning: () => boolean;
  /** Log lines that can come once per request are sampled per instance (logSampler.ts). */
  readonly sampler: LogSampler;
}

/** Every part made, as an instance that has started holds them. */
export interface StartedInstance {
  readonly settings: Settings;
  readonly signer: TokenSigner;
  readonly limiter: Limiter | undefined;
  readonly ownerLimiter: Limiter | undefined;
  readonly outcomes: OutcomeStore;
  readonly events: CompletionPublisher | undefined;
  readonly malwareScanning: boolean;
}

/** `make`'s value (or error), made on first call and kept. */
function kept<T>(make: () => T): () => T {
  let made: { value: T } | { error: unknown } | undefined;
  return () => {
    if (!made) {
      try {
        made = { value: make() };
      } catch (error) {
        made = { error };
      }
    }
    if ("error" in made) throw made.error;
    return made.value;
  };
}

/** The instance that reads `env`: nothing is read until a part is asked for. */
export function createInstance(env: Environment, options: InstanceOptions = {}): Instance {
  const settings = kept(() => parseSettings(env, options));
  const uploadsClient = kept(() => uploadsServiceClient(settings().uploads));
  return {
    env,
    settings,
    uploadsClient,
    signer: kept(() =>
      signerFor(settings(), { client: uploadsClient(), accessPolicyCheck: options.accessPolicyCheck }),
    ),
    readKeys: kept(() => readKeyCache(uploadsClient())),
    limiter: kept(() => createLimiter(env)),
    ownerLimiter: kept(() => (settings().auth ? createOwnerLimiter(env) : undefined)),
    outcomes: kept(() => new TableOutcomeStore(outcomesTableClient(parseOutcomesTable(env)))),
    verifier: kept(() => {
      const { auth } = settings();
      return auth && new BearerVerifier(auth);
    }),
    events: kept(() => {
      const endpoint = parseEventsTopicEndpoint(env);
      return endpoint === undefined ? undefined : completionPublisher(endpoint, env, options.events);
    }),
    malwareScanning: kept(() => parseMalwareScanning(env)),
    sampler: new LogSampler(),
  };
}

let current: Instance | undefined;

/**
 * This process's instance: by default it reads the process environment (the app settings, in Azure); a
 * host that configured one gets that one.
 */
export function instance(): Instance {
  current ??= createInstance(process.env);
  return current;
}

/**
 * Starts a new instance that reads `env` (and, for a host with its own, `options`), in place of the one
 * before: the one explicit way a host or a test sets up the function it runs in its own process.
 */
export function configureInstance(env: Environment, options: InstanceOptions = {}): Instance {
  current = createInstance(env, options);
  return current;
}

/**
 * Every part of this instance, made now: a bad setting throws its SettingsError here, when the instance
 * starts, rather than at the first request that needs it. `onSettings` runs as soon as the settings are read
 * (with the signer), before the other parts: work the first request should find under way starts even when a
 * later part's setting is bad.
 */
export function loadInstance(
  onSettings?: (settings: Settings, signer: TokenSigner) => void,
): StartedInstance {
  const parts = instance();
  const settings = parts.settings();
  const signer = parts.signer();
  onSettings?.(settings, signer);
  return {
    settings,
    signer,
    limiter: parts.limiter(),
    ownerLimiter: parts.ownerLimiter(),
    outcomes: parts.outcomes(),
    events: parts.events(),
    malwareScanning: parts.malwareScanning(),
  };
}
