// Publishing the function's code: the code here runs in two processes. The program constructs the
// FunctionDeployment component (deploy.ts); Pulumi serializes its dynamic provider, with everything the
// provider calls (oneDeploy.ts, deployCredential.ts), into a provider process of its own that runs on the
// machine of `pulumi up` at deploy time.
// https://www.pulumi.com/docs/iac/concepts/providers/dynamic-providers/
// That is why this folder, alone in infra/, reads its process's environment: the provider's process has no
// stack config, and its environment is the sign-in of whoever deploys (a laptop's `az login`, a CI job's
// OIDC variables), the same environment the azure-native provider signs in with. The program's own code
// outside this folder takes everything from stack config or its caller's arguments.
// https://www.pulumi.com/registry/packages/azure-native/installation-configuration/
export { FunctionDeployment } from "./deploy";
