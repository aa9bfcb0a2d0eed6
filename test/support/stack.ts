// Starts the local stack (real Azurite + the function host) on free ports in a temp folder, for tests:
// in this process through its API, or as `npm start` runs it, in a child process.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { type Environment, SETTING } from "../../function/contract/appSettings";
import type { UploadCredentialsBody } from "../../function/contract/credentialsProtocol";
import { freePort } from "../../local/ports";
import { type LocalStack, type LocalStackOptions, startLocalStack } from "../../local/stack";
import { trustedCertificate } from "./tls";

export const ALLOWED_ORIGIN = "http://127.0.0.1:4280";

export interface TestStack extends LocalStack {
  readonly logs: string[];
}

/**
 * A per-upload token for `bytes` named `filename`, from the SAS endpoint at `credentialsUrl` (a stack's, or
 * `npm start`'s). Throws, naming the status and body, when the endpoint does not issue one.
 */
export async function credentialsFor(
  credentialsUrl: string,
  bytes: Uint8Array,
  filename = "photo.png",
  contentType = "image/png",
): Promise<UploadCredentialsBody> {
  const query = new URLSearchParams({ filename, contentType, size: String(bytes.length) });
  const response = await fetch(`${credentialsUrl}?${query}`);
  if (response.status !== 200) {
    throw new Error(`the SAS endpoint answered ${response.status}: ${await response.text()}`);
  }
  return (await response.json()) as UploadCredentialsBody;
}

/**
 * `options.web` also serves the page, built into a folder of the stack's own unless one is given. Stored
 * uploads are checked only with `options.checkUploads`: tests of the tokens look at what they uploaded in
 * the inbox, where the check would soon delete it.
 */
export async function startTestStack(
  appSettings: Environment = {},
  options: Pick<
    LocalStackOptions,
    | "web"
    | "signing"
    | "queueBehaviour"
    | "checkUploads"
    | "eventMessageForm"
    | "completionEvents"
    | "malwareScanning"
  > = {},
): Promise<TestStack> {
  const dataDir = await mkdtemp(join(tmpdir(), "valet-azurite-"));
  const logs: string[] = [];
  const stack = await startLocalStack({
    blobPort: await freePort(),
    tablePort: await freePort(),
    queuePort: await freePort(),
    functionPort: await freePort(),
    allowedOrigins: [ALLOWED_ORIGIN],
    dataDir,
    appSettings,
    log: (line) => logs.push(line),
    certificate: options.signing === "identity" ? await trustedCertificate() : undefined,
    ...options,
    checkUploads: options.checkUploads ?? false,
  });
  return {
    ...stack,
    logs,
    stop: async () => {
      await stack.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export interface NpmStart {
  readonly credentialsUrl: string;
  readonly pageUrl: string;
  /** Everything it printed so far, stdout and stderr interleaved. */
  output(): string;
  /** Settles when the process exits. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The process id of one of its Azurite services (Linux: read from /proc). */
  azuritePid(service: "blob" | "table" | "queue"): Promise<number>;
  /** Ctrl-C, then the data folder is removed; resolves with the exit code. */
  stop(): Promise<number | null>;
}

/**
 * Runs local/start.ts from the repository's root on free ports, with `variables` added to its environment,
 * as `npm start` does (`tsx` as a Node import rather than its CLI, so Azurite is a direct child, except
 * keyless, where it runs itself again), and waits until it says it is running.
 */
export async function runNpmStart(variables: NodeJS.ProcessEnv = {}): Promise<NpmStart> {
  const { child, output, exited, dataDir } = await spawnNpmStart(variables);
  const running = await Promise.race([
    exited.then(() => false),
    new Promise<boolean>((done) => {
      const check = () => (output().includes("Press Ctrl-C to stop.") ? done(true) : setTimeout(check, 50));
      check();
    }),
  ]);
  if (!running) throw new Error(`npm start exited before it was running:\n${output()}`);
  const printed = (label: string) => new RegExp(`${label}\\s+(\\S+)`).exec(output())?.[1] ?? "";
  return {
    credentialsUrl: printed("SAS endpoint"),
    pageUrl: printed("upload page"),
    output,
    exited,
    azuritePid: (service) => azuritePid(child, service),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGINT");
      const { code } = await exited;
      await rm(dataDir, { recursive: true, force: true });
      return code;
    },
  };
}

/** Runs local/start.ts as runNpmStart does, for a start that must fail: resolves with its exit code and output. */
export async function runFailingNpmStart(
  variables: NodeJS.ProcessEnv,
): Promise<{ code: number | null; output: string }> {
  const { child, output, exited, dataDir } = await spawnNpmStart(variables);
  // Should it start after all, it is stopped at once (exit code 0), so no test leaves it running.
  const started = setInterval(() => {
    if (output().includes("Press Ctrl-C to stop.")) child.kill("SIGINT");
  }, 50);
  const { code } = await exited.finally(() => clearInterval(started));
  await rm(dataDir, { recursive: true, force: true });
  return { code, output: output() };
}

async function spawnNpmStart(variables: NodeJS.ProcessEnv): Promise<{
  child: ChildProcess;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  dataDir: string;
}> {
  const dataDir = await mkdtemp(join(tmpdir(), "valet-azurite-"));
  const webPort = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    VALET_BLOB_PORT: String(await freePort()),
    VALET_TABLE_PORT: String(await freePort()),
    VALET_QUEUE_PORT: String(await freePort()),
    VALET_FUNCTION_PORT: String(await freePort()),
    VALET_WEB_PORT: String(webPort),
    VALET_ALLOWED_ORIGINS: `http://127.0.0.1:${webPort}`,
    VALET_DATA_DIR: dataDir,
  };
  for (const name of Object.values(SETTING)) delete env[name];
  // This process's own trust is not npm start's: it makes and trusts a certificate of its own.
  delete env.NODE_EXTRA_CA_CERTS;
  Object.assign(env, variables);
  const child = spawn(process.execPath, ["--import", "tsx", "local/start.ts"], {
    cwd: resolve(__dirname, "../.."),
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
    child.once("exit", (code, signal) => done({ code, signal })),
  );
  return { child, output: () => output, exited, dataDir };
}

async function azuritePid(parent: ChildProcess, service: "blob" | "table" | "queue"): Promise<number> {
  const tasks = await readdir(`/proc/${parent.pid}/task`);
  for (const task of tasks) {
    const children = (await readFile(`/proc/${parent.pid}/task/${task}/children`, "utf8")).trim();
    for (const pid of children.split(/\s+/).filter(Boolean)) {
      const commandLine = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
      if (commandLine.includes(`azurite/dist/src/${service}/main.js`)) return Number(pid);
    }
  }
  throw new Error(`npm start has no Azurite ${service} service child process`);
}
