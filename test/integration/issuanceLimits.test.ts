// The issuance limits against Azurite's table service: the 429 boundary (burst, refill, Retry-After), the
// daily allowance, counts shared by instances without over-issuing, bounded logs, and the table down.
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { TableServiceClient } from "@azure/data-tables";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startServer } from "../../bench/http";
import { type Environment, SETTING } from "../../function/contract/appSettings";
import { LIMITS_TABLE } from "../../function/contract/limits";
import { RESUME_SECRET_HEADER } from "../../function/contract/resumeProtocol";
import { httpFunctions } from "../../function/functions";
import { limitsTableClient, TABLE_TIMEOUT_MS, TableLimiter } from "../../function/issuing/limiter";
import { configureInstance } from "../../function/platform/instance";
import { type AzuriteTables, EMULATOR_ACCOUNT, EMULATOR_KEY, startAzuriteTables } from "../../local/azurite";
import { type FunctionHost, startFunctionHost } from "../../local/functionHost";
import { freePort } from "../../local/ports";
import { prepareLimitsTable } from "../../local/storage";
import { connectionStrings, TEST_KEY } from "../support/accounts";
import { invoke, POLICIES_IN_PLACE } from "../support/function";

let dataDir: string;
let tables: AzuriteTables;
let host: FunctionHost;
const hostLogs: string[] = [];

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "valet-limits-"));
  tables = await startAzuriteTables({ port: await freePort(), location: dataDir });
  await prepareLimitsTable(tables.connectionString);
  host = await startFunctionHost({
    port: await freePort(),
    allowedOrigins: [],
    log: (line) => hostLogs.push(line),
  });
}, 60_000);
afterAll(async () => {
  await host?.stop();
  await tables?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

/** A new instance's settings: a fresh limiter (and its memory of rows) on the shared table. */
function configure(env: Environment): void {
  // The uploads account here is Azure's, which the tests do not reach: its access policies count as set.
  configureInstance(
    {
      [SETTING.connectionString]: connectionStrings.azureWithoutSuffix,
      [SETTING.limitsStorage]: tables.connectionString,
      ...env,
    },
    { accessPolicyCheck: POLICIES_IN_PLACE },
  );
}

function from(address: string, query = "", headers: Record<string, string> = {}) {
  return invoke(httpFunctions, { query, headers: { "x-forwarded-for": address, ...headers } });
}

describe("the token bucket over HTTP", () => {
  test("the request past the burst gets 429 with Retry-After and a JSON error saying when; after that wait, a token", async () => {
    configure({ [SETTING.issuanceBurst]: "3", [SETTING.issuanceRatePerMinute]: "60" });
    const url = `${host.apiUrl}/credentials`;
    for (let request = 0; request < 3; request++) expect((await fetch(url)).status).toBe(200);
    const refused = await fetch(url);
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBe("1");
    expect(refused.headers.get("cache-control")).toBe("no-store");
    const body = (await refused.json()) as { error: string; retryAfterSeconds: number };
    expect(body.retryAfterSeconds).toBe(1);
    expect(body.error).toMatch(
      /^Too many upload tokens asked for from this address: retry after 1 s \(at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\)\.$/,
    );
    await sleep(1000);
    expect((await fetch(url)).status).toBe(200);
  });

  test("callers at different addresses have their own buckets, and one IPv6 /64 is one caller", async () => {
    configure({ [SETTING.issuanceBurst]: "2", [SETTING.issuanceRatePerMinute]: "1" });
    expect((await from("198.51.100.1")).status).toBe(200);
    expect((await from("198.51.100.1")).status).toBe(200);
    expect((await from("198.51.100.1")).status).toBe(429);
    expect((await from("198.51.100.2")).status).toBe(200);
    expect((await from("[2001:db8:5:6::1]:443")).status).toBe(200);
    expect((await from("[2001:db8:5:6:ffff::2]:443")).status).toBe(200);
    expect((await from("[2001:db8:5:6::3]:443")).status).toBe(429);
    expect((await from("[2001:db8:5:7::1]:443")).status).toBe(200);
  });

  test("one IPv6 /56 gets 4 times a caller's limits and one /48 16 times, however many /64s it holds", async () => {
    configure({ [SETTING.issuanceBurst]: "2", [SETTING.issuanceRatePerMinute]: "1" });
    const ok = async (addresses: string[]) => {
      let issued = 0;
      for (const address of addresses) if ((await from(address)).status === 200) issued++;
      return issued;
    };
    // Ten /64s of one /56, two requests each: the /56 stops them at 4 × 2.
    const in56 = Array.from({ length: 10 }, (_, index) => `[2001:db8:7:${index.toString(16)}::1]:443`);
    expect(await ok([...in56, ...in56])).toBe(8);
    // Twenty /56s of one /48, two requests each from one /64 in each: the /48 stops them at 16 × 2.
    const in48 = Array.from({ length: 20 }, (_, index) => `[2001:db8:8:${index.toString(16)}00::1]:443`);
    expect(await ok([...in48, ...in48])).toBe(32);
    // Another /48 is another caller.
    expect((await from("[2001:db8:9::1]:443")).status).toBe(200);
  });

  test("a resume spends a token like any other request, and past the burst is refused before its secret is looked at", async () => {
    // A resume looks up whether its upload is finished in the outcomes' table: the same Azurite here.
    configure({
      [SETTING.issuanceBurst]: "2",
      [SETTING.issuanceRatePerMinute]: "1",
      [SETTING.validationStorage]: tables.connectionString,
    });
    const client = "198.51.100.88";
    const query = "?filename=a.jpg&contentType=image/jpeg&size=2048";
    const first = await from(client, query);
    expect(first.status).toBe(200);
    const { blobName, resumeSecret } = first.body as { blobName: string; resumeSecret: string };
    const resume = `${query}&${new URLSearchParams({ blobName })}`;
    expect((await from(client, resume, { [RESUME_SECRET_HEADER]: `${resumeSecret}x` })).status).toBe(403);
    const refused = await from(client, resume, { [RESUME_SECRET_HEADER]: resumeSecret });
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ retryAfterSeconds: expect.any(Number) });
  });

  test("a bad request spends a token too, and every request is counted in the table, refused ones included", async () => {
    configure({ [SETTING.issuanceBurst]: "2", [SETTING.issuanceRatePerMinute]: "1" });
    const client = "198.51.100.77";
    expect((await from(client, "?filename=a.txt&contentType=text/plain&size=1")).status).toBe(400);
    expect((await from(client)).status).toBe(200);
    expect((await from(client)).status).toBe(429);
    expect((await from(client)).status).toBe(429);
    const row = await limitsTableClient({
      kind: "connectionString",
      connectionString: tables.connectionString,
    }).getEntity<{ requests: number; refused: number }>(`ipv4-${client}`, "usage");
    expect({ requests: row.requests, refused: row.refused }).toEqual({ requests: 4, refused: 2 });
  });

  test("a flood of refusals writes at most one log line per minute", async () => {
    configure({ [SETTING.issuanceBurst]: "1", [SETTING.issuanceRatePerMinute]: "1" });
    await from("198.51.100.99");
    const answers = await Promise.all(Array.from({ length: 40 }, () => from("198.51.100.99")));
    expect(answers.every((answer) => answer.status === 429)).toBe(true);
    const limitedLines = answers.flatMap((answer) =>
      answer.logs.filter((line) => JSON.parse(line.message).event === "request.limited"),
    );
    expect(limitedLines.length).toBeLessThanOrEqual(1);
  });
});

describe("the daily allowance", () => {
  test("counts declared sizes and refuses the upload past it until midnight UTC", async () => {
    configure({ [SETTING.maxUploadBytes]: "1024", [SETTING.dailyUploadBytesPerClient]: "2048" });
    const client = "203.0.113.50";
    const upload = "?filename=a.png&contentType=image/png&size=1024";
    expect((await from(client, upload)).status).toBe(200);
    expect((await from(client, upload)).status).toBe(200);
    const refused = await from(client, "?filename=a.png&contentType=image/png&size=1");
    expect(refused.status).toBe(429);
    const untilMidnight = Math.ceil((Date.UTC(...utcTomorrow()) - Date.now()) / 1000);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(untilMidnight - 5);
    expect(Number(refused.headers.get("retry-after"))).toBeLessThanOrEqual(untilMidnight + 5);
    expect(String(refused.body.error)).toMatch(/daily allowance of upload bytes: retry after \d+ s/);
    expect((await from("203.0.113.51", upload)).status).toBe(200);
  });

  test("counts a container token as one upload of the largest size, since it declares none", async () => {
    configure({ [SETTING.maxUploadBytes]: "1024", [SETTING.dailyUploadBytesPerClient]: "2048" });
    const client = "203.0.113.52";
    expect((await from(client)).status).toBe(200);
    expect((await from(client)).status).toBe(200);
    const refused = await from(client);
    expect(refused.status).toBe(429);
    expect(String(refused.body.error)).toMatch(/daily allowance of upload bytes/);
  });
});

function utcTomorrow(): [number, number, number] {
  const now = new Date();
  return [now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1];
}

describe("counts shared by instances", () => {
  test("two function host processes on one table hand out no more than the burst between them", async () => {
    const table = limitsTableClient({ kind: "connectionString", connectionString: tables.connectionString });
    // Both hosts see this test as 127.0.0.1, which earlier tests spent tokens as.
    await table.deleteEntity("ipv4-127.0.0.1", "usage").catch(() => undefined);
    const env = {
      ...process.env,
      [SETTING.connectionString]: connectionStrings.azureWithoutSuffix,
      [SETTING.limitsStorage]: tables.connectionString,
      [SETTING.issuanceBurst]: "10",
      [SETTING.issuanceRatePerMinute]: "1",
      BENCH_ACCOUNT_KEY: TEST_KEY,
    };
    const hosts = await Promise.all([startServer("project", env), startServer("project", env)]);
    try {
      const statuses = await Promise.all(
        Array.from({ length: 30 }, async (_, index) => (await fetch(hosts[index % 2]?.url ?? "")).status),
      );
      expect(statuses.filter((status) => status === 200)).toHaveLength(10);
      expect(statuses.filter((status) => status === 429)).toHaveLength(20);
    } finally {
      await Promise.all(hosts.map((host) => host.stop()));
    }
  }, 60_000);

  test("two instances hammering one client's row never issue more than the burst between them", async () => {
    const limits = { ratePerMinute: 1, burst: 10, dailyUploadBytes: 0 };
    const instance = () =>
      new TableLimiter(
        limitsTableClient({ kind: "connectionString", connectionString: tables.connectionString }),
        limits,
      );
    const [a, b] = [instance(), instance()];
    const now = Date.now();
    const decisions = await Promise.all(
      Array.from({ length: 30 }, (_, index) => (index % 2 ? a : b).check("ipv4-192.0.2.1", 0, now)),
    );
    expect(decisions.filter((decision) => decision.allowed)).toHaveLength(10);
    const row = await limitsTableClient({
      kind: "connectionString",
      connectionString: tables.connectionString,
    }).getEntity<{ requests: number }>("ipv4-192.0.2.1", "usage");
    expect(row.requests).toBe(30);
  });
});

describe("with the table unreachable", () => {
  test("tokens are still issued, and the warning is logged once per minute, not per request", async () => {
    const deadPort = await freePort();
    configure({
      [SETTING.limitsStorage]:
        `DefaultEndpointsProtocol=http;AccountName=${EMULATOR_ACCOUNT};AccountKey=${EMULATOR_KEY};` +
        `TableEndpoint=http://127.0.0.1:${deadPort}/${EMULATOR_ACCOUNT}`,
    });
    const first = await from("203.0.113.9");
    const second = await from("203.0.113.9");
    expect([first.status, second.status]).toEqual([200, 200]);
    const events = (answer: typeof first) => answer.logs.map((line) => JSON.parse(line.message).event);
    expect(events(first)).toEqual(["limits.unavailable", "token.issued"]);
    expect(events(second)).toEqual(["token.issued"]);
    // The line counts what the instance let through on its own counts, this request included.
    expect(JSON.parse(first.logs[0]?.message ?? "{}")).toMatchObject({
      action: "counting on this instance",
      allowedSinceLast: 1,
      refusedSinceLast: 0,
    });
    expect(first.logs[0]?.message).not.toContain(EMULATOR_KEY.slice(0, 20));
  });
});

describe("with the table unreachable, a flood from one address", () => {
  test("gets no more tokens than the burst: the instance counts in memory with the same limits", async () => {
    const deadPort = await freePort();
    configure({
      [SETTING.issuanceBurst]: "3",
      [SETTING.issuanceRatePerMinute]: "1",
      [SETTING.limitsStorage]:
        `DefaultEndpointsProtocol=http;AccountName=${EMULATOR_ACCOUNT};AccountKey=${EMULATOR_KEY};` +
        `TableEndpoint=http://127.0.0.1:${deadPort}/${EMULATOR_ACCOUNT}`,
    });
    const statuses: number[] = [];
    for (let request = 0; request < 40; request++) statuses.push((await from("203.0.113.11")).status);
    expect(statuses.filter((status) => status === 200)).toHaveLength(3);
    expect(statuses.filter((status) => status === 429)).toHaveLength(37);
  });
});

describe("with a table that accepts connections and never answers", () => {
  test("each request, however many of one caller's are queued, waits at most the table timeout and gets its token", async () => {
    const sockets: Socket[] = [];
    const silent = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const { port } = silent.address() as { port: number };
    try {
      configure({
        [SETTING.limitsStorage]:
          `DefaultEndpointsProtocol=http;AccountName=${EMULATOR_ACCOUNT};AccountKey=${EMULATOR_KEY};` +
          `TableEndpoint=http://127.0.0.1:${port}/${EMULATOR_ACCOUNT}`,
      });
      const started = performance.now();
      const answers = await Promise.all(Array.from({ length: 5 }, () => from("203.0.113.10")));
      const elapsed = performance.now() - started;
      expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 200, 200]);
      expect(elapsed).toBeLessThan(TABLE_TIMEOUT_MS + 1500);
      expect(elapsed).toBeGreaterThanOrEqual(TABLE_TIMEOUT_MS - 100);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  }, 20_000);
});

test("the table the local stack prepares is the one the limits use", async () => {
  const tablesClient = limitsTableClient({
    kind: "connectionString",
    connectionString: tables.connectionString,
  });
  expect(tablesClient.tableName).toBe(LIMITS_TABLE);
  await expect(tablesClient.createTable()).resolves.toBeUndefined();
});

describe("a flood from one address", () => {
  test("far more requests at once than the table can serve get no more tokens than the burst", async () => {
    configure({ [SETTING.issuanceBurst]: "5", [SETTING.issuanceRatePerMinute]: "1" });
    const answers = await Promise.all(Array.from({ length: 3000 }, () => from("198.51.100.200")));
    const statuses = answers.map((answer) => answer.status);
    expect(statuses.filter((status) => status === 200)).toHaveLength(5);
    expect(statuses.filter((status) => status !== 200 && status !== 429)).toEqual([]);
    const events = answers.flatMap((answer) => answer.logs.map((line) => JSON.parse(line.message).event));
    expect(events).not.toContain("limits.unavailable");
  }, 30_000);
});

describe("with the limits' table missing", () => {
  test("tokens are issued on the instance's own counts, the limiter naming the missing table, instead of 429 forever", async () => {
    configure({});
    const service = TableServiceClient.fromConnectionString(tables.connectionString, {
      allowInsecureConnection: true,
    });
    await service.deleteTable(LIMITS_TABLE);
    try {
      // Over HTTP: a token, not a 429 the page would wait out forever.
      expect((await from("198.51.100.201")).status).toBe(200);
      // And what the limiter reports, which the (sampled) limits.unavailable warning carries.
      const limiter = new TableLimiter(
        limitsTableClient({ kind: "connectionString", connectionString: tables.connectionString }),
        { ratePerMinute: 1, burst: 10, dailyUploadBytes: 0 },
      );
      expect(await limiter.check("ipv4-198.51.100.201", 0, Date.now())).toMatchObject({
        allowed: true,
        fallback: expect.stringMatching(/TableNotFound/),
      });
    } finally {
      await prepareLimitsTable(tables.connectionString);
    }
  });
});

describe("a limits storage setting the SDK cannot use", () => {
  test("answers 500 naming the setting, without quoting it", async () => {
    configure({ [SETTING.limitsStorage]: "AccountName=only-a-name-secretish" });
    const answer = await from("198.51.100.202");
    expect(answer.status).toBe(500);
    expect(String(answer.body.error)).toContain(SETTING.limitsStorage);
    expect(JSON.stringify(answer.body)).not.toContain("secretish");
  });
});
