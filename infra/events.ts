// The inbox's BlobCreated events, delivered to the validator's queue: an Event Grid system topic on the
// uploads account, its managed identity allowed to send to that queue alone, and one event subscription.
// A queue rather than a webhook: no function key to hand out, and nothing to answer Event Grid's
// validation handshake before the code is published.
// https://learn.microsoft.com/azure/event-grid/handler-storage-queues
import type * as authorization from "@pulumi/azure-native/authorization";
import * as eventgrid from "@pulumi/azure-native/eventgrid";
import * as storage from "@pulumi/azure-native/storage";
import * as pulumi from "@pulumi/pulumi";
import { ROLE } from "./platformRules";
import { RoleSettle } from "./roleSettle";
import { principalOf, roleGranter } from "./roles";

type Grant = ReturnType<typeof roleGranter>;

export interface DeadLetters {
  /** The topic's identity may write the container: Event Grid checks that when the subscription is made. */
  readonly writer: authorization.RoleAssignment;
  /** The subscription's setting: after its last retry, an event is written to the container, not dropped. */
  readonly deadLetterWithResourceIdentity: {
    identity: { type: eventgrid.EventSubscriptionIdentityType };
    deadLetterDestination: {
      endpointType: "StorageBlob";
      resourceId: pulumi.Input<string>;
      blobContainerName: pulumi.Output<string>;
    };
  };
}

/**
 * Where a topic's subscriptions put the events they gave up on: a private container `containerName` on
 * `account`, written with the topic's identity (`principalId`), so an operator can read what was never
 * delivered. Resources `<name>-deadletter` and `<name>-deadletter-writer`, children of `parent`.
 * https://learn.microsoft.com/azure/event-grid/manage-event-delivery#set-dead-letter-location
 */
export function deadLetters(
  name: string,
  args: {
    resourceGroupName: pulumi.Input<string>;
    account: { id: pulumi.Input<string>; name: pulumi.Input<string> };
    containerName: string;
    principalId: pulumi.Input<string>;
  },
  parent: pulumi.Resource,
  grant: Grant,
): DeadLetters {
  const container = new storage.BlobContainer(
    `${name}-deadletter`,
    {
      resourceGroupName: args.resourceGroupName,
      accountName: args.account.name,
      containerName: args.containerName,
      publicAccess: storage.PublicAccess.None,
    },
    { parent },
  );
  const writer = grant(`${name}-deadletter-writer`, {
    scope: container.id,
    principalId: args.principalId,
    role: ROLE.storageBlobDataContributor,
  });
  return {
    writer,
    deadLetterWithResourceIdentity: {
      identity: { type: eventgrid.EventSubscriptionIdentityType.SystemAssigned },
      deadLetterDestination: {
        endpointType: "StorageBlob",
        resourceId: args.account.id,
        blobContainerName: container.name,
      },
    },
  };
}

/** A blob was created or replaced (Put Blob, Put Block List, Copy Blob, …). */
export const BLOB_CREATED = "Microsoft.Storage.BlobCreated";
/** The system topic type of a storage account's events. */
export const STORAGE_ACCOUNT_TOPIC_TYPE = "Microsoft.Storage.StorageAccounts";
/**
 * Event Grid's own retry defaults, written out so that they show in the program and the preview: up to 30
 * attempts over 24 hours with exponential backoff, then the event is dead-lettered.
 * https://learn.microsoft.com/azure/event-grid/delivery-and-retry#retry-schedule
 */
export const DELIVERY_RETRY = { maxDeliveryAttempts: 30, eventTimeToLiveInMinutes: 24 * 60 } as const;
/** Events Event Grid could not deliver to the queue, kept as blobs for an operator to look at. */
export const DEAD_LETTER_CONTAINER = "uploads-created-deadletter";

export interface UploadEventsArgs {
  resourceGroupName: pulumi.Input<string>;
  /** The uploads account's region: a system topic lives in its source's region. */
  location: pulumi.Input<string>;
  /** The uploads account: the events' source. */
  uploadsAccountId: pulumi.Input<string>;
  /** The inbox container: only its blobs' events are delivered. */
  inboxContainer: pulumi.Input<string>;
  /** The account holding the queue, and the queue the events are delivered to. */
  queueAccount: { id: pulumi.Input<string>; name: pulumi.Input<string> };
  queue: storage.Queue;
  /**
   * What the subscription also waits for, beyond the topic's own roles: time for those roles to take
   * effect (a new assignment can take minutes; Event Grid checks the access when the subscription is made).
   */
  subscribeAfter?: pulumi.Resource[];
}

export class UploadEvents extends pulumi.ComponentResource {
  readonly topicName: pulumi.Output<string>;
  readonly subscriptionName: pulumi.Output<string>;
  /** The uploads account's one system topic, which Defender's scanning adds its own subscription to. */
  readonly systemTopic: eventgrid.SystemTopic;

  constructor(name: string, args: UploadEventsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("valet:events:UploadEvents", name, {}, opts);

    // A storage account has at most one system topic; its identity is what delivers to the queue.
    // https://learn.microsoft.com/azure/event-grid/system-topics#location
    // https://learn.microsoft.com/azure/event-grid/enable-identity-system-topics
    const topic = new eventgrid.SystemTopic(
      name,
      {
        resourceGroupName: args.resourceGroupName,
        location: args.location,
        source: args.uploadsAccountId,
        topicType: STORAGE_ACCOUNT_TOPIC_TYPE,
        identity: { type: eventgrid.IdentityType.SystemAssigned },
      },
      { parent: this },
    );
    this.systemTopic = topic;
    const principalId = principalOf(topic.identity, "The uploads account's Event Grid system topic");
    const grant = roleGranter(this);
    // Send to the validator's queue and nothing else: queue-scoped roles are supported.
    // https://learn.microsoft.com/azure/event-grid/add-identity-roles#supported-destinations-and-azure-roles
    // https://learn.microsoft.com/azure/storage/queues/assign-azure-role-data-access
    const queueSender = grant(`${name}-queue-sender`, {
      scope: args.queue.id,
      principalId,
      role: ROLE.storageQueueDataMessageSender,
    });

    const dead = deadLetters(
      name,
      {
        resourceGroupName: args.resourceGroupName,
        account: args.queueAccount,
        containerName: DEAD_LETTER_CONTAINER,
        principalId,
      },
      this,
      grant,
    );

    // Event Grid refuses to create the subscription until the identity can reach the destination, and a new
    // assignment may take up to ten minutes to apply: waited for here, that long after the assignments were
    // made, rather than failing the first `pulumi up` (infra/roleSettle.ts).
    const rolesEffective = new RoleSettle(`${name}-roles-effective`, [queueSender, dead.writer], {
      parent: this,
    });

    // Only blobs created in the inbox: the subject of a blob event is
    // /blobServices/default/containers/<container>/blobs/<name>, and the trailing slash keeps out a
    // container whose name merely starts with the inbox's. Delivered in the Event Grid schema, one event per
    // queue message, with the topic's identity. Created once the identity holds its roles: Event Grid
    // checks at creation that it can reach the destination.
    // https://learn.microsoft.com/azure/event-grid/event-schema-blob-storage
    // https://learn.microsoft.com/azure/event-grid/event-filtering#subject-filtering
    // https://learn.microsoft.com/azure/event-grid/managed-service-identity
    const subscription = new eventgrid.SystemTopicEventSubscription(
      name,
      {
        resourceGroupName: args.resourceGroupName,
        systemTopicName: topic.name,
        filter: {
          includedEventTypes: [BLOB_CREATED],
          subjectBeginsWith: pulumi.interpolate`/blobServices/default/containers/${args.inboxContainer}/`,
        },
        eventDeliverySchema: eventgrid.EventDeliverySchema.EventGridSchema,
        deliveryWithResourceIdentity: {
          identity: { type: eventgrid.EventSubscriptionIdentityType.SystemAssigned },
          destination: {
            endpointType: "StorageQueue",
            resourceId: args.queueAccount.id,
            queueName: args.queue.name,
          },
        },
        retryPolicy: DELIVERY_RETRY,
        // After the last retry an event is written here instead of being dropped: the inbox blob it names
        // was never checked, and the lifecycle rule will delete it (infra/storage.ts).
        // https://learn.microsoft.com/azure/event-grid/manage-event-delivery#set-dead-letter-location
        deadLetterWithResourceIdentity: dead.deadLetterWithResourceIdentity,
      },
      {
        parent: this,
        dependsOn: [queueSender, dead.writer, rolesEffective, ...(args.subscribeAfter ?? [])],
      },
    );

    this.topicName = topic.name;
    this.subscriptionName = subscription.name;
    this.registerOutputs({ topicName: this.topicName, subscriptionName: this.subscriptionName });
  }
}
