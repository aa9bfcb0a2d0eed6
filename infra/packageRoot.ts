// Where valet's own files are, found from this module's location rather than from the working directory or
// a repository layout: the repository in a checkout (infra/packageRoot.ts), node_modules/valet once the
// package is installed (lib/infra/packageRoot.js).
import { existsSync } from "node:fs";
import * as path from "node:path";

/** The folder holding valet's package.json. */
export const PACKAGE_ROOT = findPackageRoot(__dirname);

/** What `npm run build:lib` builds into the package beside the compiled code: the function's bundle, the page. */
export const PREBUILT_DIR = path.join(PACKAGE_ROOT, "lib", "artifacts");

function findPackageRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, "package.json"))) return dir;
    if (path.dirname(dir) === dir)
      throw new Error(`No package.json above ${from}: valet's files are missing.`);
  }
}
