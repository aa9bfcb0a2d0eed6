// Types of pulumiMocks.cjs, the shared Pulumi mocks set-up.
import type * as pulumi from "@pulumi/pulumi";

export declare const SUBSCRIPTION_ID: string;
export declare const SECOND_KEY: string;

type Inputs = Record<string, unknown>;

export interface RecordedResource {
  type: string;
  name: string;
  inputs: Inputs;
  /** The state the mock answered with (inputs plus the outputs Azure would compute). */
  state: Inputs;
  /** Filled in once the registration completes. */
  urn?: string;
  parent?: string;
  dependencies?: string[];
  propertyDependencies?: Record<string, string[]>;
  /** Inputs whose changes the engine is told to ignore. */
  ignoreChanges?: string[];
  /** Old logical names the resource answers to. */
  aliases?: string[];
  /** Every alias as sent to the engine: empty strings are the fields left to their current value. */
  aliasSpecs?: { name: string; type: string; parentUrn: string; noParent: boolean }[];
}

export interface MocksRecord {
  resources: RecordedResource[];
  invokes: { token: string; inputs: Inputs }[];
}

export interface MocksOptions {
  project: string;
  stack: string;
  preview?: boolean;
  state?: (type: string, name: string, inputs: Inputs) => Inputs;
  invokes?: Record<string, (inputs: Inputs) => Inputs>;
}

export declare function azureState(type: string, name: string, inputs: Inputs): Inputs;
export declare function azureInvokes(options: {
  accountKey: string;
  subscriptionId?: string;
}): Record<string, (inputs: Inputs) => Inputs>;
export declare function installMocks(pulumiSdk: typeof pulumi, options: MocksOptions): Promise<MocksRecord>;
