// This instance's publisher of completion events: an EventGridPublisherClient for the custom topic, signing
// in with the app's managed identity (the topic takes no keys; the identity holds EventGrid Data Sender on
// that topic alone), kept by the instance root (platform/instance.ts). Unset EVENTS_TOPIC_ENDPOINT: no publisher.
// https://learn.microsoft.com/azure/event-grid/authenticate-with-active-directory
// https://learn.microsoft.com/javascript/api/overview/azure/eventgrid-readme
import { EventGridPublisherClient, type SendCloudEventInput } from "@azure/eventgrid";
import { DefaultAzureCredential, ManagedIdentityCredential, type TokenCredential } from "@azure/identity";
import type { Environment } from "../contract/appSettings";
import type { CompletionData } from "../contract/completionEvents";

export interface CompletionPublisher {
  /** Resolves once the topic has accepted the event; rejects otherwise (the caller's message is retried). */
  publish(event: SendCloudEventInput<CompletionData>): Promise<void>;
}

/**
 * For a host that runs the function in its own process (the local stack): the credential to sign in with and
 * the CA its topic stand-in's certificate is signed by. Azure's instances need neither.
 */
export interface EventsClientOptions {
  readonly credential?: TokenCredential;
  readonly trustedCa?: string;
}

/**
 * Few tries of its own: a topic that does not answer fails the queue message soon, and the queue's own
 * retries (host.json's visibilityTimeout and maxDequeueCount) carry the event from there.
 */
const PUBLISH_RETRY = { maxRetries: 2, retryDelayInMs: 500, maxRetryDelayInMs: 2_000 } as const;

export function completionPublisher(
  endpoint: string,
  env: Environment,
  options: EventsClientOptions = {},
): CompletionPublisher {
  const credential =
    options.credential ??
    (env.IDENTITY_ENDPOINT ? new ManagedIdentityCredential() : new DefaultAzureCredential());
  const client = new EventGridPublisherClient(endpoint, "CloudEvent", credential, {
    retryOptions: PUBLISH_RETRY,
    ...(options.trustedCa !== undefined && { tlsOptions: { ca: options.trustedCa } }),
  });
  return { publish: (event) => client.send([event]) };
}
