// Where the function's logs and requests go: a Log Analytics workspace and a workspace-based
// Application Insights component (classic components can no longer be created).
// https://learn.microsoft.com/azure/azure-monitor/app/convert-classic-resource
import * as insights from "@pulumi/azure-native/applicationinsights";
import * as operationalinsights from "@pulumi/azure-native/operationalinsights";
import * as pulumi from "@pulumi/pulumi";

export interface MonitoringArgs {
  resourceGroupName: pulumi.Input<string>;
  location: pulumi.Input<string>;
  retentionDays: number;
}

export class Monitoring extends pulumi.ComponentResource {
  /** For APPLICATIONINSIGHTS_CONNECTION_STRING. */
  readonly connectionString: pulumi.Output<string>;

  constructor(name: string, args: MonitoringArgs, opts?: pulumi.ComponentResourceOptions) {
    super("valet:monitoring:Monitoring", name, {}, opts);

    const workspace = new operationalinsights.Workspace(
      name,
      {
        resourceGroupName: args.resourceGroupName,
        location: args.location,
        sku: { name: operationalinsights.WorkspaceSkuNameEnum.PerGB2018 },
        retentionInDays: args.retentionDays,
      },
      { parent: this },
    );

    const component = new insights.Component(
      name,
      {
        resourceGroupName: args.resourceGroupName,
        location: args.location,
        kind: "web",
        applicationType: insights.ApplicationType.Web,
        ingestionMode: insights.IngestionMode.LogAnalytics,
        workspaceResourceId: workspace.id,
      },
      { parent: this },
    );

    this.connectionString = component.connectionString;
    this.registerOutputs({ connectionString: this.connectionString });
  }
}
