// Runs Azurite's blob service (and its table and queue services) as child processes on loopback: Microsoft's
// storage emulator, which enforces SAS signatures, permissions, expiry and CORS the way Blob Storage does.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { stopChild } from "./lifecycle";
import { assertPortFree } from "./ports";
import type { LocalCertificate } from "./tls";

/** Azurite's fixed development account (public, documented emulator credentials, not a secret). */
export const EMULATOR_ACCOUNT = "devstoreaccount1";
export const EMULATOR_KEY =
  "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

export interface AzuriteOptions {
  host?: string;
  port: number;
  /** Folder for Azurite's data and metadata. */
  location: string;
  /** Environment variable that sets the port, named in a port-in-use error. */
  portVariable?: string;
}

export interface BlobServiceOptions extends AzuriteOptions {
  /**
   * Serve HTTPS with this certificate and accept Entra ID bearer tokens (`--oauth basic`), which Azurite
   * takes over HTTPS only: what keyless signing needs. The account key keeps working too.
   * https://github.com/Azure/Azurite#oauth-authentication
   */
  tls?: LocalCertificate;
}

/** One running Azurite service. */
interface AzuriteService {
  readonly connectionString: string;
  /** Settles if Azurite exits on its own, not through stop(), with an error naming its exit code or signal. */
  readonly exitedUnexpectedly: Promise<AzuriteExitedError>;
  stop(): Promise<void>;
}

export interface Azurite extends AzuriteService {
  readonly blobServiceUrl: string;
}

export interface AzuriteTables extends AzuriteService {
  readonly tableServiceUrl: string;
}

export interface AzuriteQueues extends AzuriteService {
  readonly queueServiceUrl: string;
}

/** Each service's name, the connection string key of its endpoint, and what its loss means for the stack. */
const SERVICES = {
  blob: {
    name: "the blob service",
    endpoint: "BlobEndpoint",
    loss: "the stack cannot issue tokens for a store that is gone",
  },
  table: {
    name: "the table service",
    endpoint: "TableEndpoint",
    loss: "the issuance limits have lost their counts",
  },
  queue: {
    name: "the queue service",
    endpoint: "QueueEndpoint",
    loss: "stored uploads are no longer checked",
  },
} as const;
type ServiceKind = keyof typeof SERVICES;

export class AzuriteExitedError extends Error {
  override name = "AzuriteExitedError";
  constructor(
    readonly service: ServiceKind,
    readonly code: number | null,
    readonly signal: NodeJS.Signals | null,
  ) {
    super(
      `Azurite (${SERVICES[service].name}) ${signal ? `was killed by ${signal}` : `exited with code ${code}`}: ` +
        `${SERVICES[service].loss}.`,
    );
  }
}

export async function startAzurite(options: BlobServiceOptions): Promise<Azurite> {
  const tls = options.tls
    ? ["--oauth", "basic", "--cert", options.tls.certPath, "--key", options.tls.keyPath]
    : [];
  const { serviceUrl: blobServiceUrl, ...service } = await startService("blob", options, tls);
  return { blobServiceUrl, ...service };
}

/**
 * A connection string for the emulator's account naming the endpoints given: one string may name several
 * services (the check's queue and table, for instance).
 */
export function emulatorConnectionString(endpoints: Partial<Record<ServiceKind, string>>): string {
  const named = Object.entries(endpoints).map(
    ([service, url]) => `${SERVICES[service as ServiceKind].endpoint}=${url}`,
  );
  // The protocol of the endpoints named (https for the keyless blob service), though each endpoint names its own.
  const protocol = Object.values(endpoints).some((url) => url?.startsWith("https:")) ? "https" : "http";
  return [
    `DefaultEndpointsProtocol=${protocol}`,
    `AccountName=${EMULATOR_ACCOUNT}`,
    `AccountKey=${EMULATOR_KEY}`,
    ...named,
  ].join(";");
}

/** One of Azurite's services as its own process; each service keeps separate files in `location`. */
async function startService(
  service: ServiceKind,
  options: AzuriteOptions,
  tlsArguments: string[] = [],
): Promise<AzuriteService & { serviceUrl: string }> {
  const host = options.host ?? "127.0.0.1";
  await assertPortFree(host, options.port, `Azurite ${service} service`, options.portVariable);
  await mkdir(options.location, { recursive: true });
  const main = require.resolve(`azurite/dist/src/${service}/main.js`);
  const child = spawn(
    process.execPath,
    [
      main,
      [`--${service}Host`, host],
      [`--${service}Port`, String(options.port)],
      ["--location", options.location],
      "--silent",
      // Azurite otherwise sends usage data over the network.
      "--disableTelemetry",
      // The SDK speaks a newer service version than this Azurite release knows; the operations used
      // here exist in both.
      "--skipApiVersionCheck",
      tlsArguments,
    ].flat(),
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  await waitUntilListening(child);
  let stopping = false;
  const exitedUnexpectedly = new Promise<AzuriteExitedError>((resolve) => {
    child.once("exit", (code, signal) => {
      if (!stopping) resolve(new AzuriteExitedError(service, code, signal));
    });
  });
  const serviceUrl = `${tlsArguments.length > 0 ? "https" : "http"}://${host}:${options.port}/${EMULATOR_ACCOUNT}`;
  return {
    serviceUrl,
    connectionString: emulatorConnectionString({ [service]: serviceUrl }),
    exitedUnexpectedly,
    stop: () => {
      stopping = true;
      return stopChild(child);
    },
  };
}

function waitUntilListening(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = "";
    const timer = setTimeout(() => {
      child.kill();
      reject(new Error(`Azurite did not start within 30 s: ${output.trim().slice(-500)}`));
    }, 30_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      // The blob and queue services say "successfully listens", the table service "successfully started".
      if (/successfully (listen|started)/.test(output)) {
        clearTimeout(timer);
        child.stdout?.off("data", onData);
        child.stdout?.resume();
        child.stderr?.resume();
        resolve();
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`Azurite exited (code ${code}) before listening: ${output.trim().slice(-500)}`));
    });
  });
}

/** Azurite's table service, where the issuance limits keep their counts on loopback. */
export async function startAzuriteTables(options: AzuriteOptions): Promise<AzuriteTables> {
  const { serviceUrl: tableServiceUrl, ...service } = await startService("table", options);
  return { tableServiceUrl, ...service };
}

/** Azurite's queue service, where the upload events wait for the check (the Event Grid stand-in puts them). */
export async function startAzuriteQueues(options: AzuriteOptions): Promise<AzuriteQueues> {
  const { serviceUrl: queueServiceUrl, ...service } = await startService("queue", options);
  return { queueServiceUrl, ...service };
}
