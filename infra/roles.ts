// Role assignments for the stack's managed identities: built-in roles (infra/platformRules.ts ROLE), each
// granted to one service principal on the narrowest scope Azure allows for it.
import * as authorization from "@pulumi/azure-native/authorization";
import * as pulumi from "@pulumi/pulumi";
import type { ROLE } from "./platformRules";

export type RoleId = (typeof ROLE)[keyof typeof ROLE];

export interface Grant {
  /** The resource the role applies to: an account, a container, a queue, a table. */
  scope: pulumi.Input<string>;
  /** A managed identity's principal. */
  principalId: pulumi.Input<string>;
  role: RoleId;
}

/**
 * A function that assigns roles to service principals, as children of `parent`. Built-in role definitions
 * have the same id in every subscription but are named by a subscription-scoped resource id.
 * https://learn.microsoft.com/azure/role-based-access-control/built-in-roles
 */
export function roleGranter(
  parent: pulumi.Resource,
): (name: string, grant: Grant, opts?: pulumi.CustomResourceOptions) => authorization.RoleAssignment {
  const client = authorization.getClientConfigOutput({ parent });
  return (name, grant, opts) =>
    new authorization.RoleAssignment(
      name,
      {
        scope: grant.scope,
        principalId: grant.principalId,
        // Set, so that Azure need not look the principal up: a new identity may not have replicated yet.
        // https://learn.microsoft.com/azure/role-based-access-control/role-assignments-template#new-service-principal
        principalType: authorization.PrincipalType.ServicePrincipal,
        roleDefinitionId: pulumi.interpolate`/subscriptions/${client.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${grant.role}`,
      },
      { parent, ...opts },
    );
}

/** A managed identity's principal id, or a RunError naming the resource when Azure reported none. */
export function principalOf(
  identity: pulumi.Output<{ principalId?: string } | undefined>,
  owner: string,
): pulumi.Output<string> {
  return identity.apply((value) => {
    if (!value?.principalId) {
      throw new pulumi.RunError(`${owner} has no system-assigned identity to grant storage access to.`);
    }
    return value.principalId;
  });
}
