// The function app's HTTP functions and their options: registered with the Functions runtime by index.ts
// and served by the local host from this same table.
import type { HttpFunctionOptions } from "@azure/functions";
import { CREDENTIALS_METHODS, credentials } from "./credentials";

export interface RoutedHttpFunction extends HttpFunctionOptions {
  /** The path after `/api/`. */
  route: string;
}

export const httpFunctions: Readonly<Record<string, RoutedHttpFunction>> = {
  credentials: {
    route: "credentials",
    methods: [...CREDENTIALS_METHODS],
    authLevel: "anonymous",
    handler: credentials,
  },
};
