// An existing stack keeps every resource when the program becomes a user of the ValetUploads component:
// test/fixtures/urns-before.json lists the URNs the program registered before there was a component, and
// each must be the URN, or an alias the engine resolves, of exactly one resource the program registers now.
// The engine resolves aliases as written, and gives a child each alias of its parent with the child's own
// name and type, so a preview sees no delete and no create but the component itself.
// https://www.pulumi.com/docs/iac/concepts/resources/options/aliases/
// https://www.pulumi.com/docs/iac/operations/stack-management/refactoring-with-aliases/
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, test } from "vitest";
import { PROJECT, type RecordedResource, runProgram, STACK } from "./harness";

const BEFORE = JSON.parse(
  readFileSync(path.join(__dirname, "..", "fixtures", "urns-before.json"), "utf8"),
) as Record<string, string[]>;

const SECRET = Buffer.alloc(32, 7).toString("base64");
/** The configurations the URNs were recorded with: each optional part of the stack at least once. */
const CONFIGS: Record<string, [Record<string, string>, string[]]> = {
  default: [{ allowedOrigins: "https://photos.example.com" }, []],
  keyless: [
    { signing: "identity", allowedOrigins: "https://photos.example.com", keyDerivationSecret: SECRET },
    ["keyDerivationSecret"],
  ],
  budget: [{ budgetAlertEmail: "ops@example.com", deployUploadPage: "false" }, []],
};

/** A URN as the engine makes it: the parent's type chain before the type, except for the stack's. */
function urnOf(name: string, type: string, parentUrn: string | undefined): string {
  const chain = parentUrn?.split("::")[2];
  const qualified = chain === undefined || chain === "pulumi:pulumi:Stack" ? type : `${chain}$${type}`;
  return `urn:pulumi:${STACK}::${PROJECT}::${qualified}::${name}`;
}

/**
 * The URN the engine gives each resource: its parent's whole type chain before its type. (The mock monitor
 * keeps only the parent's last type, which is right for a program two levels deep and wrong below.)
 */
function engineUrns(resources: RecordedResource[]): Map<RecordedResource, string> {
  const byMockUrn = new Map(resources.map((resource) => [resource.urn, resource]));
  const urns = new Map<RecordedResource, string>();
  const of = (resource: RecordedResource): string => {
    const known = urns.get(resource);
    if (known) return known;
    const parent = resource.parent ? byMockUrn.get(resource.parent) : undefined;
    const urn = urnOf(resource.name, resource.type, parent ? of(parent) : undefined);
    urns.set(resource, urn);
    return urn;
  };
  for (const resource of resources) of(resource);
  return urns;
}

/** Every URN each resource answers to: its own, its aliases, and its parent's with its own name and type. */
function answeredUrns(resources: RecordedResource[]): Map<RecordedResource, Set<string>> {
  const byMockUrn = new Map(resources.map((resource) => [resource.urn, resource]));
  const own = engineUrns(resources);
  const answered = new Map<RecordedResource, Set<string>>();
  const of = (resource: RecordedResource): Set<string> => {
    const known = answered.get(resource);
    if (known) return known;
    const parent = resource.parent ? byMockUrn.get(resource.parent) : undefined;
    const parentUrn = parent ? own.get(parent) : undefined;
    const urns = new Set([own.get(resource) as string]);
    for (const spec of resource.aliasSpecs ?? []) {
      // An alias's parent is the stack (no parent) or a resource; left out, the resource's own.
      const aliasParent = spec.noParent
        ? undefined
        : spec.parentUrn
          ? (own.get(byMockUrn.get(spec.parentUrn) as RecordedResource) ?? spec.parentUrn)
          : parentUrn;
      urns.add(urnOf(spec.name || resource.name, spec.type || resource.type, aliasParent));
    }
    for (const parentAlias of parent ? of(parent) : []) {
      urns.add(urnOf(resource.name, resource.type, parentAlias));
    }
    answered.set(resource, urns);
    return urns;
  };
  for (const resource of resources) of(resource);
  return answered;
}

describe("the program's URNs from before the component", () => {
  test.each(Object.keys(CONFIGS))(
    "%s: every former URN is one resource's, and what is new is new to the program",
    async (name) => {
      const [config, secretKeys] = CONFIGS[name] as [Record<string, string>, string[]];
      const before = BEFORE[name] as string[];
      const run = await runProgram(config, { secretKeys });
      const answered = answeredUrns(run.resources);
      for (const urn of before) {
        const owners = run.resources.filter((resource) => answered.get(resource)?.has(urn));
        expect(
          owners.map((resource) => resource.urn),
          urn,
        ).toHaveLength(1);
      }
      // The rest are creations: the component, and any resource a later feature adds (a resource of a former
      // type and name among them would be one that lost its URN).
      const own = engineUrns(run.resources);
      const added = run.resources
        .filter((resource) => ![...(answered.get(resource) ?? [])].some((urn) => before.includes(urn)))
        .map((resource) => own.get(resource) as string);
      expect(added).toContain(`urn:pulumi:${STACK}::${PROJECT}::valet:index:Uploads::${PROJECT}`);
      const typeAndName = (urn: string) => `${urn.split("::")[2]?.split("$").pop()}::${urn.split("::")[3]}`;
      const former = new Set(before.map(typeAndName));
      expect(added.filter((urn) => former.has(typeAndName(urn)))).toEqual([]);
    },
  );

  test("the children of the component are registered under it, not at the stack", async () => {
    const run = await runProgram(CONFIGS.default?.[0]);
    const component = run.resources.find((resource) => resource.type === "valet:index:Uploads");
    const account = run.resources.find(
      (resource) => resource.name === "uploads" && resource.type.endsWith("StorageAccount"),
    );
    expect(engineUrns(run.resources).get(account as RecordedResource)).toBe(
      `urn:pulumi:${STACK}::${PROJECT}::valet:index:Uploads$valet:storage:UploadsStorage$azure-native:storage:StorageAccount::uploads`,
    );
    expect(
      run.resources
        .filter((resource) => resource.parent === component?.urn)
        .map((r) => r.name)
        .sort(),
    ).toEqual([
      "completions",
      "credentials",
      "credentials",
      "malware-scanning",
      "monitoring",
      "upload-page",
      "uploads",
      "uploads-created",
    ]);
  });
});
