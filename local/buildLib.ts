// `npm run build:lib` (run by `npm pack` through prepack): builds what the installed package is made of,
// into lib/ (git-ignored): the ValetUploads component compiled to CommonJS with its declarations (Pulumi's
// Node host loads a package's JavaScript and does not compile TypeScript inside node_modules), and in
// lib/artifacts/ the function's bundle and the upload page, which a checkout builds from its sources on
// every run and the package, having no sources, carries built.
// https://www.pulumi.com/docs/iac/languages-sdks/javascript/#typescript
// https://docs.npmjs.com/cli/v11/using-npm/scripts#life-cycle-scripts (prepack)
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { BUNDLE_FILE, bundleFunction } from "../infra/package";
import { PACKAGE_ROOT, PREBUILT_DIR } from "../infra/packageRoot";
import { buildWebPage } from "../web/build";

const LIB = path.join(PACKAGE_ROOT, "lib");
rmSync(LIB, { recursive: true, force: true });
execFileSync(process.execPath, [require.resolve("typescript/bin/tsc"), "-p", "tsconfig.lib.json"], {
  cwd: PACKAGE_ROOT,
  stdio: "inherit",
});

const functionDir = path.join(PREBUILT_DIR, "function");
mkdirSync(functionDir, { recursive: true });
writeFileSync(path.join(functionDir, BUNDLE_FILE), bundleFunction(path.join(PACKAGE_ROOT, "function")));
copyFileSync(path.join(PACKAGE_ROOT, "function", "host.json"), path.join(functionDir, "host.json"));
const pageFiles = buildWebPage(path.join(PREBUILT_DIR, "web"));
console.log(
  `Built ${path.relative(process.cwd(), LIB)}: the component, the function's bundle, the page (${pageFiles.join(", ")})`,
);
