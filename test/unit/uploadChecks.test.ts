// The check's two functions over @azure/functions test objects, without storage: the status endpoint's
// refusals and the queue function's handling of messages it cannot use and of a misconfigured instance.
import { HttpRequest, HttpResponse, InvocationContext } from "@azure/functions";
import { afterEach, describe, expect, test } from "vitest";
import { SETTING } from "../../function/contract/appSettings";
import { httpFunctions, queueFunctions } from "../../function/functions";
import { configureInstance } from "../../function/platform/instance";
import { connectionStrings, TEST_KEY } from "../support/accounts";

/** Every app setting, connection prefixes' `<prefix>__…` forms included. */
function clearSettings(): void {
  for (const name of Object.keys(process.env)) {
    if (Object.values(SETTING).some((setting) => name === setting || name.startsWith(`${setting}__`))) {
      delete process.env[name];
    }
  }
}

/** A fresh instance reading the process environment with the given app settings. */
async function instance(env: Record<string, string | undefined>) {
  clearSettings();
  for (const [name, value] of Object.entries(env)) if (value !== undefined) process.env[name] = value;
  configureInstance(process.env);
  return { httpFunctions, queueFunctions };
}

afterEach(clearSettings);

function context(logs: Array<{ level: string; message: string }>, triggerMetadata?: Record<string, unknown>) {
  return new InvocationContext({
    invocationId: "test-invocation",
    functionName: "test",
    logHandler: (level, ...args) => logs.push({ level, message: args.map(String).join(" ") }),
    triggerMetadata,
  });
}

async function status(blobName: string, env: Record<string, string | undefined>) {
  const { httpFunctions } = await instance(env);
  const logs: Array<{ level: string; message: string }> = [];
  const request = new HttpRequest({
    method: "GET",
    url: `http://127.0.0.1:7071/api/uploads/${encodeURIComponent(blobName)}`,
    params: { blobName },
  });
  const response = new HttpResponse(await httpFunctions.uploadStatus.handler(request, context(logs)));
  return {
    status: response.status,
    headers: response.headers,
    body: JSON.parse(await response.text()),
    logs,
  };
}

const ACCOUNT = { [SETTING.connectionString]: connectionStrings.azureWithoutSuffix };

describe("GET /api/uploads/{blobName}", () => {
  test("a malformed name gets 400 before any setting or storage is needed", async () => {
    const answer = await status("../images/x.png", {});
    expect(answer.status).toBe(400);
    expect(answer.headers.get("cache-control")).toBe("no-store");
    expect(answer.body.error).toMatch(/^The blob name must be 1 to 255 letters/);
  });

  test("without VALIDATION_STORAGE the answer is a 500 naming the setting, and the log says the same", async () => {
    const answer = await status("a.png", ACCOUNT);
    expect(answer.status).toBe(500);
    expect(answer.body.error).toContain(
      "VALIDATION_STORAGE__tableServiceUri (or VALIDATION_STORAGE, a connection string) is not set",
    );
    expect(answer.logs.map((line) => JSON.parse(line.message))).toContainEqual(
      expect.objectContaining({ event: "settings.invalid", setting: SETTING.validationStorage }),
    );
  });

  test("a table service URI that is not https is refused by name, as the limits' is", async () => {
    const answer = await status("a.png", {
      ...ACCOUNT,
      VALIDATION_STORAGE__tableServiceUri: "http://x.example",
    });
    expect(answer.status).toBe(500);
    expect(answer.body.error).toContain(
      "VALIDATION_STORAGE__tableServiceUri must be a table service https URL",
    );
  });

  test("no answer or log line quotes the account key", async () => {
    const answer = await status("a.png", ACCOUNT);
    expect(JSON.stringify(answer)).not.toContain(TEST_KEY);
  });
});

describe("the validateUpload queue function", () => {
  const validate = async (message: unknown, env: Record<string, string | undefined>) => {
    const { queueFunctions } = await instance(env);
    const logs: Array<{ level: string; message: string }> = [];
    const outcome = await Promise.resolve(
      queueFunctions.validateUpload.handler(message, context(logs, { id: "message-1" })),
    ).then(
      () => "acknowledged",
      (error: unknown) => `thrown ${(error as Error).name}`,
    );
    return { outcome, logs: logs.map((line) => ({ level: line.level, ...JSON.parse(line.message) })) };
  };

  test("is registered on the uploads-created queue under the VALIDATION_STORAGE connection", async () => {
    const { queueFunctions } = await instance({});
    expect(queueFunctions.validateUpload).toMatchObject({
      queueName: "uploads-created",
      connection: "VALIDATION_STORAGE",
    });
  });

  test("acknowledges a message that is not an event, with an error line that says why", async () => {
    const result = await validate("hello", ACCOUNT);
    expect(result.outcome).toBe("acknowledged");
    expect(result.logs).toEqual([
      expect.objectContaining({
        level: "error",
        event: "validation.messageInvalid",
        message:
          "A message on the upload events' queue was dropped: the message is neither JSON nor base64 of JSON.",
        messageId: "message-1",
        invocationId: "test-invocation",
      }),
    ]);
  });

  test("leaves a sound event to be retried when the instance is misconfigured, and logs the setting", async () => {
    const event = {
      subject: "/blobServices/default/containers/images/blobs/a.png",
      eventType: "Microsoft.Storage.BlobCreated",
      id: "e",
      data: {
        api: "PutBlob",
        contentType: "image/png",
        contentLength: 10,
        blobType: "BlockBlob",
        eTag: "0x1",
        url: "u",
      },
    };
    const result = await validate(event, ACCOUNT);
    expect(result.outcome).toBe("thrown SettingsError");
    expect(result.logs).toContainEqual(
      expect.objectContaining({ event: "settings.invalid", setting: SETTING.validationStorage }),
    );
  });
});
