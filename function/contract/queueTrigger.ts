// The queue trigger's settings as function/host.json gives them to the Functions host (`extensions.queues`):
// read here once, so that the check's own code and the local queue runner obey the very figures Azure's host
// does. JSON has no comments, so each figure's reason is given here.
// https://learn.microsoft.com/azure/azure-functions/functions-bindings-storage-queue#host-json
import host from "../host.json";

/** How the queue trigger reads a message's text: decoded from base64 (the host's default) or as it is. */
export type MessageEncoding = "base64" | "none";

export interface QueueTriggerSettings {
  /**
   * `none`: Event Grid writes its events as plain JSON or as base64 (both are reported), and the check reads
   * either; with the default, base64, a plain one would be poisoned unread (function/checking/uploadCheck.ts).
   */
  readonly messageEncoding: MessageEncoding;
  /** Messages received at once (host default 16, 1 to 32): 1, so that a check's memory is bounded (photoMemory.ts). */
  readonly batchSize: number;
  /**
   * The longest wait between polls of an empty queue: 2 s rather than the default minute, so that after a
   * quiet spell a new upload's check starts within about 2 s, not a minute. The cost is one Get Messages
   * every 2 s per running instance while the queue stays empty (the host backs off to it); a scaled-to-zero
   * Flex app polls nothing, the platform watches the queue for it.
   */
  readonly maxPollingIntervalMs: number;
  /**
   * How long a failed message stays hidden before its next try: 2 min 30 s rather than the default 0, which
   * spends the five tries within seconds of one transient fault. With five tries, a message is tried over
   * ten minutes, the time Azure documents for a new role assignment to take effect, so a check that fails
   * because the app's roles are not yet effective (just after a deployment) is not poisoned.
   * https://learn.microsoft.com/azure/role-based-access-control/troubleshooting#symptom---role-assignment-changes-are-not-being-detected
   */
  readonly visibilityTimeoutMs: number;
  /**
   * Tries before the host moves a message to `<queue>-poison`: the default, 5, written out because the
   * check's last-try alert (function/checking/queuedCheck.ts) and the retry window above depend on it.
   */
  readonly maxDequeueCount: number;
}

/**
 * The text `text` is base64 of, or undefined when it is not base64 (standard alphabet, padded): the one test
 * of the form, shared with the local queue runner's decoding.
 */
export function decodeBase64(text: string): string | undefined {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text) || text.length % 4 !== 0) return undefined;
  return Buffer.from(text, "base64").toString("utf8");
}

/**
 * The one Event Grid event a queue message holds, in any form it reaches the function: an object (the Node
 * worker parses a message that is JSON), JSON text, or base64 of JSON text (host.json's messageEncoding is
 * "none", so both reach it), alone or in an array of one. Otherwise why not: its text is not JSON (`notJson`),
 * or it is not one object (`notObject`); each caller says so in its own words.
 */
export function eventInMessage(
  message: unknown,
): { readonly event: Record<string, unknown> } | { readonly problem: "notJson" | "notObject" } {
  let value = message;
  if (value instanceof Uint8Array) value = Buffer.from(value).toString("utf8");
  if (typeof value === "string") {
    const text = value.trim();
    const json = text.startsWith("{") || text.startsWith("[") ? text : decodeBase64(text);
    if (json === undefined) return { problem: "notJson" };
    try {
      value = JSON.parse(json);
    } catch {
      return { problem: "notJson" };
    }
  }
  // A webhook gets an array of events; a queue message holds one, but one in an array is read the same.
  if (Array.isArray(value) && value.length === 1) value = value[0];
  if (typeof value !== "object" || value === null || Array.isArray(value)) return { problem: "notObject" };
  return { event: value as Record<string, unknown> };
}

/** Settings the host documents, with its defaults, for those host.json leaves out. */
const DEFAULTS = {
  messageEncoding: "base64",
  batchSize: 16,
  maxPollingIntervalMs: 60_000,
  visibilityTimeoutMs: 0,
  maxDequeueCount: 5,
} as const;

/** `[d.]hh:mm:ss[.fffffff]`, the TimeSpan form host.json takes, in milliseconds. */
export function parseTimeSpan(value: unknown, name: string): number {
  const match =
    typeof value === "string" ? /^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})(\.\d{1,7})?$/.exec(value) : null;
  if (!match) throw new Error(`host.json: extensions.queues.${name} must be a time span such as "00:00:30"`);
  const [, days, hours, minutes, seconds, fraction] = match;
  return Math.round(
    ((Number(days ?? 0) * 24 + Number(hours)) * 60 + Number(minutes)) * 60_000 +
      Number(seconds) * 1000 +
      Number(fraction ?? 0) * 1000,
  );
}

function wholeNumber(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new Error(`host.json: extensions.queues.${name} must be a whole number from ${min} to ${max}`);
  }
  return value;
}

/** The queue trigger's settings from a host.json document; a bad value is named, never guessed. */
export function parseQueueTriggerSettings(hostJson: unknown): QueueTriggerSettings {
  const queues =
    (hostJson as { extensions?: { queues?: Record<string, unknown> } } | undefined)?.extensions?.queues ?? {};
  const encoding = queues.messageEncoding ?? DEFAULTS.messageEncoding;
  if (typeof encoding !== "string" || !["base64", "none"].includes(encoding.toLowerCase())) {
    throw new Error('host.json: extensions.queues.messageEncoding must be "base64" or "none"');
  }
  return {
    messageEncoding: encoding.toLowerCase() as MessageEncoding,
    batchSize:
      queues.batchSize === undefined ? DEFAULTS.batchSize : wholeNumber(queues.batchSize, "batchSize", 1, 32),
    maxPollingIntervalMs:
      queues.maxPollingInterval === undefined
        ? DEFAULTS.maxPollingIntervalMs
        : parseTimeSpan(queues.maxPollingInterval, "maxPollingInterval"),
    visibilityTimeoutMs:
      queues.visibilityTimeout === undefined
        ? DEFAULTS.visibilityTimeoutMs
        : parseTimeSpan(queues.visibilityTimeout, "visibilityTimeout"),
    maxDequeueCount:
      queues.maxDequeueCount === undefined
        ? DEFAULTS.maxDequeueCount
        : wholeNumber(queues.maxDequeueCount, "maxDequeueCount", 1, 1000),
  };
}

/** This app's queue trigger settings, from its own host.json. */
export const QUEUE_TRIGGER: QueueTriggerSettings = parseQueueTriggerSettings(host);
