// The browser client's boundaries, by path and by source: the demo page reaches the client only through its
// published entry (client/index.ts), and the client uses no Node built-in and renders nothing, so any page or
// uploader framework can call it.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { builtinModules } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, test } from "vitest";

const ROOT = resolve(__dirname, "../..");

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(join(ROOT, path)).isDirectory()) return sources(path);
    return /\.(ts|mts)$/.test(name) && !name.endsWith(".d.ts") ? [path] : [];
  });
}

function specifiers(file: string): string[] {
  const source = readFileSync(join(ROOT, file), "utf8");
  return [...source.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+["']([^"']+)["']/gm)].map(
    (match) => match[1] ?? "",
  );
}

/** A relative specifier as a repository-relative path, without its extension. */
function target(file: string, specifier: string): string {
  return relative(ROOT, join(ROOT, dirname(file), specifier)).replace(/\.(js|ts|mts)$/, "");
}

describe("the browser client's boundaries", () => {
  test("the demo page reaches the client only through client/index.ts", () => {
    const reached = sources("web").flatMap((file) =>
      specifiers(file)
        .filter((specifier) => specifier.startsWith("."))
        .map((specifier) => ({ file, target: target(file, specifier) }))
        .filter((entry) => entry.target.startsWith("client")),
    );
    expect(reached.length).toBeGreaterThan(0);
    expect(reached.filter((entry) => entry.target !== "client" && entry.target !== "client/index")).toEqual(
      [],
    );
  });

  test("the client imports no Node built-in and renders nothing into the DOM", () => {
    const files = sources("client");
    expect(files).toContain("client/index.ts");
    const breaches: string[] = [];
    for (const file of files) {
      for (const specifier of specifiers(file)) {
        if (specifier.startsWith("node:") || builtinModules.includes(specifier)) {
          breaches.push(`${file} → ${specifier}`);
        }
      }
      if (/\bdocument\s*\.|\bcreateElement\b|\binnerHTML\b/.test(readFileSync(join(ROOT, file), "utf8"))) {
        breaches.push(`${file} touches the DOM`);
      }
    }
    expect(breaches).toEqual([]);
  });
});
