// The README and docs/ point at what exists: every relative link reaches a file and, with a fragment, one
// of its headings, and every repository file the prose names in backticks is there.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, test } from "vitest";
import { ROLE } from "../../infra/platformRules";

const ROOT = path.resolve(__dirname, "../..");
/** Files the docs tell a person to create, which the repository deliberately does not hold (git-ignored). */
const CREATED_BY_USERS = new Set(["function/local.settings.json"]);

const PAGES = [
  "README.md",
  ...readdirSync(path.join(ROOT, "docs"))
    .filter((file) => file.endsWith(".md"))
    .map((file) => `docs/${file}`),
];

/** GitHub's anchor for a heading: lowercase, punctuation other than hyphens dropped, spaces as hyphens. */
function anchorOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{Letter}\p{Number}\s_-]/gu, "")
    .replace(/\s/g, "-");
}

function anchorsOf(file: string): Set<string> {
  const text = readFileSync(path.join(ROOT, file), "utf8").replace(/```[\s\S]*?```/g, "");
  return new Set([...text.matchAll(/^#{1,6}\s+(.+)$/gm)].map((match) => anchorOf(match[1] ?? "")));
}

/** Markdown link targets outside code blocks, without external addresses. */
function relativeLinks(text: string): string[] {
  const prose = text.replace(/```[\s\S]*?```/g, "");
  return [...prose.matchAll(/\]\(([^)\s]+)\)/g)]
    .map((match) => match[1] ?? "")
    .filter((target) => !/^[a-z]+:/i.test(target));
}

describe.each(PAGES)("%s", (page) => {
  const text = readFileSync(path.join(ROOT, page), "utf8");

  test("links to files and headings that exist", () => {
    const broken: string[] = [];
    for (const target of relativeLinks(text)) {
      const [file = "", fragment] = target.split("#");
      const resolved =
        file === "" ? page : path.posix.normalize(path.posix.join(path.posix.dirname(page), file));
      if (!existsSync(path.join(ROOT, resolved))) broken.push(`${target} (no file ${resolved})`);
      else if (fragment && resolved.endsWith(".md") && !anchorsOf(resolved).has(fragment))
        broken.push(`${target} (no heading #${fragment} in ${resolved})`);
    }
    expect(broken).toEqual([]);
  });

  test("names only repository files that exist", () => {
    const named = [
      ...text.matchAll(
        /`((?:function|infra|web|local|bench|test|policy|docs|\.ci|\.github)\/[\w./-]*\.(?:ts|cjs|cts|md|json|yml|yaml))`/g,
      ),
    ].map((match) => match[1] ?? "");
    const missing = named.filter((file) => !CREATED_BY_USERS.has(file) && !existsSync(path.join(ROOT, file)));
    expect(missing).toEqual([]);
  });
});

test("the docs name repository files, so the check above has something to check", () => {
  const pattern = /`(?:function|infra|web|local)\/[\w./-]+\.ts`/;
  expect(
    PAGES.filter((page) => pattern.test(readFileSync(path.join(ROOT, page), "utf8"))).length,
  ).toBeGreaterThan(3);
});

test("the anchor rule follows GitHub's for headings with code and punctuation", () => {
  expect(anchorOf("Identities and permissions, step by step")).toBe(
    "identities-and-permissions-step-by-step",
  );
  expect(anchorOf("Running `pulumi up` by hand")).toBe("running-pulumi-up-by-hand");
  expect(anchorOf("1. Names")).toBe("1-names");
});

test("the deploy identity's role-assignment condition lists exactly the roles the stack assigns", () => {
  const text = readFileSync(path.join(ROOT, "docs/deploying.md"), "utf8");
  const listed = /^ROLES="([^"]*)"$/m.exec(text)?.[1]?.split(/,\s*/);
  expect(listed?.sort()).toEqual(Object.values(ROLE).sort());
});
