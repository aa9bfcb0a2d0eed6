// The one Pulumi mocks set-up for running infra/ without an engine, the pulumi-awsx way: every registered
// resource is recorded with its inputs, the state Azure would compute and its place in the graph (URN, parent,
// dependencies), and an invoke the caller did not provide fails loudly. CommonJS so that
// test/infra/languageHost.cjs, which node runs directly, shares it with the vitest suites.
"use strict";

const SUBSCRIPTION_ID = "00000000-0000-4000-8000-000000000001";
const SUFFIX = "a1b2c3d4";
/** The uploads account's second key (key2) as listStorageAccountKeys returns it; key1 is the caller's. */
const SECOND_KEY = Buffer.alloc(64, 0x33).toString("base64");

/** What Azure computes for each resource type the program creates: names, endpoints, identities. */
function azureState(type, name, inputs) {
  switch (type) {
    case "azure-native:resources:ResourceGroup":
      return { name: inputs.resourceGroupName ?? `${name}${SUFFIX}` };
    case "azure-native:storage:StorageAccount": {
      const account = inputs.accountName ?? `${name.replace(/[^a-z0-9]/g, "")}${SUFFIX}`;
      return {
        name: account,
        primaryEndpoints: {
          blob: `https://${account}.blob.core.windows.net/`,
          queue: `https://${account}.queue.core.windows.net/`,
          table: `https://${account}.table.core.windows.net/`,
          web: `https://${account}.z16.web.core.windows.net/`,
        },
      };
    }
    case "azure-native:storage:BlobContainer":
      return { name: inputs.containerName };
    case "azure-native:storage:Queue":
      return { name: inputs.queueName };
    // A system-assigned identity, as for the Function App below.
    case "azure-native:eventgrid:SystemTopic":
      return {
        name: `${name}-${SUFFIX}`,
        identity: { type: "SystemAssigned", principalId: `principal-of-topic-${name}`, tenantId: "tenant" },
      };
    // A custom topic reports its endpoint, in its region's form.
    case "azure-native:eventgrid:Topic": {
      const topic = `${name}-${SUFFIX}`;
      return {
        name: topic,
        endpoint: `https://${topic}.${inputs.location}-1.eventgrid.azure.net/api/events`,
        identity: { type: "SystemAssigned", principalId: `principal-of-topic-${name}`, tenantId: "tenant" },
      };
    }
    // Enabling the static website creates the $web container, which the resource reports.
    case "azure-native:storage:StorageAccountStaticWebsite":
      return { name: `${name}-${SUFFIX}`, containerName: "$web" };
    case "azure-native:web:WebApp": {
      const app = `${name}-${SUFFIX}`;
      return {
        name: app,
        defaultHostName: `${app}.azurewebsites.net`,
        hostNameSslStates: [
          { name: `${app}.azurewebsites.net`, hostType: "Standard" },
          { name: `${app}.scm.azurewebsites.net`, hostType: "Repository" },
        ],
        identity: { type: "SystemAssigned", principalId: `principal-of-${app}`, tenantId: "tenant" },
      };
    }
    case "azure-native:applicationinsights:Component":
      return {
        name: `${name}-${SUFFIX}`,
        connectionString: `InstrumentationKey=ikey-of-${name};IngestionEndpoint=https://${name}.in.applicationinsights.azure.com/`,
      };
    default:
      return { name: inputs.name ?? `${name}-${SUFFIX}` };
  }
}

/** The invokes the program makes, answered as Azure would; `accountKey` is what listStorageAccountKeys returns. */
function azureInvokes({ accountKey, subscriptionId = SUBSCRIPTION_ID }) {
  return {
    "azure-native:authorization:getClientConfig": () => ({
      clientId: "client",
      objectId: "deployer",
      subscriptionId,
      tenantId: "tenant",
    }),
    "azure-native:storage:getStorageAccount": (inputs) => ({
      name: inputs.accountName,
      primaryEndpoints: {
        blob: `https://${inputs.accountName}.blob.core.windows.net/`,
        web: `https://${inputs.accountName}.z16.web.core.windows.net/`,
      },
    }),
    "azure-native:storage:listStorageAccountKeys": () => ({
      keys: [
        { keyName: "key1", value: accountKey, permissions: "FULL" },
        { keyName: "key2", value: SECOND_KEY, permissions: "FULL" },
      ],
    }),
  };
}

/**
 * Installs mocks on the given @pulumi/pulumi (passed in, so that the caller's instance is the one the program
 * uses) and returns what they record. `state(type, name, inputs)` adds computed outputs (Azure's by default);
 * `invokes` maps each invoke token the code under test may call to its answer.
 */
async function installMocks(pulumi, options) {
  const { project, stack, preview = false, state = azureState, invokes = {} } = options;
  const record = { resources: [], invokes: [] };
  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        const computed = { ...args.inputs, ...state(args.type, args.name, args.inputs) };
        record.resources.push({ type: args.type, name: args.name, inputs: args.inputs, state: computed });
        const id = `/subscriptions/${SUBSCRIPTION_ID}/mock/${args.type}/${String(computed.name ?? args.name)}`;
        return { id, state: computed };
      },
      call(args) {
        record.invokes.push({ token: args.token, inputs: args.inputs });
        const answer = invokes[args.token];
        if (!answer) {
          const error = new Error(`The code invoked ${args.token}, which the mocks do not provide.`);
          // The SDK reports a failed invoke by the gRPC error's `details`; without it the message is lost.
          error.details = error.message;
          throw error;
        }
        return answer(args.inputs);
      },
    },
    project,
    stack,
    preview,
  );
  recordGraph(pulumi.runtime.getMonitor(), record.resources);
  return record;
}

/**
 * The mock monitor hands newResource neither the URN nor the dependencies; they are in the registration
 * request and response, so this wraps the monitor to add them to the matching record (same type and name).
 */
function recordGraph(monitor, resources) {
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (request, callback) =>
    register(request, (error, response) => {
      if (!error) {
        const entry = resources.find(
          (resource) =>
            resource.urn === undefined &&
            resource.type === request.getType() &&
            resource.name === request.getName(),
        );
        if (entry) {
          const propertyDependencies = {};
          request.getPropertydependenciesMap().forEach((dependencies, key) => {
            propertyDependencies[key] = dependencies.getUrnsList();
          });
          Object.assign(entry, {
            urn: response.getUrn(),
            parent: request.getParent() || undefined,
            dependencies: request.getDependenciesList(),
            propertyDependencies,
            ignoreChanges: request.getIgnorechangesList(),
            // Old logical names the resource answers to (the SDK also sends one alias per older API version
            // of azure-native types, which carry a type and no name).
            aliases: request
              .getAliasesList()
              .map((alias) => alias.getSpec()?.getName())
              .filter((name) => Boolean(name)),
            // Every alias as the engine receives it, to work out the URNs a resource answers to.
            aliasSpecs: request
              .getAliasesList()
              .map((alias) => alias.getSpec())
              .filter((spec) => Boolean(spec))
              .map((spec) => ({
                name: spec.getName(),
                type: spec.getType(),
                parentUrn: spec.getParenturn(),
                noParent: spec.getNoparent(),
              })),
          });
        }
      }
      callback(error, response);
    });
}

module.exports = { SUBSCRIPTION_ID, SECOND_KEY, azureState, azureInvokes, installMocks };
