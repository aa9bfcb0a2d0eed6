// The page's file queue and its offline wait, without a browser: how many uploads run at once, what
// Cancel does to a waiting and to a running upload, and how an upload waits out a lost connection.
import { describe, expect, test, vi } from "vitest";
import { requestsInFlight } from "../../client/blockUpload";
import { type Connectivity, whenOnline, whileOnline } from "../../client/connectivity";
import { UploadQueue } from "../../client/uploadQueue";

/** An upload the test finishes by hand, recording the signal it was given. */
function controllable() {
  const started: string[] = [];
  const signals = new Map<string, AbortSignal>();
  const finish = new Map<string, () => void>();
  const run = (item: string, signal: AbortSignal) => {
    started.push(item);
    signals.set(item, signal);
    return new Promise<void>((resolve, reject) => {
      finish.set(item, resolve);
      signal.addEventListener("abort", () => reject(signal.reason));
    });
  };
  return { started, signals, finish, run };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe("the upload queue", () => {
  test("runs at most its limit at once and starts the next, in order, as each one ends", async () => {
    const uploads = controllable();
    const queue = new UploadQueue(2, uploads.run);
    for (const item of ["a", "b", "c", "d"]) queue.add(item);
    expect(uploads.started).toEqual(["a", "b"]);
    expect([queue.active, queue.queued]).toEqual([2, 2]);
    uploads.finish.get("b")?.();
    await settle();
    expect(uploads.started).toEqual(["a", "b", "c"]);
    uploads.finish.get("a")?.();
    uploads.finish.get("c")?.();
    await settle();
    expect(uploads.started).toEqual(["a", "b", "c", "d"]);
    expect([queue.active, queue.queued]).toEqual([1, 0]);
  });

  test("keeps going after an upload fails", async () => {
    const started: string[] = [];
    const queue = new UploadQueue<string>(1, async (item) => {
      started.push(item);
      throw new Error(`${item} failed`);
    });
    queue.add("a");
    queue.add("b");
    await settle();
    expect(started).toEqual(["a", "b"]);
    expect(queue.active).toBe(0);
  });

  test("cancelling a waiting upload drops it before it starts", async () => {
    const uploads = controllable();
    const queue = new UploadQueue(1, uploads.run);
    queue.add("a");
    queue.add("b");
    expect(queue.cancel("b")).toBe("waiting");
    uploads.finish.get("a")?.();
    await settle();
    expect(uploads.started).toEqual(["a"]);
    expect(queue.queued).toBe(0);
  });

  test("cancelling a running upload aborts its signal and frees its slot", async () => {
    const uploads = controllable();
    const queue = new UploadQueue(1, uploads.run);
    queue.add("a");
    queue.add("b");
    expect(queue.cancel("a")).toBe("running");
    expect(uploads.signals.get("a")?.aborted).toBe(true);
    expect(uploads.signals.get("a")?.reason).toMatchObject({ name: "AbortError" });
    await settle();
    expect(uploads.started).toEqual(["a", "b"]);
    expect(uploads.signals.get("b")?.aborted).toBe(false);
    expect(queue.cancel("a")).toBeUndefined();
  });

  test("an upload added again after it ended gets a fresh signal", async () => {
    const uploads = controllable();
    const queue = new UploadQueue(1, uploads.run);
    queue.add("a");
    queue.cancel("a");
    await settle();
    queue.add("a");
    expect(uploads.signals.get("a")?.aborted).toBe(false);
  });
});

describe("the files next in line", () => {
  test("are the waiting ones in the order they will start, without the running or cancelled ones", async () => {
    const uploads = controllable();
    const queue = new UploadQueue(1, uploads.run);
    for (const item of ["a", "b", "c", "d"]) queue.add(item);
    expect(queue.upcoming(2)).toEqual(["b", "c"]);
    queue.cancel("c");
    expect(queue.upcoming(8)).toEqual(["b", "d"]);
    uploads.finish.get("a")?.();
    await settle();
    expect(queue.upcoming(8)).toEqual(["d"]);
  });
});

describe("requests in flight", () => {
  /** Items named for the requests they keep in flight, e.g. "small-1" or "large-4". */
  const requestsOfName = (item: string) => Number(item.split("-")[1]);

  test("keeps many one-request uploads running together, up to the limit", async () => {
    const uploads = controllable();
    const queue = new UploadQueue(8, uploads.run, requestsOfName);
    for (let index = 0; index < 10; index++) queue.add(`small${index}-1`);
    expect(uploads.started).toHaveLength(8);
    expect([queue.active, queue.queued]).toEqual([8, 2]);
    uploads.finish.get("small0-1")?.();
    await settle();
    expect(uploads.started).toHaveLength(9);
  });

  test("runs fewer uploads at once when each sends several blocks", async () => {
    const uploads = controllable();
    const queue = new UploadQueue(8, uploads.run, requestsOfName);
    for (const item of ["a-4", "b-4", "c-4"]) queue.add(item);
    expect(uploads.started).toEqual(["a-4", "b-4"]);
    uploads.finish.get("a-4")?.();
    await settle();
    expect(uploads.started).toEqual(["a-4", "b-4", "c-4"]);
  });

  test("a large upload at the head of the line is not overtaken by small ones behind it", async () => {
    const uploads = controllable();
    const queue = new UploadQueue(8, uploads.run, requestsOfName);
    for (const item of ["a-4", "b-1", "c-4", "d-1", "e-1"]) queue.add(item);
    expect(uploads.started).toEqual(["a-4", "b-1"]);
    uploads.finish.get("b-1")?.();
    await settle();
    expect(uploads.started).toEqual(["a-4", "b-1", "c-4"]);
    uploads.finish.get("a-4")?.();
    await settle();
    expect(uploads.started).toEqual(["a-4", "b-1", "c-4", "d-1", "e-1"]);
  });

  test("an upload asking for more than the limit runs, alone", async () => {
    const uploads = controllable();
    const queue = new UploadQueue(2, uploads.run, requestsOfName);
    queue.add("huge-5");
    queue.add("small-1");
    expect(uploads.started).toEqual(["huge-5"]);
    uploads.finish.get("huge-5")?.();
    await settle();
    expect(uploads.started).toEqual(["huge-5", "small-1"]);
  });

  test("a cancelled upload's requests are freed for the next", async () => {
    const uploads = controllable();
    const queue = new UploadQueue(8, uploads.run, requestsOfName);
    for (const item of ["a-4", "b-4", "c-4"]) queue.add(item);
    queue.cancel("b-4");
    await settle();
    expect(uploads.started).toEqual(["a-4", "b-4", "c-4"]);
  });

  test("a file of one block or less is one request; a larger one sends up to concurrency blocks", () => {
    const tuning = { blockSizeBytes: 4 * 1024 * 1024, concurrency: 4 };
    expect(requestsInFlight(0, tuning)).toBe(1);
    expect(requestsInFlight(300 * 1000, tuning)).toBe(1);
    expect(requestsInFlight(4 * 1024 * 1024, tuning)).toBe(1);
    expect(requestsInFlight(4 * 1024 * 1024 + 1, tuning)).toBe(2);
    expect(requestsInFlight(200 * 1000 * 1000, tuning)).toBe(4);
    expect(requestsInFlight(200 * 1000 * 1000, { ...tuning, concurrency: 1 })).toBe(1);
  });
});

/** A network the test switches on and off, firing the window's online/offline events. */
function network(online: boolean) {
  const events = new EventTarget();
  const connectivity: Connectivity = { isOnline: () => online, events };
  const set = (value: boolean) => {
    online = value;
    events.dispatchEvent(new Event(value ? "online" : "offline"));
  };
  return { connectivity, set };
}

describe("waiting for the network", () => {
  test("an upload started offline waits, and starts on the online event", async () => {
    const net = network(false);
    const attempts: AbortSignal[] = [];
    let waits = 0;
    const done = whileOnline(
      async (signal) => {
        attempts.push(signal);
        return "uploaded";
      },
      { signal: new AbortController().signal, connectivity: net.connectivity, onWaiting: () => waits++ },
    );
    await settle();
    expect([attempts.length, waits]).toEqual([0, 1]);
    net.set(true);
    expect(await done).toBe("uploaded");
    expect(attempts).toHaveLength(1);
  });

  test("an attempt cut short by going offline is aborted at once and made again once online", async () => {
    const net = network(true);
    const attempts: AbortSignal[] = [];
    const done = whileOnline(
      (signal) => {
        attempts.push(signal);
        if (attempts.length > 1) return Promise.resolve("uploaded");
        return new Promise<string>((_, reject) =>
          signal.addEventListener("abort", () => reject(new Error("request aborted"))),
        );
      },
      { signal: new AbortController().signal, connectivity: net.connectivity, onWaiting: () => undefined },
    );
    await settle();
    net.set(false);
    expect(attempts[0]?.aborted).toBe(true);
    await settle();
    expect(attempts).toHaveLength(1);
    net.set(true);
    expect(await done).toBe("uploaded");
    expect(attempts).toHaveLength(2);
  });

  test("a failure while online is the upload's outcome, not a reason to wait", async () => {
    const net = network(true);
    let attempts = 0;
    const failing = whileOnline(
      async () => {
        attempts++;
        throw new Error("refused");
      },
      { signal: new AbortController().signal, connectivity: net.connectivity, onWaiting: () => undefined },
    );
    await expect(failing).rejects.toThrow("refused");
    expect(attempts).toBe(1);
  });

  test("cancelling while waiting ends the wait with the cancel's reason, and nothing is attempted", async () => {
    const net = network(false);
    const cancel = new AbortController();
    let attempts = 0;
    const waiting = whileOnline(
      async () => {
        attempts++;
      },
      { signal: cancel.signal, connectivity: net.connectivity, onWaiting: () => undefined },
    );
    cancel.abort(new Error("cancelled"));
    await expect(waiting).rejects.toThrow("cancelled");
    net.set(true);
    await settle();
    expect(attempts).toBe(0);
  });

  test("cancelling a running attempt aborts it and is not retried", async () => {
    const net = network(true);
    const cancel = new AbortController();
    const attempts: AbortSignal[] = [];
    const running = whileOnline(
      (signal) => {
        attempts.push(signal);
        return new Promise<void>((_, reject) =>
          signal.addEventListener("abort", () => reject(signal.reason)),
        );
      },
      { signal: cancel.signal, connectivity: net.connectivity, onWaiting: () => undefined },
    );
    cancel.abort(new Error("cancelled"));
    await expect(running).rejects.toThrow("cancelled");
    expect(attempts).toHaveLength(1);
    expect(attempts[0]?.aborted).toBe(true);
  });

  test("whenOnline resolves at once when online", async () => {
    await expect(
      whenOnline(network(true).connectivity, new AbortController().signal),
    ).resolves.toBeUndefined();
  });
});

describe("retrying a lost connection while the browser says it is online", () => {
  test("a failure the retry policy accepts is tried again after its pause, each pause as it says", async () => {
    vi.useFakeTimers();
    try {
      const net = network(true);
      const pauses: number[] = [];
      let attempts = 0;
      const done = whileOnline(
        async () => {
          attempts++;
          if (attempts < 3) throw new Error("unreachable");
          return "uploaded";
        },
        {
          signal: new AbortController().signal,
          connectivity: net.connectivity,
          onWaiting: () => undefined,
          retryDelay: (_, retry) => 1000 * 2 ** retry,
          onRetrying: (ms) => pauses.push(ms),
        },
      );
      await vi.advanceTimersByTimeAsync(999);
      expect(attempts).toBe(1);
      await vi.advanceTimersByTimeAsync(1);
      expect(attempts).toBe(2);
      await vi.advanceTimersByTimeAsync(2000);
      expect(await done).toBe("uploaded");
      expect(pauses).toEqual([1000, 2000]);
    } finally {
      vi.useRealTimers();
    }
  });

  test("the online event ends a pause early", async () => {
    vi.useFakeTimers();
    try {
      const net = network(true);
      let attempts = 0;
      const done = whileOnline(
        async () => {
          attempts++;
          if (attempts === 1) throw new Error("unreachable");
          return "uploaded";
        },
        {
          signal: new AbortController().signal,
          connectivity: net.connectivity,
          onWaiting: () => undefined,
          retryDelay: () => 60_000,
        },
      );
      await vi.advanceTimersByTimeAsync(10);
      expect(attempts).toBe(1);
      net.set(true);
      expect(await done).toBe("uploaded");
      expect(attempts).toBe(2);
    } finally {
      vi.useRealTimers();
    }
  });

  test("a failure the policy gives up on is the upload's outcome", async () => {
    const net = network(true);
    let attempts = 0;
    const failing = whileOnline(
      async () => {
        attempts++;
        throw new Error("refused");
      },
      {
        signal: new AbortController().signal,
        connectivity: net.connectivity,
        onWaiting: () => undefined,
        retryDelay: (error, retry) => ((error as Error).message === "refused" && retry < 2 ? 0 : undefined),
      },
    );
    await expect(failing).rejects.toThrow("refused");
    expect(attempts).toBe(3);
  });
});
