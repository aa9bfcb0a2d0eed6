// What the page remembers of each block upload, so that it can be finished after a reload or a lost
// connection: the blob, its resume secret, the file it came from and the blocks already staged. Get Block
// List would tell what storage holds, but it needs read permission, which upload tokens do not carry, so
// this record is the page's own source of truth (a block it names but storage lost is sent again).
// https://learn.microsoft.com/rest/api/storageservices/get-block-list#authorization
// A file chosen again is the recorded one only if its first and last blocks hash as they did: a copy with
// the same name, size and modification time (copies often keep it) would otherwise be spliced into the blob.

/** What a page can know of a file chosen again: a page cannot reopen a file by itself. */
export interface FileIdentity {
  readonly name: string;
  readonly size: number;
  readonly lastModified: number;
}

export interface UploadRecord {
  readonly blobName: string;
  readonly blobUrl: string;
  readonly resumeSecret: string;
  /** When the function stops granting tokens for this blob (ms since the epoch). */
  readonly resumableUntil: number;
  readonly file: FileIdentity & { readonly type: string };
  /** The block size the upload started with: a resume cuts the file the same way. */
  readonly blockSizeBytes: number;
  /**
   * SHA-256 of the file's first and last blocks (cut at blockSizeBytes), hex. Absent from records written
   * before it was kept: those are never resumed, only left to expire.
   */
  readonly fingerprint?: FileFingerprint;
  /** Indexes of the blocks staged so far. */
  readonly staged: readonly number[];
  /** When the upload started (ms since the epoch). */
  readonly startedAt: number;
}

/** Where records are kept: IndexedDB in the page, a Map in tests and where IndexedDB is unavailable. */
export interface RecordStore {
  all(): Promise<UploadRecord[]>;
  put(record: UploadRecord): Promise<void>;
  delete(blobName: string): Promise<void>;
}

export interface FileFingerprint {
  readonly firstBlock: string;
  readonly lastBlock: string;
}

/** A file chosen again: what the page knows of it, and its bytes. */
export type ChosenFile = FileIdentity & Pick<Blob, "slice">;

export function sameFile(record: UploadRecord, file: FileIdentity): boolean {
  return (
    record.file.name === file.name &&
    record.file.size === file.size &&
    record.file.lastModified === file.lastModified
  );
}

/**
 * The hashes of the file's first and last blocks: two reads of at most one block each, whatever the file's
 * size, so telling two files apart costs little beside uploading either. crypto.subtle exists only in
 * secure contexts (https, or http on localhost); without it this rejects and the upload is not recorded.
 * https://developer.mozilla.org/docs/Web/API/SubtleCrypto/digest
 */
export async function fingerprintOf(file: ChosenFile, blockSizeBytes: number): Promise<FileFingerprint> {
  const last = blockCount(file.size, blockSizeBytes) - 1;
  const hash = async (start: number, end: number) => {
    const digest = await crypto.subtle.digest("SHA-256", await file.slice(start, end).arrayBuffer());
    return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, "0")).join("");
  };
  const firstBlock = await hash(0, Math.min(file.size, blockSizeBytes));
  const lastBlock = last === 0 ? firstBlock : await hash(last * blockSizeBytes, file.size);
  return { firstBlock, lastBlock };
}

export function blockCount(size: number, blockSizeBytes: number): number {
  return Math.max(1, Math.ceil(size / blockSizeBytes));
}

/**
 * A block's id: the same for the same index in every session, and of one length for every block of a blob,
 * as storage requires (base64 of at most 64 bytes before encoding).
 * https://learn.microsoft.com/rest/api/storageservices/put-block#uri-parameters
 */
export function blockId(index: number): string {
  return btoa(`valet-block-${String(index).padStart(6, "0")}`);
}

/** The share of the file's bytes already staged, 0 to 1. */
export function stagedShare(record: UploadRecord): number {
  const last = blockCount(record.file.size, record.blockSizeBytes) - 1;
  let bytes = 0;
  for (const index of new Set(record.staged)) {
    bytes += index === last ? record.file.size - last * record.blockSizeBytes : record.blockSizeBytes;
  }
  return bytes / record.file.size;
}

/** The record with one more block staged. */
export function withStaged(record: UploadRecord, index: number): UploadRecord {
  return record.staged.includes(index) ? record : { ...record, staged: [...record.staged, index] };
}

/**
 * The page's records: listed (the expired ones dropped), found by file, and updated one write at a time per
 * blob, so a slower earlier write never overwrites a later one.
 */
export class UploadRecords {
  private readonly writes = new Map<string, Promise<void>>();

  constructor(
    private readonly store: RecordStore,
    private readonly now: () => number = Date.now,
  ) {}

  /** The unfinished uploads still resumable, oldest first; records past their window are deleted. */
  async unfinished(): Promise<UploadRecord[]> {
    const records = await this.store.all();
    const live: UploadRecord[] = [];
    for (const record of records) {
      if (record.resumableUntil <= this.now()) await this.remove(record.blobName);
      else live.push(record);
    }
    return live.sort((a, b) => a.startedAt - b.startedAt);
  }

  /**
   * The resumable record of this file, if any: same name, size and modification time, and the same bytes in
   * its first and last blocks (cut as the record's upload cut them). A record of another file with the same
   * identity is left as it is, for that file.
   */
  async find(file: ChosenFile): Promise<UploadRecord | undefined> {
    for (const record of await this.unfinished()) {
      if (!sameFile(record, file) || !record.fingerprint) continue;
      const fingerprint = await fingerprintOf(file, record.blockSizeBytes);
      if (
        fingerprint.firstBlock === record.fingerprint.firstBlock &&
        fingerprint.lastBlock === record.fingerprint.lastBlock
      ) {
        return record;
      }
    }
    return undefined;
  }

  /** Records an upload as it starts, with the fingerprint of `bytes` (the file it sends). */
  async start(
    record: Omit<UploadRecord, "staged" | "startedAt" | "fingerprint">,
    bytes: ChosenFile,
  ): Promise<UploadRecord> {
    const fingerprint = await fingerprintOf(bytes, record.blockSizeBytes);
    const started: UploadRecord = { ...record, fingerprint, staged: [], startedAt: this.now() };
    await this.save(started);
    return started;
  }

  /** Writes the record as it is now (after the writes asked for before it). */
  save(record: UploadRecord): Promise<void> {
    return this.queue(record.blobName, () => this.store.put(record));
  }

  /** Done, cancelled, refused or expired: nothing left to resume. */
  remove(blobName: string): Promise<void> {
    return this.queue(blobName, () => this.store.delete(blobName));
  }

  private queue(blobName: string, operation: () => Promise<void>): Promise<void> {
    const next = (this.writes.get(blobName) ?? Promise.resolve()).then(operation, operation);
    const settled = next.catch(() => undefined);
    this.writes.set(blobName, settled);
    void settled.then(() => {
      if (this.writes.get(blobName) === settled) this.writes.delete(blobName);
    });
    return next;
  }
}

/** Records in memory: for tests, and for a browser without IndexedDB (a reload then loses them). */
export class MemoryRecordStore implements RecordStore {
  readonly records = new Map<string, UploadRecord>();

  async all(): Promise<UploadRecord[]> {
    return [...this.records.values()];
  }

  async put(record: UploadRecord): Promise<void> {
    this.records.set(record.blobName, record);
  }

  async delete(blobName: string): Promise<void> {
    this.records.delete(blobName);
  }
}

const DATABASE = "valet-uploads";
const STORE = "uploads";

/**
 * Records in the browser's IndexedDB, one object per blob keyed by its name.
 * https://developer.mozilla.org/docs/Web/API/IndexedDB_API/Using_IndexedDB
 */
export function indexedDbStore(factory: IDBFactory = indexedDB): RecordStore {
  let opened: Promise<IDBDatabase> | undefined;
  const database = () => {
    opened ??= new Promise((resolve, reject) => {
      const request = factory.open(DATABASE, 1);
      request.onupgradeneeded = () => request.result.createObjectStore(STORE, { keyPath: "blobName" });
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
    return opened;
  };
  const run = async <T>(mode: IDBTransactionMode, action: (store: IDBObjectStore) => IDBRequest<T>) => {
    const transaction = (await database()).transaction(STORE, mode);
    const request = action(transaction.objectStore(STORE));
    return await new Promise<T>((resolve, reject) => {
      transaction.oncomplete = () => resolve(request.result);
      transaction.onerror = () => reject(transaction.error);
      transaction.onabort = () => reject(transaction.error);
    });
  };
  return {
    all: () => run("readonly", (store) => store.getAll() as IDBRequest<UploadRecord[]>),
    put: (record) => run("readwrite", (store) => store.put(record)).then(() => undefined),
    delete: (blobName) => run("readwrite", (store) => store.delete(blobName)).then(() => undefined),
  };
}
