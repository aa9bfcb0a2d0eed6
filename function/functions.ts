// The function app's HTTP functions and their options: registered with the Functions runtime by index.ts
// and served by the local host from this same table.
import type { HttpFunctionOptions } from "@azure/functions";
import { CREDENTIALS_METHODS, credentials } from "./credentials";
import { CREDENTIALS_ROUTE } from "./routes";

export interface RoutedHttpFunction extends HttpFunctionOptions {
  /** The path after `/api/`. */
  route: string;
}

/** `satisfies`, not a type annotation: each entry stays known, so `httpFunctions.credentials` is defined. */
export const httpFunctions = {
  credentials: {
    route: CREDENTIALS_ROUTE,
    methods: [...CREDENTIALS_METHODS],
    authLevel: "anonymous",
    handler: credentials,
  },
} satisfies Readonly<Record<string, RoutedHttpFunction>>;
