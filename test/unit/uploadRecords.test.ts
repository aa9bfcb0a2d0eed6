// The page's records of its block uploads: found again by the file's identity, dropped once past their
// window, written in order, and the block ids a resumed upload must reuse.
import { describe, expect, test } from "vitest";
import {
  blockCount,
  blockId,
  MemoryRecordStore,
  type RecordStore,
  stagedShare,
  type UploadRecord,
  UploadRecords,
  withStaged,
} from "../../web/uploadRecords";

const NOW = Date.parse("2026-05-01T12:00:00Z");
const MiB = 1024 * 1024;

function recordOf(overrides: Partial<UploadRecord> = {}): Omit<UploadRecord, "staged" | "startedAt"> {
  return {
    blobName: "0d4c9a53-3c1e-4f57-8a9b-2f64a1b0c9de.jpg",
    blobUrl: "http://127.0.0.1:10000/devstoreaccount1/images/0d4c9a53-3c1e-4f57-8a9b-2f64a1b0c9de.jpg",
    resumeSecret: "1777636800.abc",
    resumableUntil: NOW + 75 * 60_000,
    file: { name: "holiday.jpg", size: 10 * MiB, lastModified: NOW - 86_400_000, type: "image/jpeg" },
    blockSizeBytes: 4 * MiB,
    ...overrides,
  };
}

describe("the page's upload records", () => {
  test("find an unfinished upload by the file's name, size and last modification, and by nothing less", async () => {
    const records = new UploadRecords(new MemoryRecordStore(), () => NOW);
    const started = await records.start(recordOf());
    const file = { name: "holiday.jpg", size: 10 * MiB, lastModified: NOW - 86_400_000 };

    expect(await records.find(file)).toEqual(started);
    expect(await records.find({ ...file, lastModified: file.lastModified + 1 })).toBeUndefined();
    expect(await records.find({ ...file, size: file.size - 1 })).toBeUndefined();
    expect(await records.find({ ...file, name: "holiday (1).jpg" })).toBeUndefined();
  });

  test("drop the uploads past their resume window when listed, and keep the others oldest first", async () => {
    const store = new MemoryRecordStore();
    let now = NOW;
    const records = new UploadRecords(store, () => now);
    await records.start(recordOf({ blobName: "b.jpg", resumableUntil: NOW + 60_000 }));
    now += 1000;
    await records.start(recordOf({ blobName: "a.jpg", resumableUntil: NOW + 3_600_000 }));
    expect((await records.unfinished()).map((record) => record.blobName)).toEqual(["b.jpg", "a.jpg"]);

    now = NOW + 60_000;

    expect((await records.unfinished()).map((record) => record.blobName)).toEqual(["a.jpg"]);
    expect([...store.records.keys()]).toEqual(["a.jpg"]);
  });

  test("are removed once done", async () => {
    const store = new MemoryRecordStore();
    const records = new UploadRecords(store, () => NOW);
    const started = await records.start(recordOf());
    await records.remove(started.blobName);
    expect(await records.unfinished()).toEqual([]);
    expect(store.records.size).toBe(0);
  });

  test("are written in the order asked, even when the store answers an earlier write later", async () => {
    const written: number[][] = [];
    const slowFirst: RecordStore = {
      all: async () => [],
      put: (record) =>
        new Promise((resolve) =>
          setTimeout(
            () => {
              written.push([...record.staged]);
              resolve();
            },
            record.staged.length === 1 ? 30 : 0,
          ),
        ),
      delete: async () => undefined,
    };
    const records = new UploadRecords(slowFirst, () => NOW);
    const started = await records.start(recordOf());
    const one = withStaged(started, 0);
    const two = withStaged(one, 1);
    await Promise.all([records.save(one), records.save(two)]);
    expect(written).toEqual([[], [0], [0, 1]]);
  });

  test("count the share of the file's bytes staged, the last block being the short one", () => {
    const record = { ...recordOf(), staged: [], startedAt: NOW };
    expect(blockCount(record.file.size, record.blockSizeBytes)).toBe(3);
    expect(stagedShare(record)).toBe(0);
    expect(stagedShare(withStaged(record, 2))).toBeCloseTo(0.2);
    expect(stagedShare(withStaged(withStaged(record, 0), 0))).toBeCloseTo(0.4);
    expect(stagedShare({ ...record, staged: [0, 1, 2] })).toBe(1);
  });
});

describe("block ids", () => {
  test("are the same for an index in every session and of one length for every block of a blob", () => {
    expect(blockId(7)).toBe(blockId(7));
    expect(blockId(0)).not.toBe(blockId(1));
    const lengths = new Set([0, 9, 10, 999, 49_999].map((index) => blockId(index).length));
    expect(lengths.size).toBe(1);
    expect(atob(blockId(12))).toBe("valet-block-000012");
  });
});
