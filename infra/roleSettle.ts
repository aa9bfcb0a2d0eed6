// A bounded wait for new role assignments to take effect, for a resource whose creation checks the access at
// once (an Event Grid subscription validates that its topic's identity can deliver). Azure documents up to
// ten minutes for a new assignment to apply; the wait ends that long after the newest assignment was
// created, so a stack whose assignments are older (every `pulumi up` after the first) does not wait at all.
// https://learn.microsoft.com/azure/role-based-access-control/troubleshooting#symptom---role-assignment-changes-are-not-being-detected
// https://learn.microsoft.com/azure/event-grid/managed-service-identity
//
// A dynamic resource: Pulumi serializes the provider's functions into their own process, so they use only
// globals and values (see infra/deploy/oneDeploy.ts).
import * as pulumi from "@pulumi/pulumi";

/** The documented bound on a new role assignment taking effect. */
export const ROLE_PROPAGATION_MINUTES = 10;

export interface RoleSettleInputs {
  /** When each assignment was created (ARM's `createdOn`, ISO 8601). */
  assignedAt: string[];
  /** How long after the newest assignment the roles are taken to be effective. */
  settleMinutes: number;
}

/** How long to wait from `now` (ms since the epoch): until `settleMinutes` after the newest assignment. */
export function settleWaitMs(inputs: RoleSettleInputs, now: number): number {
  const times = inputs.assignedAt.map((value) => Date.parse(value)).filter((value) => Number.isFinite(value));
  // An assignment whose time is not reported is taken as just made.
  const newest = times.length === inputs.assignedAt.length && times.length > 0 ? Math.max(...times) : now;
  return Math.max(0, Math.min(newest + inputs.settleMinutes * 60_000 - now, inputs.settleMinutes * 60_000));
}

export const roleSettleProvider: pulumi.dynamic.ResourceProvider = {
  async create(inputs: RoleSettleInputs) {
    const wait = settleWaitMs(inputs, Date.now());
    await new Promise((resolve) => setTimeout(resolve, wait));
    return { id: `settled-${Date.now()}`, outs: { ...inputs, waitedMs: wait } };
  },
  async diff(_id: string, olds: RoleSettleInputs, news: RoleSettleInputs) {
    // New assignments (a new createdOn) are waited for again; the same ones never are.
    const changes = JSON.stringify(olds.assignedAt) !== JSON.stringify(news.assignedAt);
    return { changes, replaces: changes ? ["assignedAt"] : [], deleteBeforeReplace: false };
  },
  async delete() {},
};

/** Created once `assignments` have had time to take effect; depend on it to be created after that. */
export class RoleSettle extends pulumi.dynamic.Resource {
  declare readonly waitedMs: pulumi.Output<number>;

  constructor(
    name: string,
    assignments: readonly { createdOn: pulumi.Output<string> }[],
    opts?: pulumi.CustomResourceOptions,
  ) {
    super(
      roleSettleProvider,
      name,
      {
        assignedAt: pulumi.all(assignments.map((assignment) => assignment.createdOn)),
        settleMinutes: ROLE_PROPAGATION_MINUTES,
        waitedMs: undefined,
      },
      opts,
      "valet",
      "RoleSettle",
    );
  }
}
