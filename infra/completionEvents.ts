// The completion events' topic: an Event Grid custom topic taking CloudEvents 1.0, which the function
// publishes one event per verdict to with its managed identity (EventGrid Data Sender on this topic alone;
// the topic takes no access keys), and the subscriptions the stack's config asks for: a webhook
// (`valet:eventsWebhookUrl`) and/or a Storage queue on the runtime account (`valet:eventsStorageQueue`), each
// retried by Event Grid and dead-lettered to a container rather than dropped. docs/events.md is the contract.
// https://learn.microsoft.com/azure/event-grid/custom-topics
// https://learn.microsoft.com/azure/event-grid/cloud-event-schema
import * as eventgrid from "@pulumi/azure-native/eventgrid";
import * as storage from "@pulumi/azure-native/storage";
import * as pulumi from "@pulumi/pulumi";
import { EVENTS_SETTING } from "../function/contract/completionEvents";
import type { CompletionEventsConfig } from "./config";
import { DELIVERY_RETRY, deadLetters } from "./events";
import { ROLE } from "./platformRules";
import { RoleSettle } from "./roleSettle";
import { principalOf, roleGranter } from "./roles";

/** The queue on the runtime account that `valet:eventsStorageQueue` delivers completion events to. */
export const COMPLETIONS_QUEUE = "upload-completions";
/** Completion events Event Grid could not deliver, kept as blobs on the runtime account. */
export const COMPLETIONS_DEAD_LETTER_CONTAINER = "upload-completions-deadletter";

export interface CompletionEventsArgs {
  resourceGroupName: pulumi.Input<string>;
  location: pulumi.Input<string>;
}

export interface CompletionDeliveryArgs extends CompletionEventsConfig {
  /** The function app's identity: the one publisher. */
  publisherIdentity: pulumi.Output<{ principalId?: string } | undefined>;
  /** The runtime account: where the queue destination and the dead-letter container live. */
  runtimeAccount: { id: pulumi.Input<string>; name: pulumi.Input<string> };
}

export class CompletionEvents extends pulumi.ComponentResource {
  readonly topicId: pulumi.Output<string>;
  readonly endpoint: pulumi.Output<string>;
  /** What the function app is given: where to publish. */
  readonly appSettings: Record<string, pulumi.Output<string>>;
  private readonly topic: eventgrid.Topic;
  private readonly resourceGroupName: pulumi.Input<string>;

  constructor(name: string, args: CompletionEventsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("valet:completionEvents:CompletionEvents", name, {}, opts);
    this.resourceGroupName = args.resourceGroupName;
    // CloudEvents in, so what the function publishes is what subscribers get. Local auth (access keys, SAS)
    // off: only Entra ID tokens publish, so no key exists to leak. The topic's own identity delivers to the
    // queue and writes dead letters.
    // https://learn.microsoft.com/azure/event-grid/authenticate-with-access-keys-shared-access-signatures#disable-key-and-shared-access-signature-authentication
    // https://learn.microsoft.com/azure/event-grid/enable-identity-custom-topics-domains
    this.topic = new eventgrid.Topic(
      name,
      {
        resourceGroupName: args.resourceGroupName,
        location: args.location,
        inputSchema: eventgrid.InputSchema.CloudEventSchemaV1_0,
        disableLocalAuth: true,
        minimumTlsVersionAllowed: eventgrid.TlsVersion.TlsVersion_1_2,
        identity: { type: eventgrid.IdentityType.SystemAssigned },
      },
      { parent: this },
    );
    this.topicId = this.topic.id;
    this.endpoint = this.topic.endpoint;
    this.appSettings = { [EVENTS_SETTING.topicEndpoint]: this.topic.endpoint };
    this.registerOutputs({ topicId: this.topicId, endpoint: this.endpoint });
  }

  /**
   * Once the function app exists: its identity may publish here, and the configured subscriptions deliver
   * what it publishes. Subscriptions are made once the topic's roles on their destinations can have taken
   * effect, as Event Grid checks them at creation (infra/roleSettle.ts).
   */
  deliver(name: string, args: CompletionDeliveryArgs): void {
    const grant = roleGranter(this);
    grant(`${name}-publisher`, {
      scope: this.topic.id,
      principalId: principalOf(args.publisherIdentity, "The Function App"),
      role: ROLE.eventGridDataSender,
    });
    if (!args.webhookUrl && !args.storageQueue) return;
    const topicPrincipal = principalOf(this.topic.identity, "The completion events' topic");
    const dead = deadLetters(
      name,
      {
        resourceGroupName: this.resourceGroupName,
        account: args.runtimeAccount,
        containerName: COMPLETIONS_DEAD_LETTER_CONTAINER,
        principalId: topicPrincipal,
      },
      this,
      grant,
    );
    const roles = [dead.writer];
    const queue = args.storageQueue
      ? new storage.Queue(
          `${name}-queue`,
          {
            resourceGroupName: this.resourceGroupName,
            accountName: args.runtimeAccount.name,
            queueName: COMPLETIONS_QUEUE,
          },
          { parent: this },
        )
      : undefined;
    if (queue) {
      roles.push(
        grant(`${name}-queue-sender`, {
          scope: queue.id,
          principalId: topicPrincipal,
          role: ROLE.storageQueueDataMessageSender,
        }),
      );
    }
    const rolesEffective = new RoleSettle(`${name}-roles-effective`, roles, { parent: this });
    // After Event Grid's last retry (its defaults, written out), an event is written to the container rather
    // than dropped. https://learn.microsoft.com/azure/event-grid/manage-event-delivery#set-dead-letter-location
    const common = {
      resourceGroupName: this.resourceGroupName,
      topicName: this.topic.name,
      eventDeliverySchema: eventgrid.EventDeliverySchema.CloudEventSchemaV1_0,
      retryPolicy: DELIVERY_RETRY,
      deadLetterWithResourceIdentity: dead.deadLetterWithResourceIdentity,
    };
    const after = { parent: this, dependsOn: [...roles, rolesEffective] };
    if (args.webhookUrl) {
      // CloudEvents delivery: Event Grid validates the endpoint with the CloudEvents handshake (an OPTIONS
      // request with WebHook-Request-Origin) when the subscription is created, so the receiver must be up.
      // https://learn.microsoft.com/azure/event-grid/end-point-validation-cloud-events-schema
      new eventgrid.TopicEventSubscription(
        `${name}-webhook`,
        {
          ...common,
          // Secret: a receiver may take a token in its URL's query to know the POST is from this subscription.
          destination: { endpointType: "WebHook", endpointUrl: pulumi.secret(args.webhookUrl) },
        },
        after,
      );
    }
    if (queue) {
      // https://learn.microsoft.com/azure/event-grid/handler-storage-queues
      new eventgrid.TopicEventSubscription(
        `${name}-queue`,
        {
          ...common,
          deliveryWithResourceIdentity: {
            identity: { type: eventgrid.EventSubscriptionIdentityType.SystemAssigned },
            destination: {
              endpointType: "StorageQueue",
              resourceId: args.runtimeAccount.id,
              queueName: queue.name,
            },
          },
        },
        after,
      );
    }
  }
}
