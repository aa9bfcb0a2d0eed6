// The completion events' topic and subscriptions under Pulumi mocks: what the program registers, after the
// SDK's defaults, for the default config, a webhook, a Storage queue, and refused config.
import { beforeAll, describe, expect, test } from "vitest";
import { EVENTS_SETTING, parseEventsTopicEndpoint } from "../../function/contract/completionEvents";
import { COMPLETIONS_DEAD_LETTER_CONTAINER, COMPLETIONS_QUEUE } from "../../infra/completionEvents";
import { ROLE } from "../../infra/platformRules";
import {
  appSettings,
  inPlaintext,
  only,
  type ProgramRun,
  reveal,
  runProgram,
  SUBSCRIPTION_ID,
} from "./harness";

const TOPIC = "azure-native:eventgrid:Topic";
const SUBSCRIPTION = "azure-native:eventgrid:TopicEventSubscription";
const ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment";
const WEBHOOK = "https://backend.example.com/valet-events?token=abc";

const idOf = (resource: { type: string; state: Record<string, unknown> }) =>
  `/subscriptions/${SUBSCRIPTION_ID}/mock/${resource.type}/${String(resource.state.name)}`;
const roleDefinition = (id: string) =>
  `/subscriptions/${SUBSCRIPTION_ID}/providers/Microsoft.Authorization/roleDefinitions/${id}`;
const topic = (run: ProgramRun) => only(run, TOPIC, "completions");
const assignmentsOf = (run: ProgramRun, role: string) =>
  run.resources.filter(
    (r) => r.type === ROLE_ASSIGNMENT && r.inputs.roleDefinitionId === roleDefinition(role),
  );
const subscriptions = (run: ProgramRun) => run.resources.filter((r) => r.type === SUBSCRIPTION);

describe("with the default config", () => {
  let run: ProgramRun;
  beforeAll(async () => {
    run = await runProgram();
  });

  test("the topic takes CloudEvents 1.0, refuses access keys and TLS below 1.2, and has an identity to deliver with", () => {
    expect(topic(run).inputs).toMatchObject({
      inputSchema: "CloudEventSchemaV1_0",
      disableLocalAuth: true,
      minimumTlsVersionAllowed: "1.2",
      identity: { type: "SystemAssigned" },
      location: "swedencentral",
    });
  });

  test("the app publishes to the topic's endpoint, a value its own settings parser accepts", () => {
    const settings = appSettings(only(run, "azure-native:web:WebApp"));
    const endpoint = settings[EVENTS_SETTING.topicEndpoint];
    expect(endpoint).toBe(topic(run).state.endpoint);
    expect(parseEventsTopicEndpoint(settings)).toBe(endpoint);
  });

  test("EventGrid Data Sender is held by the app's identity alone, on the topic alone", () => {
    const app = only(run, "azure-native:web:WebApp");
    const senders = assignmentsOf(run, ROLE.eventGridDataSender);
    expect(senders.map((r) => r.inputs)).toEqual([
      {
        scope: idOf(topic(run)),
        principalId: (app.state.identity as { principalId: string }).principalId,
        principalType: "ServicePrincipal",
        roleDefinitionId: roleDefinition(ROLE.eventGridDataSender),
      },
    ]);
  });

  test("without a webhook or a queue configured, no subscription is made", () => {
    expect(subscriptions(run)).toEqual([]);
  });

  test("the topic's id and endpoint are stack outputs", () => {
    expect(run.outputs.eventsTopicId).toEqual(expect.objectContaining({ value: idOf(topic(run)) }));
    expect(run.outputs.eventsTopicEndpoint).toEqual(
      expect.objectContaining({ value: topic(run).state.endpoint }),
    );
  });
});

describe("with valet:eventsWebhookUrl and valet:eventsStorageQueue", () => {
  let run: ProgramRun;
  beforeAll(async () => {
    run = await runProgram({ eventsWebhookUrl: WEBHOOK, eventsStorageQueue: "true" });
  });

  const deadLetter = (run: ProgramRun) =>
    only(run, "azure-native:storage:BlobContainer", "completions-deadletter");
  const runtime = (run: ProgramRun) => only(run, "azure-native:storage:StorageAccount", "credentials");

  test("the webhook gets CloudEvents, Event Grid's retries, dead letters in a container, and its URL stays secret", () => {
    const webhook = only(run, SUBSCRIPTION, "completions-webhook");
    expect(inPlaintext(webhook.inputs, "token=abc")).toBe(false);
    expect(reveal(webhook.inputs)).toMatchObject({
      topicName: topic(run).state.name,
      eventDeliverySchema: "CloudEventSchemaV1_0",
      destination: { endpointType: "WebHook", endpointUrl: WEBHOOK },
      retryPolicy: { maxDeliveryAttempts: 30, eventTimeToLiveInMinutes: 1440 },
      deadLetterWithResourceIdentity: {
        identity: { type: "SystemAssigned" },
        deadLetterDestination: {
          endpointType: "StorageBlob",
          resourceId: idOf(runtime(run)),
          blobContainerName: COMPLETIONS_DEAD_LETTER_CONTAINER,
        },
      },
    });
  });

  test("the queue subscription delivers with the topic's identity to the queue on the runtime account", () => {
    const queue = only(run, "azure-native:storage:Queue", "completions-queue");
    expect(queue.inputs).toMatchObject({
      queueName: COMPLETIONS_QUEUE,
      accountName: runtime(run).state.name,
    });
    expect(only(run, SUBSCRIPTION, "completions-queue").inputs).toMatchObject({
      eventDeliverySchema: "CloudEventSchemaV1_0",
      deliveryWithResourceIdentity: {
        identity: { type: "SystemAssigned" },
        destination: {
          endpointType: "StorageQueue",
          resourceId: idOf(runtime(run)),
          queueName: COMPLETIONS_QUEUE,
        },
      },
    });
  });

  test("the topic's identity may send to that queue and write that container, nothing wider, before the subscriptions", () => {
    const principal = (topic(run).state.identity as { principalId: string }).principalId;
    const held = run.resources.filter(
      (r) => r.type === ROLE_ASSIGNMENT && r.inputs.principalId === principal,
    );
    expect(held.map((r) => [r.inputs.roleDefinitionId, r.inputs.scope]).sort()).toEqual(
      [
        [roleDefinition(ROLE.storageBlobDataContributor), idOf(deadLetter(run))],
        [
          roleDefinition(ROLE.storageQueueDataMessageSender),
          idOf(only(run, "azure-native:storage:Queue", "completions-queue")),
        ],
      ].sort(),
    );
    for (const subscription of subscriptions(run)) {
      expect(subscription.dependencies).toEqual(expect.arrayContaining(held.map((r) => r.urn)));
    }
  });
});

describe("refused config", () => {
  test("a webhook that is not https is refused, naming the key", async () => {
    await expect(runProgram({ eventsWebhookUrl: "http://backend.example.com/events" })).rejects.toThrow(
      /valet:eventsWebhookUrl must be an https URL/,
    );
  });

  test("valet:eventsStorageQueue other than true or false is refused, naming the key", async () => {
    await expect(runProgram({ eventsStorageQueue: "yes" })).rejects.toThrow(
      /valet:eventsStorageQueue must be true or false/,
    );
  });
});
