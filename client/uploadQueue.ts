// The page's file queue: uploads run while their requests together stay within `limit` and the rest wait
// their turn, in order. Each upload owns an AbortController, so cancelling drops a waiting upload before it
// starts and aborts the requests of a running one.

/** Where an upload was when it was cancelled: dropped before it started, or aborted while running. */
export type Cancelled = "waiting" | "running";

export class UploadQueue<T> {
  private readonly waiting: Array<{ item: T; controller: AbortController }> = [];
  private readonly running = new Map<T, { controller: AbortController; requests: number }>();

  /**
   * `run` uploads one item; its signal aborts when the item is cancelled. Its outcome is its own to show.
   * `requestsOf` says how many requests an item keeps in flight (one by default, so `limit` counts items);
   * an item asking for more than `limit` runs alone.
   */
  constructor(
    private readonly limit: number,
    private readonly run: (item: T, signal: AbortSignal) => Promise<void>,
    private readonly requestsOf: (item: T) => number = () => 1,
  ) {}

  /** Uploads running now. */
  get active(): number {
    return this.running.size;
  }

  /** Uploads waiting for a free slot. */
  get queued(): number {
    return this.waiting.length;
  }

  /** The first `count` items waiting, in the order they will start. */
  upcoming(count: number): T[] {
    return this.waiting.slice(0, count).map((entry) => entry.item);
  }

  /** Queues an item (again, after a failure) with a fresh AbortController. */
  add(item: T): void {
    this.waiting.push({ item, controller: new AbortController() });
    this.pump();
  }

  /**
   * Cancels an item: a waiting one is dropped and never runs, so its caller shows the outcome; a running
   * one has its signal aborted, and `run` settles it. Undefined for an item the queue does not hold.
   */
  cancel(item: T): Cancelled | undefined {
    const index = this.waiting.findIndex((entry) => entry.item === item);
    if (index >= 0) {
      this.waiting.splice(index, 1)[0]?.controller.abort();
      return "waiting";
    }
    const controller = this.running.get(item)?.controller;
    if (!controller) return undefined;
    controller.abort(new DOMException("The upload was cancelled.", "AbortError"));
    return "running";
  }

  private inFlight(): number {
    let requests = 0;
    for (const entry of this.running.values()) requests += entry.requests;
    return requests;
  }

  private pump(): void {
    for (;;) {
      const next = this.waiting[0];
      if (!next) return;
      // The head of the line waits for room rather than being overtaken, so a large file is not starved.
      const requests = this.requestsOf(next.item);
      if (this.running.size > 0 && this.inFlight() + requests > this.limit) return;
      this.waiting.shift();
      this.running.set(next.item, { controller: next.controller, requests });
      // `run` shows its own failures; a rejection here must neither stall the queue nor go unhandled.
      this.run(next.item, next.controller.signal)
        .catch(() => undefined)
        .finally(() => {
          this.running.delete(next.item);
          this.pump();
        });
    }
  }
}
