// An optional cost budget on the stack's resource group that e-mails an address when the month's cost
// reaches 80 % of it, or is forecast to pass it: every token and byte is billed to the owner.
// https://learn.microsoft.com/rest/api/consumption/budgets/create-or-update
// Budgets need a subscription offer Cost Management supports (pay-as-you-go, EA, MCA):
// https://learn.microsoft.com/azure/cost-management-billing/costs/tutorial-acm-create-budgets
import * as consumption from "@pulumi/azure-native/consumption";
import type * as pulumi from "@pulumi/pulumi";

export interface BudgetArgs {
  /** The resource group's id: the budget tracks what the stack's resources cost. */
  scope: pulumi.Input<string>;
  /** A month's budget, in the billing account's currency. */
  amount: number;
  alertEmail: string;
  /** The month the budget starts counting; its start must be the first of a month. */
  now?: Date;
}

export function costBudget(name: string, args: BudgetArgs, opts?: pulumi.CustomResourceOptions) {
  const now = args.now ?? new Date();
  // The start date must be the first of a month, and a past one only within the current period: the
  // current month when the budget is made. Later runs would compute a later month, so the start date is
  // left as it was made. https://www.pulumi.com/docs/iac/concepts/options/ignorechanges/
  const startDate = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1)).toISOString();
  const notify = (thresholdType: consumption.ThresholdType, threshold: number) => ({
    enabled: true,
    operator: consumption.OperatorType.GreaterThanOrEqualTo,
    threshold,
    thresholdType,
    contactEmails: [args.alertEmail],
  });
  return new consumption.Budget(
    name,
    {
      scope: args.scope,
      amount: args.amount,
      category: consumption.CategoryType.Cost,
      timeGrain: consumption.TimeGrainType.Monthly,
      timePeriod: { startDate },
      notifications: {
        actual80: notify(consumption.ThresholdType.Actual, 80),
        forecast100: notify(consumption.ThresholdType.Forecasted, 100),
      },
    },
    { ...opts, ignoreChanges: ["timePeriod"] },
  );
}
