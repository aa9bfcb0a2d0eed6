// The per-instance root: everything an instance reads from its settings as it starts, in one call shared by
// the Functions entry (index.ts) and the local host (local/stack.ts), so both start an instance the same way.
// Each part is still made on first use and kept by its own module (settings.ts, the limiters, the outcome
// store); configureInstance() points them all at another environment, for hosts that run the function in
// their own process.
import { loadOutcomeStore, type OutcomeStore } from "../checking/outcomes";
import type { Environment } from "../contract/appSettings";
import {
  type CompletionPublisher,
  configureEventsClient,
  type EventsClientOptions,
  loadCompletionPublisher,
} from "../events/publisher";
import { loadOwnerLimiter } from "../identity/ownerLimits";
import { type Limiter, loadLimiter } from "../issuing/limiter";
import { loadMalwareScanning } from "../scanning/settings";
import { configureSettings, loadSettings, type Settings, type SettingsOptions } from "./settings";

export interface Instance {
  readonly settings: Settings;
  /** The per-address issuance limits, or undefined when they are off. */
  readonly limiter: Limiter | undefined;
  /** Signed in, the per-person limits, or undefined when they are off or sign-in is. */
  readonly ownerLimiter: Limiter | undefined;
  readonly outcomes: OutcomeStore;
  /** The completion events' publisher, or undefined when they are off (no EVENTS_TOPIC_ENDPOINT). */
  readonly events: CompletionPublisher | undefined;
  /** Whether the check waits for malware scan results (MALWARE_SCANNING). */
  readonly malwareScanning: boolean;
}

/** Reads this instance's settings from `env` from now on (by default the process environment). */
export function configureInstance(
  env: Environment,
  options: SettingsOptions & { events?: EventsClientOptions } = {},
): void {
  configureEventsClient(options.events);
  configureSettings(env, options);
}

/**
 * Every part of this instance, made from its settings on first use and kept: a bad setting throws its
 * SettingsError here, when the instance starts, rather than at the first request that needs it.
 * `onSettings` runs as soon as the settings are read, before the other parts: work the first request should
 * find under way starts even when a later part's setting is bad.
 */
export function loadInstance(onSettings?: (settings: Settings) => void): Instance {
  const settings = loadSettings();
  onSettings?.(settings);
  return {
    settings,
    limiter: loadLimiter(),
    ownerLimiter: settings.auth ? loadOwnerLimiter() : undefined,
    outcomes: loadOutcomeStore(),
    events: loadCompletionPublisher(),
    malwareScanning: loadMalwareScanning(),
  };
}
