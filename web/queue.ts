// The page's file queue: at most `limit` uploads run at once and the rest wait their turn, in order. Each
// upload owns an AbortController, so cancelling drops a waiting upload before it starts and aborts the
// requests of a running one.

/** Where an upload was when it was cancelled: dropped before it started, or aborted while running. */
export type Cancelled = "waiting" | "running";

export class UploadQueue<T> {
  private readonly waiting: Array<{ item: T; controller: AbortController }> = [];
  private readonly running = new Map<T, AbortController>();

  /** `run` uploads one item; its signal aborts when the item is cancelled. Its outcome is its own to show. */
  constructor(
    private readonly limit: number,
    private readonly run: (item: T, signal: AbortSignal) => Promise<void>,
  ) {}

  /** Uploads running now. */
  get active(): number {
    return this.running.size;
  }

  /** Uploads waiting for a free slot. */
  get queued(): number {
    return this.waiting.length;
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
    const controller = this.running.get(item);
    if (!controller) return undefined;
    controller.abort(new DOMException("The upload was cancelled.", "AbortError"));
    return "running";
  }

  private pump(): void {
    while (this.running.size < this.limit) {
      const next = this.waiting.shift();
      if (!next) return;
      this.running.set(next.item, next.controller);
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
