// Starts policy/ the way `pulumi preview --policy-pack policy` does (the analyzer plugin runs
// @pulumi/pulumi/cmd/run-policy-pack with node in the pack's folder, which compiles index.ts with ts-node and
// the root's typescript) and asks the running analyzer for its policies over gRPC: if this passes, the CLI
// can load the pack from the repository's own node_modules.
import { type ChildProcess, spawn } from "node:child_process";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { AnalyzerClient } from "@pulumi/pulumi/proto/analyzer_grpc_pb";
import type { AnalyzerInfo } from "@pulumi/pulumi/proto/analyzer_pb";
import { Empty } from "google-protobuf/google/protobuf/empty_pb";
import { afterAll, describe, expect, test } from "vitest";
import { resourcePolicies, stackPolicies } from "../../policy/policies";

const PACK = path.resolve(__dirname, "../../policy");
let analyzer: ChildProcess | undefined;

afterAll(() => {
  analyzer?.kill();
});

/** Runs the pack as the CLI's pulumi-analyzer-policy script does and resolves with the port it serves on. */
function startPack(): Promise<number> {
  const runner = require.resolve("@pulumi/pulumi/cmd/run-policy-pack", { paths: [PACK] });
  // The engine's address is only used once the engine calls back; the pack's folder is the program.
  analyzer = spawn(process.execPath, [runner, "127.0.0.1:1", "."], {
    cwd: PACK,
    stdio: ["ignore", "pipe", "pipe"],
  });
  return new Promise((resolve, reject) => {
    let stderr = "";
    analyzer?.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    analyzer?.stdout?.on("data", (chunk: Buffer) => {
      const port = Number.parseInt(chunk.toString().trim(), 10);
      if (Number.isInteger(port)) resolve(port);
    });
    analyzer?.on("exit", (code) => reject(new Error(`the pack exited with ${code}: ${stderr}`)));
  });
}

describe("the policy pack as the Pulumi CLI loads it", () => {
  test("compiles, serves, and lists every policy with its enforcement level", {
    timeout: 120_000,
  }, async () => {
    const port = await startPack();
    const client = new AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const info = await new Promise<AnalyzerInfo>((resolve, reject) =>
      client.getAnalyzerInfo(new Empty(), (error, response) => (error ? reject(error) : resolve(response))),
    );
    client.close();
    expect(info.getName()).toBe("valet");
    const listed = info.getPoliciesList().map((entry) => entry.getName());
    expect(listed).toEqual([...resourcePolicies, ...stackPolicies].map((entry) => entry.name));
  });
});
