// A shaped network on loopback, for the benchmark and tests: TCP proxies in front of local services that
// add a round-trip delay and an upstream bandwidth limit, and count the connections, bytes and HTTP/1.1
// requests they carry. Every proxy of one Link shares its upstream, as the services behind one phone do.
import { connect, createServer, type Server, type Socket } from "node:net";

export interface NetworkProfile {
  readonly name: string;
  /** Round-trip time added: half on the way up, half on the way down. */
  readonly rttMs: number;
  /** Client-to-server bandwidth, in megabits (10^6 bits) a second. */
  readonly upMbps: number;
}

export const NETWORK_PROFILES = {
  "4G": { name: "4G", rttMs: 60, upMbps: 20 },
  home: { name: "home", rttMs: 20, upMbps: 50 },
} as const satisfies Record<string, NetworkProfile>;

/** One request line seen on its way up, and which proxy carried it. */
export interface SeenRequest {
  readonly service: string;
  readonly method: string;
  readonly path: string;
}

export interface LinkStats {
  connections: number;
  bytesUp: number;
  bytesDown: number;
  requests: SeenRequest[];
}

export interface ShapedService {
  /** The proxy's URL, e.g. http://127.0.0.1:40123 */
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

const HOST = "127.0.0.1";
/** Pieces small enough that the links's pacing is smooth at a few megabits a second. */
const PIECE_BYTES = 16 * 1024;
/** How much one connection may have queued in the link before its sender is paused, as a TCP window. */
const WINDOW_BYTES = 256 * 1024;

export class Link {
  private current: NetworkProfile;
  /** When the upstream has sent everything queued so far (performance.now()): a token bucket with no burst. */
  private upstreamFreeAt = 0;
  private readonly servers: Server[] = [];
  private readonly sockets = new Set<Socket>();
  private down = false;
  stats: LinkStats = emptyStats();

  constructor(profile: NetworkProfile) {
    this.current = checkedProfile(profile);
  }

  get profile(): NetworkProfile {
    return this.current;
  }

  /** Switches the whole link to another profile, for connections already open too. */
  use(profile: NetworkProfile): void {
    this.current = checkedProfile(profile);
  }

  /** Clears the counts, returning those gathered since the last reset. */
  resetStats(): LinkStats {
    const gathered = this.stats;
    this.stats = emptyStats();
    return gathered;
  }

  /** Starts a proxy on a free loopback port that forwards to `port` on loopback through this link. */
  async forward(service: string, port: number): Promise<ShapedService> {
    const server = createServer({ allowHalfOpen: true }, (client) => this.carry(service, port, client));
    this.servers.push(server);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host: HOST, port: 0 }, () => resolve());
    });
    const address = server.address();
    if (address === null || typeof address === "string") throw new Error("the shaper's proxy has no port");
    return {
      url: `http://${HOST}:${address.port}`,
      port: address.port,
      stop: () => closeProxy(server, this.sockets),
    };
  }

  /**
   * Drops the link, as a phone losing its signal: every open connection is reset and new ones are reset as
   * soon as they are accepted, until `restore`.
   */
  cut(): void {
    this.down = true;
    for (const socket of this.sockets) socket.destroy();
  }

  /** The link carries connections again. */
  restore(): void {
    this.down = false;
  }

  async stop(): Promise<void> {
    await Promise.all(this.servers.map((server) => closeProxy(server, this.sockets)));
  }

  private carry(service: string, port: number, client: Socket): void {
    if (this.down) {
      client.resetAndDestroy();
      return;
    }
    this.stats.connections++;
    const server = connect({ host: HOST, port, allowHalfOpen: true });
    for (const socket of [client, server]) {
      this.sockets.add(socket);
      socket.setNoDelay(true);
      socket.on("close", () => this.sockets.delete(socket));
      // One side failing ends the other: the client sees a reset, as on a real network.
      socket.on("error", () => {
        client.destroy();
        server.destroy();
      });
    }
    const requests = new RequestLines((method, path) => this.stats.requests.push({ service, method, path }));
    const up = new DelayedPipe(client, server, (bytes) => this.upstreamDeliveryTime(bytes));
    const down = new DelayedPipe(server, client, () => performance.now() + this.current.rttMs / 2);
    client.on("data", (chunk: Buffer) => {
      this.stats.bytesUp += chunk.length;
      requests.feed(chunk);
      up.push(chunk);
    });
    server.on("data", (chunk: Buffer) => {
      this.stats.bytesDown += chunk.length;
      down.push(chunk);
    });
  }

  /** Queues `bytes` on the shared upstream and says when they arrive on the far side. */
  private upstreamDeliveryTime(bytes: number): number {
    const start = Math.max(performance.now(), this.upstreamFreeAt);
    this.upstreamFreeAt = start + (bytes * 8) / (this.current.upMbps * 1000);
    return this.upstreamFreeAt + this.current.rttMs / 2;
  }
}

/**
 * Carries bytes from one socket to another, each piece written at the time `deliveryTime` gives it (never
 * before an earlier piece); pauses the source while a window's worth waits.
 */
class DelayedPipe {
  private readonly queue: Array<{ at: number; data: Buffer }> = [];
  private queuedBytes = 0;
  private ended = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly from: Socket,
    private readonly to: Socket,
    private readonly deliveryTime: (bytes: number) => number,
  ) {
    from.on("end", () => {
      this.ended = true;
      this.flush();
    });
    // Once the receiving side is gone nothing queued can be delivered: drop it, and its timer with it.
    // (Bytes already in flight from a sender that closed are still delivered, as on a real network.)
    to.on("close", () => this.drop());
  }

  private drop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.length = 0;
    this.queuedBytes = 0;
  }

  push(chunk: Buffer): void {
    for (let offset = 0; offset < chunk.length; offset += PIECE_BYTES) {
      const data = chunk.subarray(offset, offset + PIECE_BYTES);
      const last = this.queue.at(-1)?.at ?? 0;
      this.queue.push({ at: Math.max(last, this.deliveryTime(data.length)), data });
      this.queuedBytes += data.length;
    }
    if (this.queuedBytes > WINDOW_BYTES) this.from.pause();
    this.flush();
  }

  private flush(): void {
    if (this.timer) return;
    const now = performance.now();
    while (this.queue.length > 0 && (this.queue[0]?.at ?? 0) <= now) {
      const piece = this.queue.shift() as { at: number; data: Buffer };
      this.queuedBytes -= piece.data.length;
      if (!this.to.destroyed) this.to.write(piece.data);
    }
    if (this.queuedBytes <= WINDOW_BYTES && this.from.isPaused()) this.from.resume();
    const next = this.queue[0];
    if (next) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.flush();
      }, next.at - now);
    } else if (this.ended && !this.to.destroyed) {
      this.to.end();
    }
  }
}

/**
 * Finds the request lines in a client's HTTP/1.1 byte stream: headers up to the blank line, then a body of
 * Content-Length bytes. A chunked body (which browsers do not send for fetch with a Blob) stops the count
 * for that connection rather than guessing.
 */
class RequestLines {
  private head = "";
  private bodyLeft = 0;
  private lost = false;

  constructor(private readonly seen: (method: string, path: string) => void) {}

  feed(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length && !this.lost) {
      if (this.bodyLeft > 0) {
        const skipped = Math.min(this.bodyLeft, chunk.length - offset);
        this.bodyLeft -= skipped;
        offset += skipped;
        continue;
      }
      // The blank line that ends the headers may straddle chunks: keep what came so far.
      const previous = this.head.length;
      const text = this.head + chunk.toString("latin1", offset);
      const headEnd = text.indexOf("\r\n\r\n", Math.max(0, previous - 3));
      if (headEnd === -1) {
        this.head = text;
        return;
      }
      offset += headEnd + 4 - previous;
      this.head = "";
      this.parse(text.slice(0, headEnd));
    }
  }

  private parse(head: string): void {
    const [requestLine = "", ...headers] = head.split("\r\n");
    const [method = "", path = ""] = requestLine.split(" ");
    this.seen(method, path);
    for (const header of headers) {
      const colon = header.indexOf(":");
      const name = header.slice(0, colon).trim().toLowerCase();
      const value = header.slice(colon + 1).trim();
      if (name === "content-length") this.bodyLeft = Number(value);
      if (name === "transfer-encoding" && value.toLowerCase().includes("chunked")) this.lost = true;
    }
  }
}

function emptyStats(): LinkStats {
  return { connections: 0, bytesUp: 0, bytesDown: 0, requests: [] };
}

function checkedProfile(profile: NetworkProfile): NetworkProfile {
  if (!(profile.rttMs >= 0) || !(profile.upMbps > 0)) {
    throw new Error(
      `The network profile ${profile.name} needs a round trip of 0 ms or more and an upstream above 0 Mbit/s.`,
    );
  }
  return profile;
}

function closeProxy(server: Server, sockets: Set<Socket>): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    for (const socket of sockets) socket.destroy();
  });
}
