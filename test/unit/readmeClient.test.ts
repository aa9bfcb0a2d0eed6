// The README's browser client and Uppy snippets are the very files the browser tests bundle and run
// (test/e2e/ownPage.test.ts), so a snippet that drifts from what works fails here.
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, test } from "vitest";
import { EXAMPLE_API_URL, README_SNIPPETS } from "../support/ownPage";

const ROOT = resolve(__dirname, "../..");
const README = readFileSync(join(ROOT, "README.md"), "utf8");

/** The code blocks of the README's `### <heading>` subsection, up to the next heading. */
function codeBlocksUnder(heading: string): string[] {
  const start = README.indexOf(`\n### ${heading}\n`);
  if (start < 0) return [];
  const rest = README.slice(start + heading.length + 6);
  const end = rest.search(/\n#{2,3} /);
  const section = end < 0 ? rest : rest.slice(0, end);
  return [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1] ?? "");
}

const exportsOf = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).exports as Record<
  string,
  unknown
>;

describe.each([
  { heading: "Browser client", file: README_SNIPPETS.client, entry: "valet/client" },
  { heading: "Uppy", file: README_SNIPPETS.uppy, entry: "valet/uppy" },
])("the README's $heading snippet", ({ heading, file, entry }) => {
  test("sits under Use valet in your own stack", () => {
    const own = README.indexOf("\n## Use valet in your own stack\n");
    const sub = README.indexOf(`\n### ${heading}\n`);
    expect(own).toBeGreaterThan(0);
    expect(sub).toBeGreaterThan(own);
    expect(README.slice(own + 1, sub)).not.toMatch(/\n## /);
  });

  test("is, character for character, the file the browser test runs", () => {
    expect(codeBlocksUnder(heading)).toEqual([readFileSync(file, "utf8")]);
  });

  test("imports the package entry package.json exports, and names the one endpoint a reader replaces", () => {
    const source = readFileSync(file, "utf8");
    expect(source).toContain(`from "${entry}"`);
    expect(Object.keys(exportsOf)).toContain(`./${entry.split("/")[1]}`);
    expect(source.split(EXAMPLE_API_URL)).toHaveLength(2);
  });
});
