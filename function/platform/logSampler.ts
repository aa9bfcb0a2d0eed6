// Keeps the log bounded under a flood: an event that can repeat once per request (a refusal, the limits
// table down) is logged at most once a window per instance, with how many like it went unlogged since.

/** One line per event a minute per instance, however many requests an attacker sends. */
export const LOG_WINDOW_MS = 60_000;

export class LogSampler {
  private readonly windows = new Map<string, { startedAt: number; unlogged: number }>();

  constructor(private readonly windowMs = LOG_WINDOW_MS) {}

  /**
   * Whether to log this occurrence of `event` now; when so, how many occurrences went unlogged since the
   * last line, so the log still tells how many there were.
   */
  take(event: string, now: number): { log: false } | { log: true; unloggedSinceLast: number } {
    const window = this.windows.get(event);
    if (window && now - window.startedAt < this.windowMs) {
      window.unlogged++;
      return { log: false };
    }
    this.windows.set(event, { startedAt: now, unlogged: 0 });
    return { log: true, unloggedSinceLast: window?.unlogged ?? 0 };
  }
}
