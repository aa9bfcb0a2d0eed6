// The local function host: CORS for the configured origins, methods, routes, and faults.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startFunctionHost } from "../../local/functionHost";
import { ALLOWED_ORIGIN, startTestStack, type TestStack } from "../support/stack";

let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.stop();
});

describe("the function host's CORS", () => {
  test("answers a preflight from an allowed origin", async () => {
    const response = await fetch(stack.credentialsUrl, {
      method: "OPTIONS",
      headers: { Origin: ALLOWED_ORIGIN, "Access-Control-Request-Method": "GET" },
    });
    expect(response.status).toBe(204);
    expect(response.headers.get("access-control-allow-origin")).toBe(ALLOWED_ORIGIN);
    expect(response.headers.get("access-control-allow-methods")).toBe("GET");
  });

  test("refuses a preflight from another origin", async () => {
    const response = await fetch(stack.credentialsUrl, {
      method: "OPTIONS",
      headers: { Origin: "https://evil.example.com", "Access-Control-Request-Method": "GET" },
    });
    expect(response.status).toBe(403);
    expect(response.headers.get("access-control-allow-origin")).toBeNull();
  });

  test("marks a simple request from an allowed origin, and only that origin", async () => {
    const allowed = await fetch(stack.credentialsUrl, { headers: { Origin: ALLOWED_ORIGIN } });
    expect(allowed.headers.get("access-control-allow-origin")).toBe(ALLOWED_ORIGIN);
    const other = await fetch(stack.credentialsUrl, { headers: { Origin: "https://evil.example.com" } });
    expect(other.status).toBe(200);
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
  });
});

describe("requests the function does not serve", () => {
  test.each(["POST", "PUT", "DELETE"])("%s gets 405 with a JSON error", async (method) => {
    const response = await fetch(stack.credentialsUrl, { method });
    expect(response.status).toBe(405);
    expect(response.headers.get("allow")).toBe("GET");
    expect(await response.json()).toEqual({ error: `Method ${method} is not allowed: use GET.` });
  });

  test("an unknown route gets 404 with a JSON error", async () => {
    const response = await fetch(`${stack.apiUrl}/nothing-here`);
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ error: "No function at /api/nothing-here." });
  });
});

describe("start-up faults", () => {
  test("a port already in use gives an error naming the port", async () => {
    const busyPort = Number(new URL(stack.apiUrl).port);
    await expect(
      startFunctionHost({ port: busyPort, allowedOrigins: [], portVariable: "VALET_FUNCTION_PORT" }),
    ).rejects.toThrow(
      `Port ${busyPort} (function host) is already in use: stop what uses it or set VALET_FUNCTION_PORT to another port.`,
    );
  });
});
