// `npm run bench`: measures token issuance, cold start and upload throughput, each against a baseline in
// the same run, on loopback, then the page's uploads on shaped networks against the link's limit, then the
// check of stored uploads, then keyless signing against the account key, then the browser client's size;
// prints one table and writes it as JSON (bench/results.json).
// `npm run bench -- --smoke` (or BENCH_SMOKE=1) runs every row once with tiny sizes: a check that the
// benchmark works, not a measurement.
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SETTING } from "../function/contract/appSettings";
import { DEFAULT_MAX_IMAGE_PIXELS } from "../function/contract/check";
import { DEFAULT_MAX_UPLOAD_BYTES } from "../function/contract/issuanceLimits";
import { CREDENTIALS_ROUTE } from "../function/contract/routes";
import { configureInstance, instance } from "../function/platform/instance";
import { DEFAULT_INSTANCE_MEMORY_MB } from "../infra/config";
import {
  type Azurite,
  type AzuriteQueues,
  type AzuriteTables,
  EMULATOR_KEY,
  emulatorConnectionString,
  startAzurite,
  startAzuriteQueues,
  startAzuriteTables,
} from "../local/azurite";
import { type FunctionHost, startFunctionHost } from "../local/functionHost";
import { localIdentityCredential } from "../local/localIdentity";
import { freePort } from "../local/ports";
import { prepareLimitsTable, prepareUploadsStorage } from "../local/storage";
import { assertTrusted, ensureLocalCertificate, type LocalCertificate, runTrusting } from "../local/tls";
import { DEFAULT_UPLOAD_TUNING } from "../web/config";
import { benchValidation } from "./check";
import { benchCheckLatency } from "./checkLatency";
import { benchClientSize } from "./clientSize";
import { benchColdStart } from "./coldStart";
import { benchCompletionEvents } from "./completionEvents";
import { benchHttp } from "./http";
import { baselineAccount, benchIssuance, signerForSettings } from "./issuance";
import { benchKeyless } from "./keyless";
import { benchShapedUploads } from "./network";
import { benchPhotos } from "./photos";
import { benchRateLimit } from "./rateLimit";
import { type BenchResults, type BenchRow, benchResults, formatTable } from "./results";
import { NETWORK_PROFILES } from "./shaper";
import { benchSignIn } from "./signIn";
import { benchUpload } from "./upload";

export interface BenchOptions {
  /** Tiny sizes and one run per row. */
  smoke: boolean;
  /** Where the JSON goes; bench/results.json by default. */
  outFile?: string;
  /** Progress lines; silent when omitted. */
  log?: (line: string) => void;
  /** The certificate the keyless row's HTTPS blob service serves; this process must trust it. */
  certificate: LocalCertificate;
}

const HOST = "127.0.0.1";
const MIB = 1024 * 1024;
const MB = 1000 * 1000;
/** The blob service's CORS rule needs an origin; no browser takes part here. */
const PAGE_ORIGIN = "http://127.0.0.1:4280";

/**
 * Sizes of a real run (about five minutes on 2 cores, most of it the shaped uploads at the links' pace) and
 * of a smoke run (a few seconds).
 */
function sizes(smoke: boolean) {
  return smoke
    ? {
        issuance: { runs: 1, runMs: 50 },
        keyless: { runs: 1, runMs: 50 },
        rateLimit: { runs: 1, requests: 20 },
        signIn: { runs: 1, requests: 20 },
        http: { runs: 1, connections: 4, durationSeconds: 1, amount: 200 },
        coldStart: { runs: 1 },
        upload: {
          runs: 1,
          bytes: MIB,
          blockSizeBytes: 256 * 1024,
          concurrency: DEFAULT_UPLOAD_TUNING.concurrency,
        },
        shaped: {
          profiles: [{ name: "fast", rttMs: 2, upMbps: 400 }],
          workloads: [
            { title: "3 × 50 KB photos", files: 3, fileBytes: 50 * 1000, target: 0.85 },
            { title: "6 × 20 KB photos", files: 6, fileBytes: 20 * 1000, target: 0.7 },
            { title: "one 2 MB file", files: 1, fileBytes: 2 * MB, target: 0.9 },
          ],
        },
        validation: { runs: 1, largeBytes: 2 * MIB, uploads: 5 },
        photos: { runs: 1, width: 400, height: 300, batch: 3, largestPixels: 1_000_000 },
        checkLatency: { uploads: 3 },
        completionEvents: { uploads: 3 },
      }
    : {
        issuance: { runs: 5, runMs: 1000 },
        keyless: { runs: 7, runMs: 1000 },
        rateLimit: { runs: 5, requests: 1000 },
        signIn: { runs: 5, requests: 2000 },
        http: { runs: 3, connections: 16, durationSeconds: 3 },
        coldStart: { runs: 7 },
        upload: { runs: 3, bytes: 64 * MIB, ...DEFAULT_UPLOAD_TUNING },
        shaped: {
          profiles: [NETWORK_PROFILES["4G"], NETWORK_PROFILES.home],
          workloads: [
            { title: "50 × 3 MB photos", files: 50, fileBytes: 3 * MB, target: 0.85 },
            { title: "200 × 300 KB photos", files: 200, fileBytes: 300 * 1000, target: 0.7 },
            { title: "one 200 MB file", files: 1, fileBytes: 200 * MB, target: 0.9 },
          ],
        },
        validation: { runs: 3, largeBytes: 50 * MIB, uploads: 200 },
        // A 12 MP phone photo; the largest image the default pixel cap allows.
        photos: { runs: 3, width: 4000, height: 3000, batch: 50, largestPixels: DEFAULT_MAX_IMAGE_PIXELS },
        checkLatency: { uploads: 21 },
        completionEvents: { uploads: 21 },
      };
}

export async function runBenchmarks(options: BenchOptions): Promise<BenchResults> {
  const log = options.log ?? (() => {});
  const size = sizes(options.smoke);
  const dataDir = await mkdtemp(join(tmpdir(), "valet-bench-"));
  let azurite: Azurite | undefined;
  let keylessAzurite: Azurite | undefined;
  let tables: AzuriteTables | undefined;
  let queues: AzuriteQueues | undefined;
  let host: FunctionHost | undefined;
  try {
    assertTrusted(options.certificate);
    azurite = await startAzurite({ host: HOST, port: await freePort(HOST), location: dataDir });
    tables = await startAzuriteTables({ host: HOST, port: await freePort(HOST), location: dataDir });
    queues = await startAzuriteQueues({ host: HOST, port: await freePort(HOST), location: dataDir });
    await prepareLimitsTable(tables.connectionString);
    // Rows 1 to 4 and 6 time signing and uploading from one caller, as fast as it goes: the limits would refuse
    // that, so they are off there; row 5 times them.
    const appSettings: Record<string, string> = {
      [SETTING.connectionString]: azurite.connectionString,
      [SETTING.maxUploadBytes]: String(Math.max(size.upload.bytes, DEFAULT_MAX_UPLOAD_BYTES)),
      [SETTING.issuanceRatePerMinute]: "0",
      [SETTING.dailyUploadBytesPerClient]: "0",
      [SETTING.validationStorage]: emulatorConnectionString({
        queue: queues.queueServiceUrl,
        table: tables.tableServiceUrl,
      }),
    };
    // The handler runs in this process with these settings; the HTTP server and the cold starts are
    // instances of their own, which read them from their environment as on Azure.
    configureInstance(appSettings);
    const settings = instance().settings();
    const instanceEnv = { ...process.env, ...appSettings };
    await prepareUploadsStorage(azurite.connectionString, settings.container, [PAGE_ORIGIN]);
    const rows: BenchRow[] = [];

    log("1/13 issuance in process…");
    rows.push(await benchIssuance({ ...size.issuance, accountKey: EMULATOR_KEY }));
    log("2/13 issuance over HTTP…");
    rows.push(await benchHttp({ ...size.http, env: { ...instanceEnv, BENCH_ACCOUNT_KEY: EMULATOR_KEY } }));
    log("3/13 cold start…");
    rows.push(
      await benchColdStart({
        ...size.coldStart,
        env: instanceEnv,
        account: baselineAccount(EMULATOR_KEY),
        signer: signerForSettings(EMULATOR_KEY),
      }),
    );
    log("4/13 upload…");
    host = await startFunctionHost({ host: HOST, port: await freePort(HOST), allowedOrigins: [] });
    rows.push(
      await benchUpload({
        ...size.upload,
        credentialsUrl: `${host.apiUrl}/${CREDENTIALS_ROUTE}`,
        connectionString: azurite.connectionString,
        container: settings.container,
      }),
    );

    log("5/13 issuance with the limits on and off…");
    rows.push(
      await benchRateLimit({
        ...size.rateLimit,
        limitsOff: appSettings,
        // The defaults' daily allowance, and a bucket no run empties: every request is a table write.
        limitsOn: {
          ...appSettings,
          [SETTING.issuanceRatePerMinute]: "60000",
          [SETTING.issuanceBurst]: "100000",
          [SETTING.dailyUploadBytesPerClient]: String(1024 ** 4),
          [SETTING.limitsStorage]: tables.connectionString,
        },
      }),
    );

    log("6/13 the page on shaped networks…");
    rows.push(
      ...(await benchShapedUploads({
        ...size.shaped,
        appSettings,
        connectionString: azurite.connectionString,
        blobServiceUrl: azurite.blobServiceUrl,
        container: settings.container,
        log,
      })),
    );

    log("7/13 the check of stored uploads…");
    rows.push(
      ...(await benchValidation({
        ...size.validation,
        appSettings,
        blobServiceUrl: azurite.blobServiceUrl,
        issuancePerSecond: rows.find((row) => row.id === "http")?.project.median ?? 0,
      })),
    );

    log("8/13 processing photos…");
    rows.push(
      ...(await benchPhotos({
        ...size.photos,
        instanceMemoryMB: DEFAULT_INSTANCE_MEMORY_MB,
        connectionString: azurite.connectionString,
      })),
    );

    log("9/13 keyless signing against the account key…");
    // Its own blob service: HTTPS with Entra ID bearer tokens, which keyless signing needs.
    keylessAzurite = await startAzurite({
      host: HOST,
      port: await freePort(HOST),
      location: join(dataDir, "keyless"),
      tls: options.certificate,
    });
    const { [SETTING.connectionString]: _, ...sharedSettings } = appSettings;
    rows.push(
      await benchKeyless({
        ...size.keyless,
        accountKeySettings: appSettings,
        identitySettings: {
          ...sharedSettings,
          [SETTING.accountUrl]: keylessAzurite.blobServiceUrl,
          [SETTING.keyDerivationSecret]: randomBytes(32).toString("base64"),
        },
        credential: () => localIdentityCredential(),
      }),
    );

    log("10/13 issuance signed in and anonymous…");
    rows.push(await benchSignIn({ ...size.signIn, appSettings }));

    log("11/13 commit to verdict after an idle queue…");
    // Last: a whole local stack of its own, whose function settings replace this process's.
    rows.push(await benchCheckLatency({ ...size.checkLatency, pageOrigin: PAGE_ORIGIN }));

    log("12/13 commit to completion event at the webhook, malware scanning off and on…");
    rows.push(await benchCompletionEvents({ ...size.completionEvents, pageOrigin: PAGE_ORIGIN }));
    rows.push(
      await benchCompletionEvents({ ...size.completionEvents, pageOrigin: PAGE_ORIGIN, scanning: true }),
    );

    log("13/13 the browser client's size…");
    rows.push(await benchClientSize());

    const results = benchResults(rows, options.smoke);
    await writeFile(
      options.outFile ?? join(__dirname, "results.json"),
      `${JSON.stringify(results, null, 2)}\n`,
    );
    return results;
  } finally {
    await host?.stop();
    await keylessAzurite?.stop();
    await tables?.stop();
    await queues?.stop();
    await azurite?.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const smoke = process.argv.includes("--smoke") || process.env.BENCH_SMOKE === "1";
  // The keyless row's blob service is HTTPS: this process runs again trusting its certificate.
  const certificate = await ensureLocalCertificate(join(tmpdir(), "valet-bench-tls"));
  const exitCode = await runTrusting(certificate);
  if (exitCode !== undefined) process.exit(exitCode);
  const started = performance.now();
  const results = await runBenchmarks({ smoke, certificate, log: (line) => console.error(line) });
  console.log(formatTable(results));
  console.error(`done in ${Math.round((performance.now() - started) / 1000)} s; JSON in bench/results.json`);
}

if (require.main === module) {
  main().catch((error: unknown) => {
    const message = error instanceof Error ? error.message || error.name : String(error);
    console.error(`bench: ${message}`);
    process.exit(1);
  });
}
