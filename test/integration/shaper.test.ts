// The benchmark's network shaper against a plain HTTP server: it delays, paces the upstream, carries bytes
// intact and counts what it carries. Timing is asserted as lower bounds only: a busy machine is only slower.
import { createHash, randomBytes } from "node:crypto";
import { Agent, createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { Link } from "../../bench/shaper";
import { closeServer } from "../../local/lifecycle";

let target: Server;
let targetPort: number;
const links: Link[] = [];

beforeAll(async () => {
  // Answers every request with the length and SHA-256 of the body it received.
  target = createServer((req, res) => {
    const hash = createHash("sha256");
    let length = 0;
    req.on("data", (chunk: Buffer) => {
      hash.update(chunk);
      length += chunk.length;
    });
    req.on("end", () => res.end(JSON.stringify({ length, sha256: hash.digest("hex") })));
  });
  await new Promise<void>((resolve) => target.listen({ host: "127.0.0.1", port: 0 }, resolve));
  targetPort = (target.address() as AddressInfo).port;
});
afterEach(async () => {
  await Promise.all(links.splice(0).map((link) => link.stop()));
});
afterAll(async () => {
  await closeServer(target);
});

async function shaped(rttMs: number, upMbps: number) {
  const link = new Link({ name: "test", rttMs, upMbps });
  links.push(link);
  return { link, proxy: await link.forward("target", targetPort) };
}

function send(
  port: number,
  method: string,
  path: string,
  body: Buffer,
  agent?: Agent,
): Promise<{ length: number; sha256: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port, method, path, agent, headers: { "Content-Length": body.length } },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          text += chunk;
        });
        res.on("end", () => resolve(JSON.parse(text)));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

describe("the network shaper", () => {
  test("a 1 MB upload through 8 Mbit/s takes at least 0.9 s and arrives intact", async () => {
    const { proxy } = await shaped(2, 8);
    const body = randomBytes(1_000_000);
    const started = performance.now();
    const received = await send(proxy.port, "PUT", "/big", body);
    const seconds = (performance.now() - started) / 1000;
    expect(received).toEqual({ length: body.length, sha256: sha256(body) });
    expect(seconds).toBeGreaterThanOrEqual(0.9);
  });

  test("a request and its answer take at least the round trip, on a new connection and a kept-alive one", async () => {
    const { proxy } = await shaped(200, 1000);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    for (let attempt = 0; attempt < 2; attempt++) {
      const started = performance.now();
      await send(proxy.port, "GET", "/", Buffer.alloc(0), agent);
      expect(performance.now() - started).toBeGreaterThanOrEqual(195);
    }
    agent.destroy();
  });

  test("proxies of one link share its upstream", async () => {
    const { link, proxy } = await shaped(2, 8);
    const second = await link.forward("other", targetPort);
    const body = randomBytes(500_000);
    const started = performance.now();
    await Promise.all([send(proxy.port, "PUT", "/a", body), send(second.port, "PUT", "/b", body)]);
    expect((performance.now() - started) / 1000).toBeGreaterThanOrEqual(0.9);
  });

  test("counts connections, bytes and request lines, skipping bodies that look like requests", async () => {
    const { link, proxy } = await shaped(1, 1000);
    const second = await link.forward("other", targetPort);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const decoy = Buffer.from("GET /not-a-request HTTP/1.1\r\nHost: x\r\n\r\n".repeat(1000));
    await send(proxy.port, "POST", "/first?comp=block", decoy, agent);
    await send(proxy.port, "OPTIONS", "/second", Buffer.alloc(0), agent);
    await send(second.port, "GET", "/third", Buffer.alloc(0));
    agent.destroy();
    expect(link.stats.requests).toEqual([
      { service: "target", method: "POST", path: "/first?comp=block" },
      { service: "target", method: "OPTIONS", path: "/second" },
      { service: "other", method: "GET", path: "/third" },
    ]);
    expect(link.stats.connections).toBe(2);
    expect(link.stats.bytesUp).toBeGreaterThan(decoy.length);
    expect(link.stats.bytesDown).toBeGreaterThan(0);
    const gathered = link.resetStats();
    expect(gathered.requests).toHaveLength(3);
    expect(link.stats).toEqual({ connections: 0, bytesUp: 0, bytesDown: 0, requests: [] });
  });

  test("cut, resets the upload under way and every new connection; restored, carries them again", async () => {
    const { link, proxy } = await shaped(0, 8);
    const body = randomBytes(1024 * 1024);
    const underWay = send(proxy.port, "POST", "/cut", body);
    await new Promise((resolve) => setTimeout(resolve, 100));

    link.cut();

    await expect(underWay).rejects.toThrow();
    await expect(send(proxy.port, "POST", "/while-down", Buffer.from("x"))).rejects.toThrow();
    link.restore();
    const small = randomBytes(1000);
    expect(await send(proxy.port, "POST", "/after", small)).toEqual({ length: 1000, sha256: sha256(small) });
  });

  test("refuses a profile without upstream bandwidth, naming it", () => {
    expect(() => new Link({ name: "dial-up", rttMs: 100, upMbps: 0 })).toThrow(/dial-up/);
  });
});
