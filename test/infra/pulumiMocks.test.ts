// The shared Pulumi mocks: an invoke nobody provided fails the run instead of answering with nothing, and each
// record carries the resource's place in the graph.
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, test } from "vitest";
import { installMocks } from "../support/pulumiMocks.cjs";

class Thing extends pulumi.CustomResource {}

describe("the shared Pulumi mocks", () => {
  test("an invoke the mocks were not given fails loudly, naming it", async () => {
    await installMocks(pulumi, { project: "valet", stack: "test", invokes: {} });
    await expect(
      pulumi.runtime.invoke("azure-native:storage:listStorageAccountKeys", { accountName: "acct" }),
    ).rejects.toThrow(
      "The code invoked azure-native:storage:listStorageAccountKeys, which the mocks do not provide.",
    );
  });

  test("a registered resource is recorded with its URN, parent and dependencies", async () => {
    const record = await installMocks(pulumi, { project: "valet", stack: "test" });
    const parent = new pulumi.ComponentResource("valet:test:Parent", "parent");
    const first = new Thing("test:index:Thing", "first", { size: 1 }, { parent });
    const second = new Thing("test:index:Other", "second", { ref: first.urn }, { parent });
    await new Promise((resolve) => second.urn.apply(resolve));
    await pulumi.runtime.disconnect();
    const recorded = record.resources.find((resource) => resource.name === "second");
    const firstUrn = record.resources.find((resource) => resource.name === "first")?.urn;
    expect(recorded?.urn).toBe("urn:pulumi:test::valet::valet:test:Parent$test:index:Other::second");
    expect(recorded?.parent).toMatch(/valet:test:Parent::parent$/);
    expect(recorded?.propertyDependencies?.ref).toEqual([firstUrn]);
    expect(recorded?.dependencies).toContain(firstUrn);
  });
});
