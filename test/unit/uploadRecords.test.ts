// The page's records of its block uploads: found again by the file's identity and the hashes of its first
// and last blocks, dropped once past their window, written in order, and the block ids a resumed upload
// must reuse.
import { createHash } from "node:crypto";
import { describe, expect, test } from "vitest";
import {
  blockCount,
  blockId,
  fingerprintOf,
  MemoryRecordStore,
  type RecordStore,
  stagedShare,
  type UploadRecord,
  UploadRecords,
  withStaged,
} from "../../client/uploadRecords";

const NOW = Date.parse("2026-05-01T12:00:00Z");
const MiB = 1024 * 1024;

const LAST_MODIFIED = NOW - 86_400_000;
/** The bytes of a 10 MiB photo; `changedAt` flips one byte there. */
const PHOTO = new Uint8Array(10 * MiB).map((_, index) => (index * 31) % 251);
function photoBytes(changedAt?: number): Uint8Array {
  const bytes = PHOTO.slice();
  if (changedAt !== undefined) bytes[changedAt] = ((bytes[changedAt] ?? 0) + 1) % 256;
  return bytes;
}
function photo(bytes = photoBytes(), name = "holiday.jpg", lastModified = LAST_MODIFIED): File {
  return new File([bytes as Uint8Array<ArrayBuffer>], name, { type: "image/jpeg", lastModified });
}
const NO_BYTES = new File([], "holiday.jpg");

function recordOf(
  overrides: Partial<UploadRecord> = {},
): Omit<UploadRecord, "staged" | "startedAt" | "fingerprint"> {
  return {
    blobName: "0d4c9a53-3c1e-4f57-8a9b-2f64a1b0c9de.jpg",
    blobUrl: "http://127.0.0.1:10000/devstoreaccount1/images/0d4c9a53-3c1e-4f57-8a9b-2f64a1b0c9de.jpg",
    resumeSecret: "1777636800.abc",
    resumableUntil: NOW + 75 * 60_000,
    file: { name: "holiday.jpg", size: 10 * MiB, lastModified: LAST_MODIFIED, type: "image/jpeg" },
    blockSizeBytes: 4 * MiB,
    ...overrides,
  };
}

describe("the page's upload records", () => {
  test("find an unfinished upload by the file's name, size and last modification, and by nothing less", async () => {
    const records = new UploadRecords(new MemoryRecordStore(), () => NOW);
    const file = photo();
    const started = await records.start(recordOf(), file);

    expect(await records.find(file)).toEqual(started);
    expect(await records.find(photo(photoBytes(), "holiday.jpg", LAST_MODIFIED + 1))).toBeUndefined();
    expect(await records.find(photo(photoBytes().subarray(1)))).toBeUndefined();
    expect(await records.find(photo(photoBytes(), "holiday (1).jpg"))).toBeUndefined();
  });

  test("do not take another file with the same name, size and last modification for the recorded one", async () => {
    const store = new MemoryRecordStore();
    const records = new UploadRecords(store, () => NOW);
    const started = await records.start(recordOf(), photo());

    // A copy that kept the name and the timestamps but not the bytes: in its first block, or in its last.
    expect(await records.find(photo(photoBytes(10)))).toBeUndefined();
    expect(await records.find(photo(photoBytes(10 * MiB - 1)))).toBeUndefined();

    // The other file's record stays, for that file.
    expect([...store.records.values()]).toEqual([started]);
    expect(await records.find(photo())).toEqual(started);
  });

  test("hash the first and last blocks as the record's upload cut them", async () => {
    const bytes = photoBytes();
    const sha256 = (part: Uint8Array) => createHash("sha256").update(part).digest("hex");
    const records = new UploadRecords(new MemoryRecordStore(), () => NOW);

    const started = await records.start(recordOf({ blockSizeBytes: 3 * MiB }), photo(bytes));

    expect(started.fingerprint).toEqual({
      firstBlock: sha256(bytes.subarray(0, 3 * MiB)),
      lastBlock: sha256(bytes.subarray(9 * MiB)),
    });
    expect(await fingerprintOf(photo(bytes), 3 * MiB)).toEqual(started.fingerprint);
    const whole = sha256(bytes);
    expect(await fingerprintOf(photo(bytes), 16 * MiB)).toEqual({ firstBlock: whole, lastBlock: whole });
  });

  test("never resume a record kept without the file's fingerprint", async () => {
    const store = new MemoryRecordStore();
    const records = new UploadRecords(store, () => NOW);
    await store.put({ ...recordOf(), staged: [0], startedAt: NOW });

    expect(await records.find(photo())).toBeUndefined();
    expect(store.records.size).toBe(1);
  });

  test("drop the uploads past their resume window when listed, and keep the others oldest first", async () => {
    const store = new MemoryRecordStore();
    let now = NOW;
    const records = new UploadRecords(store, () => now);
    await records.start(recordOf({ blobName: "b.jpg", resumableUntil: NOW + 60_000 }), NO_BYTES);
    now += 1000;
    await records.start(recordOf({ blobName: "a.jpg", resumableUntil: NOW + 3_600_000 }), NO_BYTES);
    expect((await records.unfinished()).map((record) => record.blobName)).toEqual(["b.jpg", "a.jpg"]);

    now = NOW + 60_000;

    expect((await records.unfinished()).map((record) => record.blobName)).toEqual(["a.jpg"]);
    expect([...store.records.keys()]).toEqual(["a.jpg"]);
  });

  test("are removed once done", async () => {
    const store = new MemoryRecordStore();
    const records = new UploadRecords(store, () => NOW);
    const started = await records.start(recordOf(), NO_BYTES);
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
    const started = await records.start(recordOf(), NO_BYTES);
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
