// A small local stand-in for the Functions host: maps Node HTTP requests to @azure/functions
// HttpRequest/InvocationContext objects, invokes the registered handlers from function/functions.ts, and
// answers CORS for the configured origins the way the Function App's platform CORS does.
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import {
  HttpRequest,
  HttpResponse,
  type HttpResponseInit,
  InvocationContext,
  type LogLevel,
} from "@azure/functions";
import { httpFunctions, type RoutedHttpFunction } from "../function/functions";
import { closeServer } from "./lifecycle";
import { assertPortFree } from "./ports";

export interface FunctionHostOptions {
  host?: string;
  port: number;
  /** Origins answered with CORS headers; `*` allows any. */
  allowedOrigins: readonly string[];
  /** Where the functions' log lines go (one line each); silent when omitted. */
  log?: (line: string) => void;
  portVariable?: string;
}

export interface FunctionHost {
  /** Base URL of the HTTP functions, e.g. http://127.0.0.1:7071/api */
  readonly apiUrl: string;
  stop(): Promise<void>;
}

const ROUTE_PREFIX = "/api/";
const MAX_BODY_BYTES = 1024 * 1024;
const PREFLIGHT_MAX_AGE_SECONDS = "3600";

export async function startFunctionHost(options: FunctionHostOptions): Promise<FunctionHost> {
  const host = options.host ?? "127.0.0.1";
  await assertPortFree(host, options.port, "function host", options.portVariable);
  // One log handler for every invocation: the lines need nothing from the request.
  const logHandler = (level: LogLevel, ...args: unknown[]) =>
    options.log?.(`[${level}] ${args.map(String).join(" ")}`);
  const server = createServer((req, res) => {
    handle(req, res, options, logHandler).catch((error: unknown) => {
      options.log?.(`[error] unhandled failure in the function host: ${(error as Error).message}`);
      if (!res.headersSent) send(res, 500, { error: "The function failed unexpectedly." });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host, port: options.port }, () => resolve());
  });
  return { apiUrl: `http://${host}:${options.port}/api`, stop: () => closeServer(server) };
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  options: FunctionHostOptions,
  logHandler: (level: LogLevel, ...args: unknown[]) => void,
): Promise<void> {
  const url = new URL(req.url ?? "/", `http://${req.headers.host ?? "127.0.0.1"}`);
  const origin = req.headers.origin;
  const originAllowed = origin !== undefined && isAllowedOrigin(origin, options.allowedOrigins);
  const corsHeaders: Record<string, string> = originAllowed
    ? { "Access-Control-Allow-Origin": origin, Vary: "Origin" }
    : {};

  const fn = findFunction(url.pathname);
  if (!fn) {
    send(res, 404, { error: `No function at ${url.pathname}.` }, corsHeaders);
    return;
  }
  const methods = fn.methods ?? [];
  const requestedMethod = req.headers["access-control-request-method"];
  if (req.method === "OPTIONS" && origin !== undefined && typeof requestedMethod === "string") {
    if (!originAllowed || !methods.includes(requestedMethod.toUpperCase() as never)) {
      send(res, 403, { error: "This origin or method is not allowed by the function app's CORS settings." });
      return;
    }
    res.writeHead(204, {
      ...corsHeaders,
      "Access-Control-Allow-Methods": methods.join(", "),
      "Access-Control-Allow-Headers": req.headers["access-control-request-headers"] ?? "",
      "Access-Control-Max-Age": PREFLIGHT_MAX_AGE_SECONDS,
    });
    res.end();
    return;
  }

  const body = hasBody(req) ? await readBody(req) : NO_BODY;
  if (body === undefined) {
    send(res, 413, { error: `Request bodies are limited to ${MAX_BODY_BYTES} bytes.` }, corsHeaders);
    return;
  }
  const request = new HttpRequest({
    method: req.method ?? "GET",
    url: url.href,
    headers: {
      ...flattenHeaders(req),
      // As the platform's front end does, report the caller's address to the function.
      "x-forwarded-for": req.socket.remoteAddress ?? "",
    },
    body: { bytes: body },
  });
  const invocationId = randomUUID();
  const context = new InvocationContext({
    invocationId,
    functionName: fn.route,
    logHandler,
  });
  const response = await toWire(await fn.handler(request, context));
  res.writeHead(response.status, { ...corsHeaders, ...response.headers });
  res.end(response.body);
}

interface WireResponse {
  status: number;
  headers: Record<string, string>;
  body: string | Buffer;
}

/** Statuses whose responses have no body (the fetch spec's null body statuses). */
const NULL_BODY_STATUSES = new Set([204, 205, 304]);

/**
 * What @azure/functions' HttpResponse makes of the handler's result. A JSON body, the usual case, is
 * serialized directly, exactly as HttpResponse would (JSON.stringify, `content-type: application/json`
 * unless the handler set one), without the web stream HttpResponse builds around it: that stream cost
 * more per request than issuing the token. Anything else goes through HttpResponse itself.
 */
async function toWire(result: HttpResponseInit | HttpResponse): Promise<WireResponse> {
  if (!(result instanceof HttpResponse) && result.jsonBody !== undefined) {
    const status = result.status ?? 200;
    if (status >= 200 && status <= 599 && !NULL_BODY_STATUSES.has(status)) {
      const headers = new Headers(result.headers);
      if (!headers.has("content-type")) headers.set("content-type", "application/json");
      return { status, headers: Object.fromEntries(headers), body: JSON.stringify(result.jsonBody) };
    }
  }
  const response = result instanceof HttpResponse ? result : new HttpResponse(result);
  const headers: Record<string, string> = {};
  response.headers.forEach((value, key) => {
    headers[key] = value;
  });
  return { status: response.status, headers, body: Buffer.from(await response.arrayBuffer()) };
}

function findFunction(pathname: string): RoutedHttpFunction | undefined {
  if (!pathname.startsWith(ROUTE_PREFIX)) return undefined;
  const route = pathname.slice(ROUTE_PREFIX.length).replace(/\/$/, "");
  return Object.values(httpFunctions).find((fn) => fn.route.toLowerCase() === route.toLowerCase());
}

function isAllowedOrigin(origin: string, allowed: readonly string[]): boolean {
  return allowed.includes("*") || allowed.includes(origin);
}

function flattenHeaders(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [key, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[key] = Array.isArray(value) ? value.join(", ") : value;
  }
  return headers;
}

const NO_BODY = new Uint8Array(0);

/** A request has a body only when it says so with Content-Length or Transfer-Encoding (RFC 9112 §6). */
function hasBody(req: IncomingMessage): boolean {
  return req.headers["content-length"] !== undefined || req.headers["transfer-encoding"] !== undefined;
}

/** The body, or undefined when it is larger than MAX_BODY_BYTES. */
async function readBody(req: IncomingMessage): Promise<Uint8Array | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { ...headers, "Content-Type": "application/json", "Cache-Control": "no-store" });
  res.end(JSON.stringify(body));
}
