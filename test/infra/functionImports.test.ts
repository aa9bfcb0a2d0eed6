// The folders' import rule, checked by path for every file: infra/, web/, client/, local/ and policy/ read the
// function only through function/contract/ (SDK-free facts), with the few exceptions listed below and why;
// contract/ imports only itself and Node's built-ins; and no folder's relative imports go round in a circle.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { builtinModules } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, test } from "vitest";

const ROOT = resolve(__dirname, "../..");
const CONTRACT = "function/contract/";

/**
 * What a folder outside function/ may import from it besides contract/: importer → imported → why.
 * Each must still be used (the test fails on a stale entry), so the list stays the truth.
 */
const EXCEPTIONS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  "local/functionHost.ts": {
    "function/functions.ts": "the local host invokes the function table, as the Functions host does",
  },
  "local/stack.ts": {
    "function/platform/instance.ts": "the local host starts the instance as function/index.ts does",
  },
  "local/storage.ts": {
    "function/issuing/limiter.ts": "creates the limits table in Azurite with the function's own client",
    "function/checking/outcomes.ts": "creates the outcomes table in Azurite with the function's own client",
  },
  "local/start.ts": {
    "function/signing/accessPolicies.ts":
      "reports a start-up refusal of the stored access policies by its type",
  },
};

/** Files contract/ may import beyond itself: the app root's host.json is data (the queue trigger's figures). */
const CONTRACT_DATA = new Set(["function/host.json"]);

/** Every .ts file under `dir`, repository-relative, without node_modules. */
function sources(dir: string): string[] {
  const found: string[] = [];
  for (const name of readdirSync(join(ROOT, dir))) {
    if (name === "node_modules") continue;
    const path = join(dir, name);
    if (statSync(join(ROOT, path)).isDirectory()) found.push(...sources(path));
    else if (/\.(ts|mts|cts)$/.test(name) && !name.endsWith(".d.ts")) found.push(path);
  }
  return found;
}

/** Every module specifier a file names: static imports and re-exports, dynamic import(), require(). */
function specifiers(file: string): string[] {
  const source = readFileSync(join(ROOT, file), "utf8");
  const patterns = [
    /^\s*(?:import|export)\s[^;]*?from\s+["']([^"']+)["']/gm,
    /^\s*import\s+["']([^"']+)["']/gm,
    /\bimport\(\s*["']([^"']+)["']\s*\)/g,
    /\brequire\(\s*["']([^"']+)["']\s*\)/g,
  ];
  return patterns.flatMap((pattern) => [...source.matchAll(pattern)].map((match) => match[1] ?? ""));
}

/** A relative specifier as a repository-relative file: `x`, `x.ts`, `x.js` written for `x.ts`, or `x/index.ts`. */
function resolveRelative(file: string, specifier: string): string {
  const base = join(dirname(file), specifier);
  const candidates = [base, `${base}.ts`, base.replace(/\.js$/, ".ts"), join(base, "index.ts")];
  const found = candidates.find(
    (path) => existsSync(join(ROOT, path)) && statSync(join(ROOT, path)).isFile(),
  );
  if (found === undefined) throw new Error(`${file} imports ${specifier}, which is not a file`);
  return relative(ROOT, join(ROOT, found));
}

function relativeImports(file: string): string[] {
  return specifiers(file)
    .filter((specifier) => specifier.startsWith("."))
    .map((specifier) => resolveRelative(file, specifier));
}

describe("the folders' import rule", () => {
  const outside = ["infra", "web", "client", "local", "policy"].flatMap(sources);

  test("infra/, web/, client/, local/ and policy/ import from function/ only contract/ and the listed exceptions", () => {
    const breaches: string[] = [];
    const used = new Set<string>();
    let contractImports = 0;
    for (const file of outside) {
      for (const target of relativeImports(file).filter((path) => path.startsWith("function/"))) {
        if (target.startsWith(CONTRACT)) contractImports++;
        else if (EXCEPTIONS[file]?.[target] !== undefined) used.add(`${file} → ${target}`);
        else breaches.push(`${file} → ${target}`);
      }
    }
    expect(contractImports).toBeGreaterThan(0);
    expect(breaches).toEqual([]);
    const listed = Object.entries(EXCEPTIONS).flatMap(([file, targets]) =>
      Object.keys(targets).map((target) => `${file} → ${target}`),
    );
    expect(listed.filter((entry) => !used.has(entry))).toEqual([]);
  });

  test("function/contract/ imports only itself, host.json and Node's built-ins: no SDK, no handler", () => {
    const contract = sources("function/contract");
    expect(contract.length).toBeGreaterThan(0);
    const breaches: string[] = [];
    for (const file of contract) {
      for (const specifier of specifiers(file)) {
        if (specifier.startsWith(".")) {
          const target = resolveRelative(file, specifier);
          if (!target.startsWith(CONTRACT) && !CONTRACT_DATA.has(target))
            breaches.push(`${file} → ${target}`);
        } else if (!specifier.startsWith("node:") && !builtinModules.includes(specifier)) {
          breaches.push(`${file} → ${specifier}`);
        }
      }
    }
    expect(breaches).toEqual([]);
  });

  test.each(["function", "web", "client"])("%s/ has no import circle", (folder) => {
    const graph = new Map(sources(folder).map((file) => [file, relativeImports(file)] as const));
    const circles: string[] = [];
    const done = new Set<string>();
    const visit = (file: string, path: string[]): void => {
      const at = path.indexOf(file);
      if (at >= 0) {
        circles.push([...path.slice(at), file].join(" → "));
        return;
      }
      if (done.has(file)) return;
      for (const next of graph.get(file) ?? []) visit(next, [...path, file]);
      done.add(file);
    };
    expect(graph.size).toBeGreaterThan(1);
    for (const file of graph.keys()) visit(file, []);
    expect(circles).toEqual([]);
  });
});
