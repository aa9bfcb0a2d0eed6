// The local stack prepares storage for the settings the function really reads from the environment.
import { afterAll, beforeAll, expect, test } from "vitest";
import { SETTING } from "../../function/contract/appSettings";
import { startTestStack, type TestStack } from "../support/stack";
import { putBlob } from "../support/storage";

let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack({ [SETTING.container]: "photos" });
});
afterAll(() => stack?.stop());

test("a configured container is created and tokens are signed for it", async () => {
  expect(stack.container).toBe("photos");
  const response = await fetch(`${stack.credentialsUrl}?filename=a.png&contentType=image/png&size=1`);
  const body = (await response.json()) as { container: string; blobUrl: string; sasKey: string };
  expect(body.container).toBe("photos");
  expect(await putBlob(`${body.blobUrl}?${body.sasKey}`, "png bytes")).toBe(201);
});
