// The stored access policies every token references: one per token kind and key generation, kept on the
// uploads container by the function itself. Raising the generation revokes every token already issued.
//
// Why the function, and not a Pulumi dynamic resource at deploy time: stored access policies are set with
// Set Container ACL, which azure-native's BlobContainer does not expose, with the account key. The function
// already holds that key (UPLOADS_CONNECTION_STRING) and runs the same code in Azure, in `npm start` and
// against Azurite in the tests; a dynamic resource would carry the key into its serialized provider or its
// inputs, where secrets have leaked to state before (pulumi/pulumi#8265, and #3012 for secret outputs), and
// would need the deployer to reach the data plane. A new generation is an app setting change, which restarts
// the app, so each instance checks once as it starts: one Get Container ACL when the policies are in place.
// https://github.com/pulumi/pulumi/issues/8265
// https://learn.microsoft.com/azure/app-service/configure-common#configure-app-settings (a change restarts the app)
import {
  BlobSASPermissions,
  type ContainerClient,
  ContainerSASPermissions,
  RestError,
  type SignedIdentifier,
} from "@azure/storage-blob";
import { storageFailureCause, type UploadsAccount, uploadsServiceClient } from "../platform/uploadsAccount";

/**
 * What each kind of token may do. The permission lives in the policy, not in the token: a field may be in
 * one or the other, and Azure refuses a request whose token repeats a field its policy has
 * (https://learn.microsoft.com/rest/api/storageservices/define-stored-access-policy). A policy's permission
 * applies to every token that names it, so each permission set has a policy of its own.
 *
 * Container tokens: create only. The holder can add new blobs with a single Put Blob but not read, list,
 * overwrite or delete any.
 * https://learn.microsoft.com/rest/api/storageservices/create-service-sas#permissions-for-a-blob
 *
 * Per-upload tokens: write only. A browser uploads large files in blocks, and Put Block and Put Block
 * List are refused with create alone (measured against Azurite, test/integration/uploadTokens.test.ts);
 * write also covers the single Put Blob. Write lets the holder replace that one blob, but the blob is
 * named by the server, the token reaches no other name, and it lives minutes.
 */
export const TOKEN_POLICIES = {
  container: { suffix: "c", permissions: ContainerSASPermissions.from({ create: true }).toString() },
  upload: { suffix: "w", permissions: BlobSASPermissions.from({ write: true }).toString() },
} as const;

export type TokenKind = keyof typeof TOKEN_POLICIES;

/**
 * A container holds at most five stored access policies; Set Container ACL refuses a sixth with 400.
 * https://learn.microsoft.com/rest/api/storageservices/define-stored-access-policy#create-or-modify-a-stored-access-policy
 */
export const MAX_POLICIES_PER_CONTAINER = 5;

/** Policies this function manages are named `valet-g<generation>-<c|w>`; any other policy is left as it is. */
const POLICY_ID = /^valet-g(\d+)-([a-z])$/;

/** The policy a token of this kind and generation names in its `si` field (at most 64 characters). */
export function policyId(generation: number, kind: TokenKind): string {
  return `valet-g${generation}-${TOKEN_POLICIES[kind].suffix}`;
}

/**
 * The generation's policies: a permission each, no start and no expiry, so that each token carries its own
 * expiry (`se`) and no start time.
 */
export function generationPolicies(generation: number): SignedIdentifier[] {
  return (Object.keys(TOKEN_POLICIES) as TokenKind[]).map((kind) => ({
    id: policyId(generation, kind),
    accessPolicy: { permissions: TOKEN_POLICIES[kind].permissions },
  }));
}

/**
 * The container's policies cannot serve this instance: a 500. The message, for the log, says what to do
 * with the numbers; `summary`, for an anonymous caller, names the problem and quotes no value.
 */
export class AccessPolicyError extends Error {
  override name = "AccessPolicyError";
  constructor(
    message: string,
    readonly summary: string,
  ) {
    super(message);
  }
}

export type AccessPolicyPlan =
  | { readonly kind: "current" }
  | { readonly kind: "write"; readonly policies: SignedIdentifier[] }
  | { readonly kind: "superseded"; readonly newest: number };

/**
 * What to store so that the container holds exactly this generation's policies: the other policies are
 * kept as they are, older generations of ours are dropped (which revokes their tokens), and a newer
 * generation is never touched: an instance still running an older setting must not bring revoked
 * tokens back.
 */
export function planAccessPolicies(
  current: readonly SignedIdentifier[],
  generation: number,
  setting: string,
): AccessPolicyPlan {
  const ours = current.filter((policy) => POLICY_ID.test(policy.id));
  const others = current.filter((policy) => !POLICY_ID.test(policy.id));
  const newest = Math.max(0, ...ours.map((policy) => Number(POLICY_ID.exec(policy.id)?.[1])));
  if (newest > generation) return { kind: "superseded", newest };
  const wanted = generationPolicies(generation);
  if (others.length + wanted.length > MAX_POLICIES_PER_CONTAINER) {
    throw new AccessPolicyError(
      `The uploads container holds ${others.length} stored access policies of its own and Azure allows ` +
        `${MAX_POLICIES_PER_CONTAINER}; tokens need ${wanted.length}: delete ${others.length + wanted.length - MAX_POLICIES_PER_CONTAINER} ` +
        `of them (az storage container policy list/delete), or ${setting} cannot take effect.`,
      "the uploads container holds too many stored access policies of its own.",
    );
  }
  const isCurrent =
    ours.length === wanted.length &&
    wanted.every((want) =>
      ours.some(
        (have) =>
          have.id === want.id &&
          have.accessPolicy.permissions === want.accessPolicy.permissions &&
          have.accessPolicy.startsOn === undefined &&
          have.accessPolicy.expiresOn === undefined,
      ),
    );
  return isCurrent ? { kind: "current" } : { kind: "write", policies: [...others, ...wanted] };
}

/** How long a lease on the container lasts (15 to 60 s): if its holder dies, others wait at most this. */
const LEASE_SECONDS = 15;
const LEASE_WAIT_MS = 250;

/**
 * Makes the container hold this generation's policies, safe with any number of instances doing the same:
 * Set Container ACL replaces the whole list, so each write is a read-modify-write under a lease on the
 * container. Set Container ACL with `x-ms-lease-id` only succeeds while that lease is active, and only one
 * holder can have it; a container lease blocks nothing else but deleting the container, so uploads go on.
 * Set Container ACL offers no ETag condition, only If-(Un)Modified-Since at one-second precision.
 * https://learn.microsoft.com/rest/api/storageservices/set-container-acl#request-headers
 * https://learn.microsoft.com/rest/api/storageservices/lease-container
 * The common case, policies already in place, costs one Get Container ACL and takes no lease.
 * Azure applies a written list within 30 seconds: until then the new policies' tokens may get 403 and the
 * deleted ones' may still work; nothing here waits for it (docs/security.md says so to the operator).
 * https://learn.microsoft.com/rest/api/storageservices/define-stored-access-policy#create-or-modify-a-stored-access-policy
 */
export async function ensureAccessPolicies(
  container: ContainerClient,
  generation: number,
  setting: string,
): Promise<"current" | "written"> {
  const first = planAccessPolicies(
    (await container.getAccessPolicy()).signedIdentifiers,
    generation,
    setting,
  );
  if (first.kind === "current") return "current";
  if (first.kind === "superseded") throw superseded(setting, generation, first.newest);
  const lease = container.getBlobLeaseClient();
  await acquire(lease);
  try {
    const conditions = { leaseId: lease.leaseId };
    const acl = await container.getAccessPolicy({ conditions });
    const plan = planAccessPolicies(acl.signedIdentifiers, generation, setting);
    if (plan.kind === "superseded") throw superseded(setting, generation, plan.newest);
    if (plan.kind === "current") return "current";
    // Set Container ACL also sets the container's public access, and makes it private when the header is
    // left out: the level read under the lease is passed back unchanged.
    await container.setAccessPolicy(acl.blobPublicAccess, plan.policies, { conditions });
    return "written";
  } finally {
    await lease.releaseLease().catch(() => undefined);
  }
}

async function acquire(lease: ReturnType<ContainerClient["getBlobLeaseClient"]>): Promise<void> {
  const deadline = Date.now() + (LEASE_SECONDS + 5) * 1000;
  for (;;) {
    try {
      await lease.acquireLease(LEASE_SECONDS);
      return;
    } catch (error) {
      // 409 LeaseAlreadyPresent: another instance is writing; it holds the lease for one short exchange.
      if (!(error instanceof RestError && error.statusCode === 409) || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, LEASE_WAIT_MS * (0.5 + Math.random())));
    }
  }
}

function superseded(setting: string, generation: number, newest: number): AccessPolicyError {
  return new AccessPolicyError(
    `${setting} is ${generation}, but the uploads container already holds generation ${newest}'s policies: ` +
      `this instance's tokens were revoked. Set ${setting} to ${newest} or higher.`,
    `${setting} is older than the generation the uploads container holds.`,
  );
}

export type AccessPolicyStatus =
  | { readonly kind: "ready" }
  /** Storage could not be reached: tokens are signed anyway (they work if the policy exists). */
  | { readonly kind: "unverified"; readonly reason: string; readonly at: number; reported: boolean }
  | { readonly kind: "refused"; readonly error: AccessPolicyError; readonly at: number; reported: boolean };

export interface PolicyTarget {
  readonly uploads: UploadsAccount;
  readonly container: string;
  readonly tokenGeneration: number;
}

/**
 * A check that failed is started again by the first request after this long (storage may be back, or the
 * operator may have fixed the container); that request and those before it go on with the last outcome,
 * and each outcome is logged once.
 */
export const RECHECK_AFTER_MS = 10_000;

export type AccessPolicyCheck = (target: PolicyTarget, setting: string) => Promise<AccessPolicyStatus>;

/**
 * A signer's check of the container's policies: started once (at start-up, or by the first request) and
 * kept, so only requests that arrive while the first check runs wait for it. The signer is kept per instance
 * (instance.ts), and so is this.
 */
export function keptAccessPolicyStatus(
  target: PolicyTarget,
  setting: string,
  check: AccessPolicyCheck = checkContainer,
): () => Promise<AccessPolicyStatus> {
  let kept: Promise<AccessPolicyStatus> | undefined;
  return async () => {
    kept ??= check(target, setting);
    const seen = kept;
    const status = await seen;
    if (status.kind !== "ready" && Date.now() - status.at >= RECHECK_AFTER_MS && kept === seen) {
      kept = check(target, setting);
    }
    return status;
  };
}

/** The check against storage: the container's stored access policies are set if they are not. */
export async function checkContainer(target: PolicyTarget, setting: string): Promise<AccessPolicyStatus> {
  try {
    // Few, short tries: a request may be waiting, and a failed check is tried again later anyway.
    const container = uploadsServiceClient(target.uploads, {
      retryOptions: { maxTries: 2, retryDelayInMs: 200, tryTimeoutInMs: 5_000 },
    }).getContainerClient(target.container);
    await ensureAccessPolicies(container, target.tokenGeneration, setting);
    return { kind: "ready" };
  } catch (error) {
    if (error instanceof AccessPolicyError)
      return { kind: "refused", error, at: Date.now(), reported: false };
    return { kind: "unverified", reason: storageFailureCause(error), at: Date.now(), reported: false };
  }
}
