// The local function host: CORS for the configured origins, methods, routes and their templates, hostile
// requests, and faults.
import { Agent, request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startFunctionHost } from "../../local/functionHost";
import { freePort } from "../../local/ports";
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

describe("route templates", () => {
  test("a {parameter} segment reaches the function decoded, and literal segments match without regard to case", async () => {
    const response = await fetch(`${stack.apiUrl}/UPLOADS/a%20b.png`);
    // The status function got "a b.png" (decoded) and refused the space in it.
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: string }).error).toContain("The blob name must be");
  });

  test.each(["uploads", "uploads/", "uploads/a.png/more"])("%s matches no function: 404", async (path) => {
    const response = await fetch(`${stack.apiUrl}/${path}`);
    expect(response.status).toBe(404);
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

interface Exchange {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** Whether the request went over a connection an earlier request had used. */
  reusedSocket: boolean;
}

/**
 * One request with node:http, which (unlike fetch) sends any method and a body with GET. `body` is
 * written as given; `end: false` leaves the request unfinished, as a slow or vanished client would.
 */
function exchange(
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: Buffer[]; end?: boolean; agent?: Agent },
): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: init.method ?? "GET", headers: init.headers, agent: init.agent });
    req.once("error", reject);
    req.once("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.once("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString(),
          reusedSocket: req.reusedSocket,
        }),
      );
    });
    for (const chunk of init.body ?? []) req.write(chunk);
    if (init.end !== false) req.end();
  });
}

/** Sends raw bytes on a new connection; resolves with everything the server sent before closing or after waitMs. */
function raw(port: number, text: string, waitMs = 1_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => socket.write(text));
    let received = "";
    socket.on("data", (chunk) => {
      received += chunk.toString();
    });
    socket.once("error", reject);
    socket.once("close", () => resolve(received));
    setTimeout(() => {
      socket.destroy();
      resolve(received);
    }, waitMs);
  });
}

const mebibytes = (n: number) => Buffer.alloc(n * 1024 * 1024, 0x61);

describe("hostile requests", () => {
  test.each(["bad host", "a/b", "user@evil.example", "[::1", "", "a:b:c"])(
    "a malformed Host header %j gets 400 with a JSON error",
    async (host) => {
      const port = Number(new URL(stack.apiUrl).port);
      const response = await raw(
        port,
        `GET /api/credentials HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
      );
      expect(response).toMatch(/^HTTP\/1\.1 400 /);
      expect(response).toContain('{"error":"The Host header or the request target is malformed."}');
    },
  );

  test("a well-formed Host header names the URL the function sees", async () => {
    const port = Number(new URL(stack.apiUrl).port);
    const response = await raw(
      port,
      "GET /api/credentials HTTP/1.1\r\nHost: localhost:1234\r\nConnection: close\r\n\r\n",
    );
    expect(response).toMatch(/^HTTP\/1\.1 200 /);
  });

  test.each(["TRACE", "HEAD", "OPTIONS"])("%s gets 405 with an Allow header", async (method) => {
    const response = await exchange(stack.credentialsUrl, { method });
    expect(response.status).toBe(405);
    expect(response.headers.allow).toBe("GET");
    if (method !== "HEAD")
      expect(JSON.parse(response.body)).toEqual({ error: `Method ${method} is not allowed: use GET.` });
  });

  test("the method is refused before the body is read", { timeout: 10_000 }, async () => {
    const response = await exchange(stack.credentialsUrl, {
      method: "POST",
      headers: { "Content-Length": "1000" },
      body: [Buffer.from("only a little")],
      end: false,
    });
    expect(response.status).toBe(405);
  });

  test.each([
    ["a declared body", { "Content-Length": String(2 * 1024 * 1024) }, [mebibytes(2)]],
    ["a chunked body that grows", { "Transfer-Encoding": "chunked" }, [mebibytes(1), mebibytes(1)]],
  ])("%s over 1 MiB gets 413, and the connection carries the next request", async (_name, headers, body) => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const tooLarge = await exchange(stack.credentialsUrl, { headers, body, agent });
      expect(tooLarge.status).toBe(413);
      expect(JSON.parse(tooLarge.body)).toEqual({ error: "Request bodies are limited to 1048576 bytes." });
      const next = await exchange(stack.credentialsUrl, { agent });
      expect(next.status).toBe(200);
      expect(next.reusedSocket).toBe(true);
    } finally {
      agent.destroy();
    }
  });

  test("a body that does not arrive in time gets 408 and the connection is closed", async () => {
    const port = await freePort();
    const host = await startFunctionHost({ port, allowedOrigins: [], limits: { bodyTimeoutMs: 300 } });
    try {
      const started = Date.now();
      const response = await raw(
        port,
        "GET /api/credentials HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\nonly ten b",
        5_000,
      );
      expect(response).toMatch(/^HTTP\/1\.1 408 /);
      expect(response).toContain('{"error":"The request body did not arrive in time."}');
      // raw() resolved on the server's close, long before its own 5 s.
      expect(Date.now() - started).toBeLessThan(4_000);
    } finally {
      await host.stop();
    }
  });

  test("a client that goes away mid-body is logged as information, not as an error", async () => {
    const port = Number(new URL(stack.apiUrl).port);
    const before = stack.logs.length;
    await raw(
      port,
      "GET /api/credentials HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\nonly ten b",
      200,
    );
    await expect
      .poll(() => stack.logs.slice(before).filter((line) => line.includes("closed the connection")))
      .toHaveLength(1);
    const lines = stack.logs.slice(before);
    expect(lines.filter((line) => line.startsWith("[error]"))).toEqual([]);
    expect(lines[0]).toMatch(/^\[information\] /);
  });
});
