// The completion events: one CloudEvents 1.0 event per verdict, published to an Event Grid custom topic, so
// that an application's own backend hears when an upload is verified or rejected without polling. The
// setting, the event types and the shape of `data` are shared with infra/ (which sets the setting), the
// local topic stand-in and the tests; docs/events.schema.json is the same contract as a JSON Schema.
// https://learn.microsoft.com/azure/event-grid/cloud-event-schema
import { type Environment, SettingsError, trimmed } from "./appSettings";

export const EVENTS_SETTING = {
  /** The custom topic's endpoint (`https://<topic>.<region>-1.eventgrid.azure.net/api/events`); unset: no events. */
  topicEndpoint: "EVENTS_TOPIC_ENDPOINT",
} as const;

export const COMPLETION_EVENT_TYPE = {
  accepted: "valet.upload.accepted",
  rejected: "valet.upload.rejected",
} as const;

/** Every event's `subject`: `/uploads/<blobName>`, so a subscription can filter by name prefix. */
export const COMPLETION_SUBJECT_PREFIX = "/uploads/";

/** What `data` carries. The URL is the verified blob's, never a token: reading it needs the reader's own access. */
export type CompletionData =
  | {
      readonly state: "accepted";
      readonly blobName: string;
      readonly url: string;
      readonly contentType: string;
      readonly size: number;
      readonly width?: number;
      readonly height?: number;
      readonly owner?: string;
      readonly renditions?: readonly {
        readonly name: string;
        readonly kind: string;
        readonly width: number;
        readonly height: number;
        readonly contentType: string;
        readonly bytes: number;
      }[];
    }
  | {
      readonly state: "rejected";
      readonly blobName: string;
      readonly reason: string;
      readonly code: string;
      readonly owner?: string;
    };

/** The topic's endpoint, or undefined when completion events are off. Only https: the app's token goes there. */
export function parseEventsTopicEndpoint(env: Environment): string | undefined {
  const name = EVENTS_SETTING.topicEndpoint;
  const raw = trimmed(env[name]);
  if (raw === undefined) return undefined;
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {
    url = undefined;
  }
  if (url?.protocol !== "https:" || url.username || url.password) {
    throw new SettingsError(
      name,
      `${name} must be an Event Grid topic's https endpoint such as ` +
        "https://<topic>.<region>-1.eventgrid.azure.net/api/events, or unset for no completion events.",
    );
  }
  return url.href;
}
