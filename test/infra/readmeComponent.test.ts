// The README's component snippet is the program examples/existing-group runs (test/infra/example.test.ts
// previews it from the packed package): a reader copies code that is tested.
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { expect, test } from "vitest";

const ROOT = path.resolve(__dirname, "../..");

/** The first ```ts block under the README's "### The Pulumi component", up to the next heading. */
function componentSnippet(readme: string): string | undefined {
  const start = readme.indexOf("\n### The Pulumi component\n");
  if (start < 0) return undefined;
  const next = readme.slice(start + 1).search(/\n#{1,3} /);
  const section = next < 0 ? readme.slice(start) : readme.slice(start, start + 1 + next);
  return /\n```ts\n([\s\S]*?)```\n/.exec(section)?.[1];
}

test("the README's component snippet is examples/existing-group/index.ts, byte for byte", () => {
  const readme = readFileSync(path.join(ROOT, "README.md"), "utf8");
  const example = readFileSync(path.join(ROOT, "examples", "existing-group", "index.ts"), "utf8");
  expect(componentSnippet(readme)).toBe(example);
});
