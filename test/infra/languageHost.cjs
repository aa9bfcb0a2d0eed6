// Loads the Pulumi program the way `pulumi preview`/`up` does, under mocks instead of an engine: the
// entry point from Pulumi.yaml, the stack's config from Pulumi.<stack>.yaml (passed as PULUMI_CONFIG, like
// the CLI), and @pulumi/pulumi's own program runner (cmd/run), which registers the ts-node vendored in
// @pulumi/pulumi with the project's typescript and tsconfig.json; the mocks are test/support/pulumiMocks.cjs.
// Prints one JSON line: what was registered (types, and each resource's inputs), the invokes and the stack's
// output names, or the error the program failed with. The project is the working directory, whose own
// @pulumi/pulumi runs it, as the language host runs the project's.
// Usage: node test/infra/languageHost.cjs <stack> [key=value...]   (run from the project's folder)
const { existsSync, readFileSync } = require("node:fs");
const yaml = require("js-yaml");
const { azureInvokes, installMocks } = require("../support/pulumiMocks.cjs");

async function main() {
  const [stack = "dev", ...overrides] = process.argv.slice(2);
  const project = yaml.load(readFileSync("Pulumi.yaml", "utf8"));
  const stackPath = `Pulumi.${stack}.yaml`;
  const stackFile = existsSync(stackPath) ? (yaml.load(readFileSync(stackPath, "utf8")) ?? {}) : {};
  const config = {};
  for (const [key, value] of Object.entries(stackFile.config ?? {})) {
    config[key] = typeof value === "string" ? value : JSON.stringify(value);
  }
  for (const pair of overrides) {
    const at = pair.indexOf("=");
    config[`${project.name}:${pair.slice(0, at)}`] = pair.slice(at + 1);
  }
  // What the Node language host passes to cmd/run through the environment.
  process.env.PULUMI_CONFIG = JSON.stringify(config);
  process.env.PULUMI_NODEJS_TYPESCRIPT = String(project.runtime?.options?.typescript ?? true);

  const fromProject = (request) => require.resolve(request, { paths: [process.cwd()] });
  const pulumi = require(fromProject("@pulumi/pulumi"));
  const record = await installMocks(pulumi, {
    project: project.name,
    stack,
    preview: true,
    invokes: azureInvokes({ accountKey: Buffer.alloc(64, 1).toString("base64") }),
  });
  registered = record.resources;
  invokes = record.invokes;
  // Capture the stack's outputs as the engine would receive them.
  const monitor = pulumi.runtime.getMonitor();
  const registerResourceOutputs = monitor.registerResourceOutputs.bind(monitor);
  monitor.registerResourceOutputs = (request, callback) => {
    if (request.getUrn().includes("::pulumi:pulumi:Stack::")) {
      result.outputs = Object.keys(request.getOutputs()?.toJavaScript() ?? {});
    }
    return registerResourceOutputs(request, callback);
  };
  // The engine's end-of-run handshake, which the mock monitor does not implement.
  monitor.signalAndWaitForShutdown = (_request, callback) => callback(null, {});

  // The command line the Node language host runs: cmd/run with the engine's addresses and the entry point.
  process.argv = [
    process.argv[0],
    fromProject("@pulumi/pulumi/cmd/run"),
    "--monitor=mock",
    `--project=${project.name}`,
    `--stack=${stack}`,
    "--dry-run",
    project.main ?? ".",
  ];
  require(fromProject("@pulumi/pulumi/cmd/run"));
  // After cmd/run's own exit handler, which turns a logged program error into a non-zero exit code.
  process.on("exit", () => {
    result.registered = registered.map((resource) => resource.type);
    // Without a dynamic provider's serialized code (`__provider`), which is long and says nothing here.
    result.resources = registered.map(({ type, name, inputs }) => ({
      type,
      name,
      inputs: Object.fromEntries(Object.entries(inputs).filter(([key]) => !key.startsWith("__"))),
    }));
    result.invokes = invokes.map((invoke) => invoke.token);
    process.stdout.write(`${JSON.stringify(result)}\n`);
  });
}

const result = { registered: [], outputs: [] };
let registered = [];
let invokes = [];

main().catch((error) => {
  process.stderr.write(`could not start the program: ${error?.message}\n`);
  process.exitCode = 2;
});
