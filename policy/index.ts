// The valet policy pack, loaded by `pulumi preview --policy-pack policy` and `pulumi up --policy-pack policy`.
// Constructing the PolicyPack starts the analyzer's server, so the policies live in policies.ts.
import { PolicyPack } from "@pulumi/policy";
import { resourcePolicies, stackPolicies } from "./policies";

new PolicyPack("valet", {
  description: "Azure's platform rules for Flex Consumption and Blob Storage, and valet's security baseline.",
  policies: [...resourcePolicies, ...stackPolicies],
});
