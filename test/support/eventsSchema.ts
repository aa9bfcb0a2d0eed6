// docs/events.schema.json, compiled once: every completion event a test sees is checked against the contract
// the documentation publishes.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import Ajv2020 from "ajv/dist/2020";

const schema = JSON.parse(readFileSync(join(__dirname, "../../docs/events.schema.json"), "utf8")) as object;
const validate = new Ajv2020({ allErrors: true, strict: true }).compile(schema);

/** The schema's complaints about `event`, one line each; empty when it is valid. */
export function schemaErrors(event: unknown): string[] {
  if (validate(event)) return [];
  return (validate.errors ?? []).map((error) => `${error.instancePath || "/"} ${error.message ?? ""}`);
}
