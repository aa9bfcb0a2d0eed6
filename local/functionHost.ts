// A small local stand-in for the Functions host: maps Node HTTP requests to @azure/functions
// HttpRequest/InvocationContext objects, invokes the registered handlers from function/functions.ts, and
// answers CORS for the configured origins the way the Function App's platform CORS does. What never reaches
// a function (a malformed Host, a method it does not list, a body too large or too slow) is refused here.
// Queue-triggered functions from the same table run through the queue runner (queueRunner.ts).
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import {
  HttpRequest,
  HttpResponse,
  type HttpResponseInit,
  InvocationContext,
  type LogLevel,
} from "@azure/functions";
import type { Environment } from "../function/contract/appSettings";
import { functionTable, type RoutedHttpFunction } from "../function/functions";
import { closeServer } from "./lifecycle";
import { assertPortFree } from "./ports";
import { type QueueBehaviour, type QueueRunner, startQueueRunner } from "./queueRunner";

export interface FunctionHostOptions {
  host?: string;
  port: number;
  /** Origins answered with CORS headers; `*` allows any. */
  allowedOrigins: readonly string[];
  /** Where the functions' log lines go (one line each); silent when omitted. */
  log?: (line: string) => void;
  portVariable?: string;
  /** Bounds on a request body; the defaults suit the functions served, which read none. */
  limits?: Partial<RequestLimits>;
  /**
   * Runs the queue-triggered functions, each on the queue its `connection` setting names in `connections`
   * (a connection string); without this, or without that setting, a queue function does not run.
   */
  queues?: { connections: Environment; behaviour?: Partial<QueueBehaviour> };
}

export interface RequestLimits {
  /** Larger bodies get 413. */
  bodyBytes: number;
  /** A body not received this long after the headers gets 408 and the connection is closed. */
  bodyTimeoutMs: number;
}

export interface FunctionHost {
  /** Base URL of the HTTP functions, e.g. http://127.0.0.1:7071/api */
  readonly apiUrl: string;
  /** Names of the queue functions running. */
  readonly queueFunctions: readonly string[];
  /** Resolves once every queue function's queue is empty and nothing is running. */
  queuesIdle(): Promise<void>;
  stop(): Promise<void>;
}

const ROUTE_PREFIX = "/api/";
const PREFLIGHT_MAX_AGE_SECONDS = "3600";
/**
 * Tighter than the platform's (Kestrel: 30,000,000 bytes, and a body slower than 240 bytes/s after a 5 s
 * grace times out; the Functions HTTP trigger: 100 MB), since the function reads no body at all.
 * https://learn.microsoft.com/aspnet/core/fundamentals/servers/kestrel/options#maximum-request-body-size
 * https://learn.microsoft.com/azure/azure-functions/functions-bindings-http-webhook-trigger#limits
 */
const DEFAULT_LIMITS: RequestLimits = { bodyBytes: 1024 * 1024, bodyTimeoutMs: 10_000 };

export async function startFunctionHost(options: FunctionHostOptions): Promise<FunctionHost> {
  const host = options.host ?? "127.0.0.1";
  await assertPortFree(host, options.port, "function host", options.portVariable);
  // One log handler for every invocation: the lines need nothing from the request.
  const logHandler = (level: LogLevel, ...args: unknown[]) =>
    options.log?.(`[${level}] ${args.map(String).join(" ")}`);
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  const server = createServer((req, res) => {
    handle(req, res, { ...options, host, limits }, logHandler).catch((error: unknown) => {
      options.log?.(`[error] unhandled failure in the function host: ${(error as Error).message}`);
      if (!res.headersSent) send(res, 500, { error: "The function failed unexpectedly." });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host, port: options.port }, () => resolve());
  });
  const runners = startQueueFunctions(options);
  return {
    apiUrl: `http://${host}:${options.port}/api`,
    queueFunctions: [...runners.keys()],
    queuesIdle: async () => {
      await Promise.all([...runners.values()].map((runner) => runner.idle()));
    },
    stop: async () => {
      await Promise.all([closeServer(server), ...[...runners.values()].map((runner) => runner.stop())]);
    },
  };
}

function startQueueFunctions(options: FunctionHostOptions): Map<string, QueueRunner> {
  const runners = new Map<string, QueueRunner>();
  if (!options.queues) return runners;
  for (const [name, fn] of Object.entries(functionTable.storageQueue)) {
    const connectionString = options.queues.connections[fn.connection];
    if (!connectionString) {
      options.log?.(`[warning] the queue function ${name} does not run: ${fn.connection} is not set.`);
      continue;
    }
    runners.set(
      name,
      startQueueRunner({
        functionName: name,
        handler: fn.handler,
        connectionString,
        queueName: fn.queueName,
        behaviour: options.queues.behaviour,
        log: options.log,
      }),
    );
  }
  return runners;
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  options: FunctionHostOptions & { host: string; limits: RequestLimits },
  logHandler: (level: LogLevel, ...args: unknown[]) => void,
): Promise<void> {
  const url = requestUrl(req, `${options.host}:${options.port}`);
  if (!url) {
    // RFC 9112 §3.2: a Host header with an invalid value gets 400, as Kestrel answers it
    // (aspnet/KestrelHttpServer#1661).
    refuse(req, res, options.limits, 400, "The Host header or the request target is malformed.");
    return;
  }
  const origin = req.headers.origin;
  const originAllowed = origin !== undefined && isAllowedOrigin(origin, options.allowedOrigins);
  const corsHeaders: Record<string, string> = originAllowed
    ? { "Access-Control-Allow-Origin": origin, Vary: "Origin" }
    : {};

  const found = findFunction(url.pathname);
  if (!found) {
    refuse(req, res, options.limits, 404, `No function at ${url.pathname}.`, corsHeaders);
    return;
  }
  const { fn, params } = found;
  const methods = fn.methods ?? [];
  const requestedMethod = req.headers["access-control-request-method"];
  if (req.method === "OPTIONS" && origin !== undefined && typeof requestedMethod === "string") {
    if (!originAllowed || !methods.includes(requestedMethod.toUpperCase() as never)) {
      send(res, 403, { error: "This origin or method is not allowed by the function app's CORS settings." });
      return;
    }
    // Any request header is allowed (the page's X-Turnstile-Token, X-Valet-Pass, X-Valet-Resume-Secret), as
    // the Functions host's own CORS allows any on Flex Consumption: AllowAnyHeader() under
    // IsAnyLinuxConsumption(), which includes IsFlexConsumptionSku(). Source, not a documented promise.
    // https://github.com/Azure/azure-functions-host/blob/508d7414574d00851d199313188f4f3e69318437/src/WebJobs.Script.WebHost/Configuration/CorsOptionsSetup.cs
    res.writeHead(204, {
      ...corsHeaders,
      "Access-Control-Allow-Methods": methods.join(", "),
      "Access-Control-Allow-Headers": req.headers["access-control-request-headers"] ?? "",
      "Access-Control-Max-Age": PREFLIGHT_MAX_AGE_SECONDS,
    });
    res.end();
    return;
  }

  // The method is checked before any body is read, and before an HttpRequest exists: undici's Request,
  // which it wraps, throws on TRACE, CONNECT and TRACK. The Functions host itself answers 404 here
  // (Azure/azure-functions-host#10098); 405 with Allow is what RFC 9110 §15.5.6 asks for.
  const method = req.method ?? "GET";
  if (!methods.includes(method as never)) {
    refuse(req, res, options.limits, 405, `Method ${method} is not allowed: use ${methods.join(" or ")}.`, {
      ...corsHeaders,
      Allow: methods.join(", "),
    });
    return;
  }

  const body = hasBody(req) ? await readBody(req, options.limits) : NO_BODY;
  if (body === "aborted") {
    // A client may go away at any time; that is not a fault of the host.
    options.log?.(`[information] the client closed the connection before sending all of ${url.pathname}.`);
    return;
  }
  if (body === "timeout") {
    send(
      res,
      408,
      { error: "The request body did not arrive in time." },
      { ...corsHeaders, Connection: "close" },
    );
    res.once("finish", () => req.socket.destroy());
    return;
  }
  if (body === "too-large") {
    refuse(
      req,
      res,
      options.limits,
      413,
      `Request bodies are limited to ${options.limits.bodyBytes} bytes.`,
      corsHeaders,
    );
    return;
  }
  const request = new HttpRequest({
    method,
    url: url.href,
    headers: {
      ...flattenHeaders(req),
      // As the platform's front end does, report the caller's address to the function.
      "x-forwarded-for": req.socket.remoteAddress ?? "",
    },
    body: { bytes: body },
    params,
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

/** The URL a request names: its Host header (or the listening address) and an origin-form target. */
function requestUrl(req: IncomingMessage, listening: string): URL | undefined {
  const host = req.headers.host ?? listening;
  const target = req.url ?? "/";
  if (!HOST.test(host) || !target.startsWith("/")) return undefined;
  return URL.canParse(`http://${host}${target}`) ? new URL(`http://${host}${target}`) : undefined;
}

/** `host[:port]` (RFC 9110 §7.2): a name or IPv4 address, or a bracketed IPv6 address. */
const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/**
 * The function whose route matches, and the route's parameters: literal segments match without regard to
 * case, `{name}` matches one whole segment (decoded), as ASP.NET Core routing does for the Functions host.
 * https://learn.microsoft.com/azure/azure-functions/functions-bindings-http-webhook-trigger#customize-the-http-endpoint
 */
function findFunction(
  pathname: string,
): { fn: RoutedHttpFunction; params: Record<string, string> } | undefined {
  if (!pathname.startsWith(ROUTE_PREFIX)) return undefined;
  const segments = pathname.slice(ROUTE_PREFIX.length).replace(/\/$/, "").split("/");
  for (const fn of Object.values(functionTable.http) as RoutedHttpFunction[]) {
    const pattern = fn.route.split("/");
    if (pattern.length !== segments.length) continue;
    const params: Record<string, string> = {};
    const matches = pattern.every((part, index) => {
      const segment = segments[index] ?? "";
      const parameter = /^\{(\w+)\}$/.exec(part)?.[1];
      if (!parameter) return part.toLowerCase() === segment.toLowerCase();
      if (segment === "") return false;
      try {
        params[parameter] = decodeURIComponent(segment);
      } catch {
        return false;
      }
      return true;
    });
    if (matches) return { fn, params };
  }
  return undefined;
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

/**
 * The body; "too-large" as soon as it passes the limit (the rest is left to drain), "timeout" when it
 * has not all arrived in time, "aborted" when the client went away first.
 */
function readBody(
  req: IncomingMessage,
  limits: RequestLimits,
): Promise<Uint8Array | "too-large" | "timeout" | "aborted"> {
  const declared = Number(req.headers["content-length"]);
  if (declared > limits.bodyBytes) return Promise.resolve("too-large");
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (result: Uint8Array | "too-large" | "timeout" | "aborted") => {
      clearTimeout(timer);
      req.off("data", onData).off("end", onEnd).off("close", onClose);
      resolve(result);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limits.bodyBytes) finish("too-large");
      else chunks.push(chunk);
    };
    const onEnd = () => finish(Buffer.concat(chunks));
    const onClose = () => finish("aborted");
    const timer = setTimeout(() => finish("timeout"), limits.bodyTimeoutMs);
    req.on("data", onData).on("end", onEnd).on("close", onClose);
  });
}

/**
 * Answers without the function. A body still on its way is drained after the answer, so the connection
 * can carry the next request; a body that takes longer than the body timeout closes the connection.
 */
function refuse(
  req: IncomingMessage,
  res: ServerResponse,
  limits: RequestLimits,
  status: number,
  error: string,
  headers: Record<string, string> = {},
): void {
  send(res, status, { error }, headers);
  if (req.complete) return;
  req.resume();
  const timer = setTimeout(() => req.socket.destroy(), limits.bodyTimeoutMs);
  req.once("end", () => clearTimeout(timer)).once("close", () => clearTimeout(timer));
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
