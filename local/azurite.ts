// Runs Azurite's blob service (and its table service) as child processes on loopback: Microsoft's storage
// emulator, which enforces SAS signatures, permissions, expiry and CORS the way Blob Storage does.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { stopChild } from "./lifecycle";
import { assertPortFree } from "./ports";

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

export interface Azurite {
  readonly blobServiceUrl: string;
  readonly connectionString: string;
  stop(): Promise<void>;
}

export async function startAzurite(options: AzuriteOptions): Promise<Azurite> {
  const { child, serviceUrl: blobServiceUrl } = await startService("blob", options);
  return {
    blobServiceUrl,
    connectionString:
      `DefaultEndpointsProtocol=http;AccountName=${EMULATOR_ACCOUNT};AccountKey=${EMULATOR_KEY};` +
      `BlobEndpoint=${blobServiceUrl}`,
    stop: () => stopChild(child),
  };
}

/** One of Azurite's services as its own process; the blob and table services keep separate files in `location`. */
async function startService(
  service: "blob" | "table",
  options: AzuriteOptions,
): Promise<{ child: ChildProcess; serviceUrl: string }> {
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
    ].flat(),
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  await waitUntilListening(child);
  return { child, serviceUrl: `http://${host}:${options.port}/${EMULATOR_ACCOUNT}` };
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
      // The blob service says "successfully listens", the table service "successfully started".
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

export interface AzuriteTables {
  readonly tableServiceUrl: string;
  readonly connectionString: string;
  stop(): Promise<void>;
}

/** Azurite's table service, where the issuance limits keep their counts on loopback. */
export async function startAzuriteTables(options: AzuriteOptions): Promise<AzuriteTables> {
  const { child, serviceUrl: tableServiceUrl } = await startService("table", options);
  return {
    tableServiceUrl,
    connectionString:
      `DefaultEndpointsProtocol=http;AccountName=${EMULATOR_ACCOUNT};AccountKey=${EMULATOR_KEY};` +
      `TableEndpoint=${tableServiceUrl}`,
    stop: () => stopChild(child),
  };
}
