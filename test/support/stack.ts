// Starts the local stack (real Azurite + the function host) on free ports in a temp folder, for tests.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Environment } from "../../function/appSettings";
import { freePort } from "../../local/ports";
import { type LocalStack, startLocalStack } from "../../local/stack";

export const ALLOWED_ORIGIN = "http://127.0.0.1:4280";

export interface TestStack extends LocalStack {
  readonly logs: string[];
}

export async function startTestStack(appSettings: Environment = {}): Promise<TestStack> {
  const dataDir = await mkdtemp(join(tmpdir(), "valet-azurite-"));
  const logs: string[] = [];
  const stack = await startLocalStack({
    blobPort: await freePort(),
    tablePort: await freePort(),
    functionPort: await freePort(),
    allowedOrigins: [ALLOWED_ORIGIN],
    dataDir,
    appSettings,
    log: (line) => logs.push(line),
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
