// Waiting when the upload service asks the page to slow down: how long a 429 asks for, and a sleep the
// page's stop button can cut short. Shared by the token and status requests.

/** The wait when a 429 says nothing readable about how long (the function always says). */
const DEFAULT_RETRY_AFTER_SECONDS = 5;

/** Told when the endpoint asks this page to slow down: how long it waits, and the endpoint's words. */
export type OnWait = (seconds: number, message: string) => void;

/** Waits `ms`, or rejects with the signal's reason as soon as it is aborted. */
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

/**
 * How long a 429 asks to wait: the body's `retryAfterSeconds` (readable across origins), else the
 * Retry-After header in seconds (readable when the page and the endpoint share an origin).
 */
export function retryAfterOf(body: unknown, response: Response): number {
  const fromBody = (body as { retryAfterSeconds?: unknown } | undefined)?.retryAfterSeconds;
  const fromHeader = Number(response.headers.get("retry-after") ?? Number.NaN);
  const seconds = typeof fromBody === "number" ? fromBody : fromHeader;
  // At least a second: a wait of zero would turn a stream of 429s into a busy loop.
  return Number.isFinite(seconds) && seconds >= 0
    ? Math.max(1, Math.ceil(seconds))
    : DEFAULT_RETRY_AFTER_SECONDS;
}

export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
