// Rows 7 and 8: the check of stored uploads. How many bytes it reads of a large upload it rejects (counted on
// the wire, by a proxy in front of the blob service, against reading the whole blob; an accepted photo is read
// whole to be processed, bench/photos.ts), and how many uploads a second
// it checks through the local queue runner (against a queue function that only moves each blob to the
// verified container, unchecked), reported beside issuance.
import { createServer, request as httpRequest, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { InvocationContext, type StorageQueueHandler } from "@azure/functions";
import { BlobServiceClient } from "@azure/storage-blob";
import { QueueServiceClient } from "@azure/storage-queue";
import { parseBlobCreatedMessage } from "../function/checking/uploadCheck";
import { type Environment, SETTING } from "../function/contract/appSettings";
import { HEAD_BYTES, UPLOADS_CREATED_QUEUE } from "../function/contract/check";
import { queueFunctions } from "../function/functions";
import { configureInstance, instance } from "../function/platform/instance";
import { blobCreatedEvent, eventMessage } from "../local/eventGrid";
import { closeServer } from "../local/lifecycle";
import { startQueueRunner } from "../local/queueRunner";
import { prepareCheckStorage } from "../local/storage";
import { alternate, type BenchRow, ratioOf, round } from "./results";

export interface ValidationBenchOptions {
  runs: number;
  /** The large upload's size (50 MiB in a real run). */
  largeBytes: number;
  /** Uploads checked per run of the rate row. */
  uploads: number;
  /** The function's settings: the uploads account (Azurite, account key) and VALIDATION_STORAGE. */
  appSettings: Environment;
  blobServiceUrl: string;
  /** Issuance over HTTP (row 2), tokens a second: what the check is reported beside. */
  issuancePerSecond: number;
}

const KIB = 1024;
const MIB = 1024 * KIB;
/** The 8 × 8 PNG of the test fixtures: signature, IHDR, IDAT, IEND. */
const PNG = Buffer.from(
  "89504e470d0a1a0a0000000d49484452000000080000000808020000004b" +
    "6d29dc0000002549444154789c6360606050505070707048484868686858" +
    "b060c18103071e3c78c030b424005899540167f0518b0000000049454e44" +
    "ae426082",
  "hex",
);

export async function benchValidation(options: ValidationBenchOptions): Promise<BenchRow[]> {
  const proxy = await startCountingProxy(new URL(options.blobServiceUrl));
  try {
    return [await bytesRow(options, proxy), await rateRow(options)];
  } finally {
    await closeServer(proxy.server);
  }
}

/** The first row: bytes of blob content the check downloads for one large upload. */
async function bytesRow(options: ValidationBenchOptions, proxy: CountingProxy): Promise<BenchRow> {
  // The function reaches storage through the proxy, which counts what every GET brings back.
  const viaProxy = {
    ...options.appSettings,
    [SETTING.connectionString]: String(options.appSettings[SETTING.connectionString]).replace(
      options.blobServiceUrl,
      proxy.url,
    ),
  };
  // Its header claims 20000 × 20000 pixels, over the cap: refused from its first bytes.
  const large = largePng(options.largeBytes, 20_000);
  const direct = await prepare(options.appSettings);
  const handler = queueFunctions.validateUpload.handler;
  let run = 0;
  const project = async () => {
    configureInstance(viaProxy);
    const name = `bench-large-${run++}.png`;
    const eTag = await direct.put(name, large);
    proxy.reset();
    await invoke(handler, blobEvent(direct, name, eTag, large.length));
    const read = proxy.bytesRead();
    await direct.expectRejected(name);
    return read / KIB;
  };
  const baseline = async () => {
    const name = `bench-large-${run++}.png`;
    await direct.put(name, large);
    proxy.reset();
    const whole = BlobServiceClient.fromConnectionString(String(viaProxy[SETTING.connectionString]));
    await whole.getContainerClient(direct.inbox).getBlobClient(name).downloadToBuffer();
    const read = proxy.bytesRead();
    await direct.remove(name);
    return read / KIB;
  };
  const figures = await alternate(options.runs, project, baseline, 0);
  configureInstance(options.appSettings);
  return {
    id: "validationBytes",
    title: `7. Bytes read per rejected upload, a ${round(options.largeBytes / MIB, 1)} MiB upload`,
    unit: "KiB",
    better: "lower",
    ...figures,
    ratio: ratioOf(figures.project.median, figures.baseline.median, "lower"),
    target: `≤ ${HEAD_BYTES / KIB} KiB`,
    targetMet: figures.project.median <= HEAD_BYTES / KIB,
    details: { uploadBytes: options.largeBytes, headBytes: HEAD_BYTES },
  };
}

/** The second row: uploads checked a second, their events queued first, then the queue runner let loose. */
async function rateRow(options: ValidationBenchOptions): Promise<BenchRow> {
  configureInstance(options.appSettings);
  const storage = await prepare(options.appSettings);
  const queue = QueueServiceClient.fromConnectionString(storage.validationConnection).getQueueClient(
    UPLOADS_CREATED_QUEUE,
  );
  const settings = instance().settings();
  const service = BlobServiceClient.fromConnectionString(
    String(options.appSettings[SETTING.connectionString]),
  );
  // The least a queue-driven move can cost: copy to the verified container and delete, nothing read.
  const moveOnly: StorageQueueHandler = async (message) => {
    // The message as the trigger hands it over, in whichever form it was written.
    const name = parseBlobCreatedMessage(message).blobName;
    const source = service.getContainerClient(settings.container).getBlobClient(name);
    const target = service.getContainerClient(settings.check.verifiedContainer).getBlobClient(name);
    await (await target.beginCopyFromURL(source.url)).pollUntilDone();
    await source.delete();
  };
  let run = 0;
  const perSecond = async (handler: StorageQueueHandler): Promise<number> => {
    const names = Array.from({ length: options.uploads }, (_, index) => `bench-rate-${run}-${index}.png`);
    run++;
    const eTags = await Promise.all(names.map((name) => storage.put(name, PNG)));
    await Promise.all(
      names.map((name, index) =>
        queue.sendMessage(eventMessage(blobEvent(storage, name, eTags[index] ?? "", PNG.length))),
      ),
    );
    const start = performance.now();
    const runner = startQueueRunner({
      functionName: "validateUpload",
      handler,
      connectionString: storage.validationConnection,
      queueName: UPLOADS_CREATED_QUEUE,
      behaviour: { maxPollingIntervalMs: 50 },
    });
    await runner.idle();
    const seconds = (performance.now() - start) / 1000;
    await runner.stop();
    for (const name of names) await storage.expectVerified(name);
    return options.uploads / seconds;
  };
  const figures = await alternate(
    options.runs,
    () => perSecond(queueFunctions.validateUpload.handler),
    () => perSecond(moveOnly),
    1,
  );
  return {
    id: "validationRate",
    title: "8. Validations per second, local queue",
    unit: "uploads/s",
    better: "higher",
    ...figures,
    ratio: ratioOf(figures.project.median, figures.baseline.median, "higher"),
    // A person's batch of 200 photos is checked within 20 s of its last byte.
    target: "≥ 10 uploads/s",
    targetMet: figures.project.median >= 10,
    details: {
      uploadsPerRun: options.uploads,
      issuancePerSecond: round(options.issuancePerSecond, 0),
      checksPerIssuance: round(figures.project.median / options.issuancePerSecond, 4),
    },
  };
}

interface BenchStorage {
  readonly inbox: string;
  readonly validationConnection: string;
  /** Writes a blob into the inbox with the account key; resolves with its ETag. */
  put(name: string, bytes: Buffer): Promise<string>;
  remove(name: string): Promise<void>;
  expectRejected(name: string): Promise<void>;
  expectVerified(name: string): Promise<void>;
  eventFields(name: string): { url: string; container: string };
}

async function prepare(appSettings: Environment): Promise<BenchStorage> {
  configureInstance(appSettings);
  const settings = instance().settings();
  const connection = String(appSettings[SETTING.connectionString]);
  const validationConnection = String(appSettings[SETTING.validationStorage]);
  await prepareCheckStorage(connection, validationConnection, settings.check.verifiedContainer);
  const service = BlobServiceClient.fromConnectionString(connection);
  const inbox = service.getContainerClient(settings.container);
  const verified = service.getContainerClient(settings.check.verifiedContainer);
  const expectVerified = async (name: string) => {
    if (!(await verified.getBlobClient(name).exists())) {
      throw new Error(`${name} did not reach the verified container`);
    }
    await verified.getBlobClient(name).delete();
  };
  return {
    inbox: settings.container,
    validationConnection,
    put: async (name, bytes) => {
      const result = await inbox
        .getBlockBlobClient(name)
        .uploadData(bytes, { blockSize: 8 * MIB, concurrency: 4 });
      return result.etag ?? "";
    },
    remove: async (name) => {
      await inbox.getBlobClient(name).delete();
    },
    expectRejected: async (name) => {
      if (await inbox.getBlobClient(name).exists()) throw new Error(`${name} was not taken out of the inbox`);
      if (await verified.getBlobClient(name).exists())
        throw new Error(`${name} reached the verified container`);
    },
    expectVerified,
    eventFields: (name) => ({ url: inbox.getBlobClient(name).url, container: settings.container }),
  };
}

function blobEvent(storage: BenchStorage, name: string, eTag: string, length: number) {
  return blobCreatedEvent({
    ...storage.eventFields(name),
    name,
    api: length > 8 * MIB ? "PutBlockList" : "PutBlob",
    eTag,
    contentType: "image/png",
    contentLength: length,
    blobType: "BlockBlob",
  });
}

/** One invocation of a queue function, as the runner would make it, with its log lines dropped. */
async function invoke(handler: StorageQueueHandler, event: Record<string, unknown>): Promise<void> {
  await handler(
    event,
    new InvocationContext({
      invocationId: "bench",
      functionName: "validateUpload",
      logHandler: () => undefined,
    }),
  );
}

/**
 * A real PNG header followed by a private ancillary chunk that pads it to `bytes`: a valid image whose
 * every byte past the first few is irrelevant to the check.
 */
function largePng(bytes: number, side?: number): Buffer {
  const header = Buffer.from(PNG.subarray(0, 33));
  // The dimensions only (the check reads them, not the chunk's CRC).
  if (side !== undefined) {
    header.writeUInt32BE(side, 16);
    header.writeUInt32BE(side, 20);
  }
  const rest = PNG.subarray(33);
  const padding = bytes - PNG.length - 12;
  const chunk = Buffer.alloc(12 + padding);
  chunk.writeUInt32BE(padding, 0);
  chunk.write("vaLt", 4, "latin1");
  return Buffer.concat([header, chunk, rest]);
}

interface CountingProxy {
  readonly server: Server;
  readonly url: string;
  reset(): void;
  /** Body bytes of every GET answered since the last reset: what was read of the blobs. */
  bytesRead(): number;
}

/** Forwards every request to the blob service unchanged and counts the bytes GET responses carry. */
async function startCountingProxy(target: URL): Promise<CountingProxy> {
  let read = 0;
  const server = createServer((req, res) => {
    const forward = httpRequest(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (upstream) => {
        res.writeHead(upstream.statusCode ?? 502, upstream.headers);
        upstream.on("data", (chunk: Buffer) => {
          if (req.method === "GET") read += chunk.length;
        });
        upstream.pipe(res);
      },
    );
    forward.on("error", () => res.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen({ host: target.hostname, port: 0 }, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    server,
    url: `${target.protocol}//${target.hostname}:${port}${target.pathname}`,
    reset: () => {
      read = 0;
    },
    bytesRead: () => read,
  };
}
