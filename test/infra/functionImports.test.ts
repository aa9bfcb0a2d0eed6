// The Pulumi program reads the function's setting parsers and routes without loading its handlers or SDKs.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { expect, test } from "vitest";

const ROOT = resolve(__dirname, "../..");

/** Every module a file imports, followed through relative imports: `./x` paths and package names. */
function importGraph(entries: readonly string[]): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const pending = [...entries];
  for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
    if (files.has(file)) continue;
    files.add(file);
    const source = readFileSync(file, "utf8");
    for (const [, specifier] of source.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+"([^"]+)"/gm)) {
      if (specifier === undefined) continue;
      if (specifier.startsWith(".")) pending.push(`${resolve(dirname(file), specifier)}.ts`);
      else packages.add(specifier);
    }
  }
  return { files, packages };
}

test("what infra/ imports from function/ needs no SDK and no handler", () => {
  const infraFiles = readdirSync(join(ROOT, "infra"))
    .filter((name) => name.endsWith(".ts"))
    .map((name) => join(ROOT, "infra", name));
  const fromFunction = [...importGraph(infraFiles).files].filter((file) =>
    file.startsWith(join(ROOT, "function")),
  );
  expect(fromFunction.length).toBeGreaterThan(0);
  const { files, packages } = importGraph(fromFunction);
  expect([...packages].filter((name) => name.startsWith("@azure/"))).toEqual([]);
  expect([...files].map((file) => file.slice(ROOT.length + 1)).sort()).not.toContain(
    "function/issuing/credentials.ts",
  );
});
