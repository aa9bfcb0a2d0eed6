// `npm run build`: builds the function's deployment package into dist/ (or the folder given) and says
// what it wrote, so the package the Pulumi program publishes can be inspected before a deploy.
import { readdirSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { buildFunctionPackage } from "../infra/package";

const outDir = resolve(process.argv[2] ?? "dist");
const started = performance.now();
const built = buildFunctionPackage(outDir);
const elapsed = Math.round(performance.now() - started);

const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
console.log(`Function package built in ${elapsed} ms`);
for (const name of readdirSync(built.bundleDir).sort()) {
  const file = join(built.bundleDir, name);
  console.log(`  ${relative(process.cwd(), file).padEnd(32)} ${kib(statSync(file).size).padStart(12)}`);
}
console.log(`  ${relative(process.cwd(), built.zipPath).padEnd(32)} ${kib(built.zip.length).padStart(12)}`);
console.log(`  sha256 ${built.sha256}`);
