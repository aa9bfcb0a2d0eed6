// Uploads wait out a lost connection: while the browser says it is offline nothing is sent, an attempt
// cut short by going offline is aborted at once, and the upload starts again on the `online` event instead
// of failing. Uppy's core watches the same signals: `updateOnlineStatus` runs on the window's online and
// offline events, reads `navigator.onLine`, and emits `is-offline`, then `back-online` for its uploaders.
// https://github.com/transloadit/uppy/blob/main/packages/%40uppy/core/src/Uppy.ts
// `navigator.onLine` false is reliable (no network at all); true only means some network exists, so a
// host that cannot be reached is tried again after a growing pause (or at once on the `online` event), as
// tus-js-client's `retryDelays` and Uppy's retry on `back-online` do, before the person is asked to retry.
// https://github.com/tus/tus-js-client/blob/main/docs/api.md#retrydelays
// https://developer.mozilla.org/docs/Web/API/Navigator/onLine

/** The browser's view of the network: `navigator.onLine` and the window's online/offline events. */
export interface Connectivity {
  isOnline(): boolean;
  readonly events: EventTarget;
}

export function browserConnectivity(): Connectivity {
  return { isOnline: () => navigator.onLine, events: window };
}

/** Resolves when online (at once if so already); rejects with the signal's reason if it aborts first. */
export function whenOnline(connectivity: Connectivity, signal: AbortSignal): Promise<void> {
  if (!signal.aborted && connectivity.isOnline()) return Promise.resolve();
  return untilOnlineEvent(connectivity, signal);
}

/**
 * Resolves on the `online` event, or after `ms` when given; rejects with the signal's reason if it aborts
 * first.
 */
function untilOnlineEvent(connectivity: Connectivity, signal: AbortSignal, ms?: number): Promise<void> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      connectivity.events.removeEventListener("online", online);
      signal.removeEventListener("abort", aborted);
    };
    const online = () => {
      done();
      resolve();
    };
    const aborted = () => {
      done();
      reject(signal.reason);
    };
    const timer = ms === undefined ? undefined : setTimeout(online, ms);
    connectivity.events.addEventListener("online", online);
    signal.addEventListener("abort", aborted);
  });
}

export interface OnlineOptions {
  /** Aborts the whole upload (Cancel): the task's signal aborts too, and its reason is thrown. */
  signal: AbortSignal;
  connectivity: Connectivity;
  /** Called each time the upload starts waiting for the network. */
  onWaiting: () => void;
  /**
   * How long to pause before trying again after an attempt failed while online (`retry` counts from 0), or
   * undefined to give up and throw the error. Without it, such a failure is thrown at once.
   */
  retryDelay?: (error: unknown, retry: number) => number | undefined;
  /** Called when such a pause starts, with its length. */
  onRetrying?: (delayMs: number) => void;
}

/**
 * Runs `task` until it settles while online. Each attempt gets its own signal, aborted by Cancel or by the
 * `offline` event; an attempt that ends while offline is started again once the browser is back online.
 */
export async function whileOnline<T>(
  task: (signal: AbortSignal) => Promise<T>,
  options: OnlineOptions,
): Promise<T> {
  const { signal, connectivity } = options;
  let retries = 0;
  for (;;) {
    if (!connectivity.isOnline()) {
      options.onWaiting();
      await whenOnline(connectivity, signal);
    }
    if (signal.aborted) throw signal.reason;
    const attempt = new AbortController();
    const cancel = () => attempt.abort(signal.reason);
    let wentOffline = false;
    const offline = () => {
      wentOffline = true;
      attempt.abort(new DOMException("The browser went offline.", "AbortError"));
    };
    signal.addEventListener("abort", cancel);
    connectivity.events.addEventListener("offline", offline);
    let delay: number | undefined;
    try {
      return await task(attempt.signal);
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      if (wentOffline || !connectivity.isOnline()) continue;
      delay = options.retryDelay?.(error, retries++);
      if (delay === undefined) throw error;
    } finally {
      signal.removeEventListener("abort", cancel);
      connectivity.events.removeEventListener("offline", offline);
    }
    options.onRetrying?.(delay);
    // The pause ends early when the browser comes back online.
    await untilOnlineEvent(connectivity, signal, delay);
  }
}
