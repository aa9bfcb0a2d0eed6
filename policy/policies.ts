// The valet policy pack's policies as plain objects: Azure's platform rules (infra/platformRules.ts) and the
// stack's security baseline, checked on every `pulumi preview` and `pulumi up` that loads policy/. Kept apart
// from index.ts, whose `new PolicyPack` starts the analyzer's gRPC server, so that tests can import them.
import {
  type PolicyResource,
  type ReportViolation,
  type ResourceValidationArgs,
  type ResourceValidationPolicy,
  Secret,
  type StackValidationPolicy,
  UnknownValueError,
} from "@pulumi/policy";
import { SETTING } from "../function/contract/appSettings";
import {
  CORS_LIMITS,
  DISABLE_DIAGNOSTIC_EVENTS_FLAG,
  FLEX_REFUSED_APP_SETTINGS,
  FLEX_REFUSED_SITE_CONFIG,
  FLEX_REFUSED_SITE_PROPERTIES,
  HOST_FEATURE_FLAGS_SETTING,
  HOST_STORAGE_ACCOUNT_SETTING,
  ROLE,
  type SourcedName,
} from "../infra/platformRules";

const TYPE = {
  webApp: "azure-native:web:WebApp",
  storageAccount: "azure-native:storage:StorageAccount",
  blobContainer: "azure-native:storage:BlobContainer",
  blobService: "azure-native:storage:BlobServiceProperties",
  roleAssignment: "azure-native:authorization:RoleAssignment",
  queue: "azure-native:storage:Queue",
  systemTopic: "azure-native:eventgrid:SystemTopic",
  systemTopicSubscription: "azure-native:eventgrid:SystemTopicEventSubscription",
  oneDeploy: "pulumi-nodejs:dynamic/valet:OneDeploy",
} as const;

type Props = Record<string, unknown>;

/** Only Flex Consumption sites carry functionAppConfig (runtime, scale and deployment storage live there). */
function flexSite(args: ResourceValidationArgs): Props | undefined {
  if (args.type !== TYPE.webApp) return undefined;
  return args.props.functionAppConfig === undefined ? undefined : args.props;
}

function refusedKeys(object: unknown, list: readonly SourcedName[]): SourcedName[] {
  if (typeof object !== "object" || object === null) return [];
  const present = new Set(Object.keys(object).map((key) => key.toLowerCase()));
  return list.filter((entry) => present.has(entry.name.toLowerCase()));
}

const flexSiteProperties: ResourceValidationPolicy = {
  name: "flex-site-properties",
  description: "A Flex Consumption site sends no site or siteConfig property that Flex Consumption refuses.",
  enforcementLevel: "mandatory",
  validateResource: (args, reportViolation) => {
    const site = flexSite(args);
    if (!site) return;
    for (const entry of refusedKeys(site, FLEX_REFUSED_SITE_PROPERTIES)) {
      reportViolation(
        `Flex Consumption refuses the site property ${entry.name}: remove it (${entry.source}).`,
      );
    }
    for (const entry of refusedKeys(site.siteConfig, FLEX_REFUSED_SITE_CONFIG)) {
      reportViolation(`Flex Consumption refuses siteConfig.${entry.name}: remove it (${entry.source}).`);
    }
  },
};

const flexAppSettings: ResourceValidationPolicy = {
  name: "flex-app-settings",
  description: "A Flex Consumption site sets no app setting that Flex Consumption deprecates.",
  enforcementLevel: "mandatory",
  validateResource: (args, reportViolation) => {
    const site = flexSite(args);
    const settings = (site?.siteConfig as { appSettings?: { name?: string }[] } | undefined)?.appSettings;
    if (!settings) return;
    const refused = new Map(FLEX_REFUSED_APP_SETTINGS.map((entry) => [entry.name.toLowerCase(), entry]));
    for (const setting of settings) {
      const entry = refused.get(String(setting.name).toLowerCase());
      if (entry) {
        reportViolation(
          `Flex Consumption deprecates the app setting ${entry.name}; functionAppConfig replaces it (${entry.source}).`,
        );
      }
    }
  },
};

const hostDiagnosticEventsOff: ResourceValidationPolicy = {
  name: "host-diagnostic-events-off",
  description:
    "A Flex site whose host storage is reached with its identity turns the host's diagnostic-events table off with AzureWebJobsFeatureFlags.",
  enforcementLevel: "mandatory",
  validateResource: (args, reportViolation) => {
    const site = flexSite(args);
    const settings = (site?.siteConfig as { appSettings?: { name?: string; value?: unknown }[] } | undefined)
      ?.appSettings;
    if (!settings?.some((setting) => setting.name === HOST_STORAGE_ACCOUNT_SETTING)) return;
    const flags = settings.find((setting) => setting.name === HOST_FEATURE_FLAGS_SETTING)?.value;
    const known = typeof flags === "string" ? flags.split(",").map((flag) => flag.trim()) : [];
    if (!known.includes(DISABLE_DIAGNOSTIC_EVENTS_FLAG)) {
      reportViolation(
        `${HOST_FEATURE_FLAGS_SETTING} must include ${DISABLE_DIAGNOSTIC_EVENTS_FLAG}: with identity-based host ` +
          "storage and no table role on it, the host's diagnostic-events table fails with 403 every ten minutes " +
          "(Azure/azure-functions-host#10995).",
      );
    }
  },
};

/** A policy over the inputs of one resource type. */
function ofType(
  type: string,
  check: (props: Props, reportViolation: ReportViolation) => void,
): ResourceValidationPolicy["validateResource"] {
  return (args, reportViolation) => {
    if (args.type === type) check(args.props, reportViolation);
  };
}

const storageHttpsOnly: ResourceValidationPolicy = {
  name: "storage-https-only",
  description: "Storage accounts accept HTTPS only.",
  enforcementLevel: "mandatory",
  validateResource: ofType(TYPE.storageAccount, (props, reportViolation) => {
    if (props.enableHttpsTrafficOnly !== true) {
      reportViolation("Set enableHttpsTrafficOnly to true: SAS tokens and keys must never travel over HTTP.");
    }
  }),
};

const storageTls: ResourceValidationPolicy = {
  name: "storage-minimum-tls-1-2",
  description: "Storage accounts require TLS 1.2 or later.",
  enforcementLevel: "mandatory",
  validateResource: ofType(TYPE.storageAccount, (props, reportViolation) => {
    if (props.minimumTlsVersion !== "TLS1_2" && props.minimumTlsVersion !== "TLS1_3") {
      reportViolation(`Set minimumTlsVersion to TLS1_2 or later (it is ${String(props.minimumTlsVersion)}).`);
    }
  }),
};

const storageNoPublicBlobs: ResourceValidationPolicy = {
  name: "storage-no-public-blob-access",
  description: "Storage accounts allow no anonymous blob access.",
  enforcementLevel: "mandatory",
  validateResource: ofType(TYPE.storageAccount, (props, reportViolation) => {
    if (props.allowBlobPublicAccess !== false) {
      reportViolation("Set allowBlobPublicAccess to false: uploads are reached with SAS tokens only.");
    }
  }),
};

const privateContainers: ResourceValidationPolicy = {
  name: "storage-private-containers",
  description: "Blob containers are private.",
  enforcementLevel: "mandatory",
  validateResource: ofType(TYPE.blobContainer, (props, reportViolation) => {
    if (props.publicAccess !== undefined && props.publicAccess !== "None") {
      reportViolation(
        `Container ${String(props.containerName)} allows public access ${String(props.publicAccess)}.`,
      );
    }
  }),
};

function corsRules(props: Props): { allowedOrigins?: string[] }[] {
  return (
    (props.cors as { corsRules?: { allowedOrigins?: string[] }[] } | undefined)?.corsRules ?? []
  ).filter((rule) => rule !== null && typeof rule === "object");
}

const corsNoWildcard: ResourceValidationPolicy = {
  name: "cors-no-wildcard-origin",
  description: 'No CORS rule, on the blob service or the Function App, allows the origin "*".',
  enforcementLevel: "mandatory",
  validateResource: (args, reportViolation) => {
    const lists =
      args.type === TYPE.blobService
        ? corsRules(args.props).map((rule) => rule.allowedOrigins ?? [])
        : args.type === TYPE.webApp
          ? [
              (args.props.siteConfig as { cors?: { allowedOrigins?: string[] } } | undefined)?.cors
                ?.allowedOrigins ?? [],
            ]
          : [];
    if (lists.some((origins) => origins.includes("*"))) {
      reportViolation('A CORS rule allows "*": any web page could then use a token leaked from a visitor.');
    }
  },
};

const corsLimits: ResourceValidationPolicy = {
  name: "storage-cors-limits",
  description: `A blob service has at most ${CORS_LIMITS.maxRulesPerService} CORS rules of at most ${CORS_LIMITS.maxOriginsPerRule} origins each.`,
  enforcementLevel: "mandatory",
  validateResource: ofType(TYPE.blobService, (props, reportViolation) => {
    const rules = corsRules(props);
    if (rules.length > CORS_LIMITS.maxRulesPerService) {
      reportViolation(
        `${rules.length} CORS rules; Azure allows ${CORS_LIMITS.maxRulesPerService} per service (${CORS_LIMITS.source}).`,
      );
    }
    rules.forEach((rule, index) => {
      const count = rule.allowedOrigins?.length ?? 0;
      if (count > CORS_LIMITS.maxOriginsPerRule) {
        reportViolation(
          `CORS rule ${index + 1} lists ${count} origins; Azure allows ${CORS_LIMITS.maxOriginsPerRule} (${CORS_LIMITS.source}).`,
        );
      }
    });
  }),
};

/**
 * The deploy identity may assign only the roles its Role Based Access Control Administrator condition lists
 * (docs/deploying.md), which are ROLE's: a role outside the list would pass a preview and fail `pulumi up`
 * with a 403, so it fails the preview instead.
 */
const rolesFromTheList: ResourceValidationPolicy = {
  name: "roles-from-the-list",
  description:
    "Role assignments grant only the roles in infra/platformRules.ts, which the deploy identity may assign.",
  enforcementLevel: "mandatory",
  validateResource: ofType(TYPE.roleAssignment, (props, reportViolation) => {
    const id = known(() => props.roleDefinitionId, undefined);
    if (typeof id !== "string") return;
    const role = id.split("/").at(-1)?.toLowerCase() ?? "";
    const allowed: readonly string[] = Object.values(ROLE);
    if (!allowed.includes(role)) {
      reportViolation(
        `Role ${role} is not in infra/platformRules.ts's ROLE, so the deploy identity's role-assignment ` +
          "condition refuses it: add it to ROLE and to the condition (docs/deploying.md).",
      );
    }
  }),
};

/** Every resource `resource` waits for, directly or through others. */
function dependenciesOf(resource: PolicyResource): Set<PolicyResource> {
  const seen = new Set<PolicyResource>();
  const visit = (current: PolicyResource) => {
    for (const dependency of [
      ...current.dependencies,
      ...Object.values(current.propertyDependencies).flat(),
    ]) {
      if (!seen.has(dependency)) {
        seen.add(dependency);
        visit(dependency);
      }
    }
  };
  visit(resource);
  return seen;
}

/**
 * A value read through the policy SDK's proxy, or `whenUnknown` when a preview does not know it yet (the
 * check then runs again with known values when `pulumi up` registers the resources).
 */
function known<T>(read: () => T, whenUnknown: T): T {
  try {
    return read();
  } catch (error) {
    if (error instanceof UnknownValueError) return whenUnknown;
    throw error;
  }
}

/** The value of one of a site's app settings, when it is set and a preview already knows it. */
function appSetting(app: PolicyResource, name: string): unknown {
  return known(() => {
    const settings = (
      app.props.siteConfig as { appSettings?: { name?: string; value?: unknown }[] } | undefined
    )?.appSettings;
    return settings?.find((setting) => setting.name === name)?.value;
  }, undefined);
}

/** The storage accounts a Flex app reads with its identity: its deployment container's and its host storage. */
function storageOfApp(app: PolicyResource, resources: readonly PolicyResource[]): PolicyResource[] {
  const deployment = (app.propertyDependencies.functionAppConfig ?? []).filter(
    (resource) => resource.type === TYPE.storageAccount,
  );
  const hostName = appSetting(app, HOST_STORAGE_ACCOUNT_SETTING);
  const host = resources.filter(
    (resource) =>
      hostName !== undefined &&
      resource.type === TYPE.storageAccount &&
      known(() => resource.props.name === hostName, false),
  );
  return [...new Set([...deployment, ...host])];
}

/**
 * Whether one of `waitsFor` assigns one of `roles` to `principal`'s identity on one of `scopes`, read
 * through the graph (the assignment's principalId and scope come from those resources). A role id a
 * preview does not know yet counts as granted; `pulumi up` checks again with it known.
 */
function grantedAmong(
  waitsFor: Iterable<PolicyResource>,
  roles: readonly string[],
  principal: PolicyResource,
  scopes: readonly PolicyResource[],
): boolean {
  return [...waitsFor].some(
    (resource) =>
      resource.type === TYPE.roleAssignment &&
      known(() => roles.some((role) => String(resource.props.roleDefinitionId).endsWith(`/${role}`)), true) &&
      (resource.propertyDependencies.principalId ?? []).includes(principal) &&
      scopes.some((scope) => (resource.propertyDependencies.scope ?? []).includes(scope)),
  );
}

const rolesBeforePublish: StackValidationPolicy = {
  name: "roles-before-publish",
  description:
    "The Function App's identity holds Storage Blob Data Owner on its host and deployment storage before its package is published.",
  enforcementLevel: "mandatory",
  validateStack: (args, reportViolation) => {
    for (const publish of args.resources.filter((resource) => resource.type === TYPE.oneDeploy)) {
      const waitsFor = dependenciesOf(publish);
      const app = [...waitsFor].find((resource) => resource.type === TYPE.webApp);
      if (!app) {
        reportViolation("The package is published to no Function App it depends on.", publish.urn);
        continue;
      }
      for (const account of storageOfApp(app, args.resources)) {
        if (!grantedAmong(waitsFor, [ROLE.storageBlobDataOwner], app, [account])) {
          reportViolation(
            `The package is published before ${app.name}'s identity holds Storage Blob Data Owner on ${account.name}: ` +
              "assign the role and make the publish depend on the assignment.",
            publish.urn,
          );
        }
      }
    }
  },
};

/** Roles that let an identity add messages to a queue. */
const QUEUE_SENDER_ROLES: readonly string[] = [
  ROLE.storageQueueDataMessageSender,
  ROLE.storageQueueDataContributor,
];

/**
 * Event Grid checks, when a subscription that delivers with its topic's identity is created, that the
 * identity can reach the destination: the subscription must wait for the role assignment, or the first
 * `pulumi up` fails (the two would otherwise be created in parallel).
 * https://learn.microsoft.com/azure/event-grid/managed-service-identity
 */
const eventDeliveryRolesFirst: StackValidationPolicy = {
  name: "event-delivery-roles-first",
  description:
    "An Event Grid subscription that delivers to a Storage queue with its topic's identity is created after that identity may send to the queue.",
  enforcementLevel: "mandatory",
  validateStack: (args, reportViolation) => {
    for (const subscription of args.resources.filter(
      (resource) => resource.type === TYPE.systemTopicSubscription,
    )) {
      const endpointType = known(
        () =>
          (
            subscription.props.deliveryWithResourceIdentity as
              | { destination?: { endpointType?: unknown } }
              | undefined
          )?.destination?.endpointType,
        undefined,
      );
      if (endpointType !== "StorageQueue") continue;
      const topic = (subscription.propertyDependencies.systemTopicName ?? []).find(
        (resource) => resource.type === TYPE.systemTopic,
      );
      // The queue, or its account: the destination names both.
      const destinations = (subscription.propertyDependencies.deliveryWithResourceIdentity ?? []).filter(
        (resource) => resource.type === TYPE.queue || resource.type === TYPE.storageAccount,
      );
      const granted =
        topic !== undefined &&
        grantedAmong(dependenciesOf(subscription), QUEUE_SENDER_ROLES, topic, destinations);
      if (!granted) {
        reportViolation(
          `The event subscription ${subscription.name} is created before its topic's identity may send to its queue: ` +
            "assign Storage Queue Data Message Sender on the queue and make the subscription depend on the assignment.",
          subscription.urn,
        );
      }
    }
  },
};

/**
 * A keyless app (UPLOADS_ACCOUNT_URL, no connection string) is keyless only if the account it signs for
 * refuses Shared Key: otherwise the account's keys still open it, and a key leaked anywhere would too. An
 * account that leaves allowSharedKeyAccess unset allows Shared Key, so unset is reported like true.
 * https://learn.microsoft.com/azure/storage/common/shared-key-authorization-prevent
 *
 * The account is the one the URL names when both are known. A preview of a new stack knows neither (both are
 * outputs of the account), so then it is found through the graph: among the storage accounts the app's
 * settings depend on, the ones its identity holds Storage Blob Delegator on (what it needs to sign keyless,
 * granted only on the account it signs for). A value of
 * allowSharedKeyAccess the preview does not know yet is not reported: `pulumi up` runs the pack again with
 * it known, before the stack is done.
 */
const keylessAccountRefusesSharedKey: StackValidationPolicy = {
  name: "keyless-account-refuses-shared-key",
  description: "The uploads account of an app that signs keyless (UPLOADS_ACCOUNT_URL) refuses Shared Key.",
  enforcementLevel: "mandatory",
  validateStack: (args, reportViolation) => {
    for (const app of args.resources.filter((resource) => resource.type === TYPE.webApp)) {
      if (!hasAppSetting(app, SETTING.accountUrl)) continue;
      for (const account of keylessAccountsOf(app, args.resources)) {
        if (known(() => account.props.allowSharedKeyAccess !== false, false)) {
          reportViolation(
            `${app.name} signs keyless for ${account.name}, which still allows Shared Key: set ` +
              "allowSharedKeyAccess to false on it.",
            account.urn,
          );
        }
      }
    }
  },
};

/** Whether a site has the app setting, even when a preview does not know its value yet. */
function hasAppSetting(app: PolicyResource, name: string): boolean {
  return known(() => {
    const settings = (app.props.siteConfig as { appSettings?: { name?: string }[] } | undefined)?.appSettings;
    return settings?.some((setting) => setting.name === name) ?? false;
  }, false);
}

/** The storage account(s) a keyless app signs for, found as keylessAccountRefusesSharedKey says. */
function keylessAccountsOf(app: PolicyResource, resources: readonly PolicyResource[]): PolicyResource[] {
  const url = appSetting(app, SETTING.accountUrl);
  if (typeof url === "string" && URL.canParse(url)) {
    const accountName = new URL(url).hostname.split(".")[0];
    const named = resources.filter(
      (resource) =>
        resource.type === TYPE.storageAccount && known(() => resource.props.name === accountName, false),
    );
    if (named.length > 0) return named;
  }
  return (app.propertyDependencies.siteConfig ?? []).filter(
    (resource) =>
      resource.type === TYPE.storageAccount &&
      grantedAmong(resources, [ROLE.storageBlobDelegator], app, [resource]),
  );
}

/** The object under the policy SDK's proxies, where secrets are still `Secret` instances. */
function unproxied(value: unknown): unknown {
  let current = value as Record<string, unknown> | undefined;
  while (current?.__isSpecialProxy === true)
    current = current.__getSpecialProxyTarget as Record<string, unknown>;
  return current;
}

/** A copy with every plaintext string carrying an account key made secret, or undefined when there is none. */
function withSecretKeys(value: unknown): unknown {
  if (value instanceof Secret) return undefined;
  if (typeof value === "string") return value.includes("AccountKey=") ? new Secret(value) : undefined;
  if (Array.isArray(value)) {
    const items = value.map(withSecretKeys);
    return items.some((item) => item !== undefined)
      ? value.map((item, index) => items[index] ?? item)
      : undefined;
  }
  if (typeof value === "object" && value !== null && Object.getPrototypeOf(value) === Object.prototype) {
    const entries = Object.entries(value).map(([key, item]) => [key, item, withSecretKeys(item)] as const);
    return entries.some(([, , fixed]) => fixed !== undefined)
      ? Object.fromEntries(entries.map(([key, item, fixed]) => [key, fixed ?? item]))
      : undefined;
  }
  return undefined;
}

/**
 * The policy SDK hands validations plain values (secretness removed); only remediations see `Secret`s. So
 * this one remediates: any input string carrying `AccountKey=` that is not secret is made secret before it
 * reaches the state, and the preview lists the remediation.
 */
const accountKeysSecret: ResourceValidationPolicy = {
  name: "account-keys-are-secret",
  description: "Any resource input that carries an account key (AccountKey=) is a secret.",
  enforcementLevel: "remediate",
  remediateResource: (args) => withSecretKeys(unproxied(args.props)) as Record<string, unknown> | undefined,
};

/**
 * The issuer's discovery document and keys decide who may upload; fetched over http they could be swapped on
 * the way. The program refuses an http `valet:authIssuer` already; this catches an app setting from anywhere.
 * https://openid.net/specs/openid-connect-discovery-1_0.html#IssuerDiscovery
 */
const authIssuerHttps: ResourceValidationPolicy = {
  name: "auth-issuer-https",
  description: "A Function App that requires sign-in trusts an https OpenID Connect issuer only.",
  enforcementLevel: "mandatory",
  validateResource: (args, reportViolation) => {
    if (args.type !== TYPE.webApp) return;
    const settings = (
      args.props.siteConfig as { appSettings?: { name?: string; value?: unknown }[] } | undefined
    )?.appSettings;
    const issuer = settings?.find((setting) => setting.name === SETTING.authIssuer)?.value;
    if (typeof issuer === "string" && !issuer.trim().toLowerCase().startsWith("https://")) {
      reportViolation(
        `${SETTING.authIssuer} must be an https URL: an http issuer's keys can be replaced in transit.`,
      );
    }
  },
};

export const resourcePolicies: readonly ResourceValidationPolicy[] = [
  authIssuerHttps,
  flexSiteProperties,
  flexAppSettings,
  hostDiagnosticEventsOff,
  storageHttpsOnly,
  storageTls,
  storageNoPublicBlobs,
  privateContainers,
  corsNoWildcard,
  corsLimits,
  rolesFromTheList,
  accountKeysSecret,
];

export const stackPolicies: readonly StackValidationPolicy[] = [
  rolesBeforePublish,
  eventDeliveryRolesFirst,
  keylessAccountRefusesSharedKey,
];
