// The page's side of the human check: when the SAS endpoint asks for one (403 with `humanCheck`), shows the
// Turnstile widget, sends its token with the next request, and keeps the pass that answer brings, so one
// solved check covers the files that follow. Requests go one at a time until a pass is held, so a batch
// dropped at once solves one challenge, not one per file.
import {
  HUMAN_CHECK_REFUSALS,
  HUMAN_PASS_HEADER,
  type HumanCheckRefusal,
  TURNSTILE_TOKEN_HEADER,
} from "../function/humanCheckProtocol";
import { DEFAULT_TURNSTILE_SCRIPT_URL } from "./config";
import { UploadFailure } from "./failures";

/** A pass is not sent in its last minute: it could expire on the way. */
const PASS_MARGIN_MS = 60_000;
/** Challenges solved in a row for one request before giving up (a failing widget would loop otherwise). */
const MAX_SOLVES = 3;

/** What a token request answered, as TokenSource.ask reads it. */
export interface Answer {
  readonly response: Response;
  readonly body: unknown;
}

/** Solves one challenge: a fresh Turnstile token, or a rejection the page can show. */
export type Solve = (signal?: AbortSignal) => Promise<string>;

export class HumanCheck {
  private pass: { value: string; expiresAt: number } | undefined;
  /** The request that holds the check while no pass is held; the others queue behind it. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly solve: Solve,
    private readonly now: () => number = Date.now,
  ) {}

  /** Sends a token request through the check: with the pass when one is held, else one at a time. */
  async send(
    ask: (headers: Record<string, string>) => Promise<Answer>,
    signal?: AbortSignal,
  ): Promise<Answer> {
    if (this.passHeld()) return this.checked(ask, signal);
    const turn = this.queue.catch(() => undefined).then(() => this.checked(ask, signal));
    this.queue = turn;
    return turn;
  }

  private async checked(
    ask: (headers: Record<string, string>) => Promise<Answer>,
    signal: AbortSignal | undefined,
  ): Promise<Answer> {
    let token: string | undefined;
    for (let solved = 0; ; solved++) {
      const headers: Record<string, string> = token
        ? { [TURNSTILE_TOKEN_HEADER]: token }
        : this.passHeld() && this.pass
          ? { [HUMAN_PASS_HEADER]: this.pass.value }
          : {};
      const answer = await ask(headers);
      if (answer.response.ok) {
        this.keep(answer.body);
        return answer;
      }
      const reason = refusalOf(answer);
      if (!reason) return answer;
      this.pass = undefined;
      if (solved >= MAX_SOLVES) {
        throw new UploadFailure("server", `The human check did not succeed: ${messageOf(answer.body)}`);
      }
      token = await this.solve(signal);
    }
  }

  private passHeld(): boolean {
    return this.pass !== undefined && this.pass.expiresAt - this.now() > PASS_MARGIN_MS;
  }

  private keep(body: unknown): void {
    const { humanPass, humanPassExpiresOn } = (body ?? {}) as Record<string, unknown>;
    if (typeof humanPass !== "string" || typeof humanPassExpiresOn !== "string") return;
    const expiresAt = Date.parse(humanPassExpiresOn);
    if (!Number.isNaN(expiresAt)) this.pass = { value: humanPass, expiresAt };
  }
}

function refusalOf(answer: Answer): HumanCheckRefusal | undefined {
  if (answer.response.status !== 403) return undefined;
  const reason = (answer.body as { humanCheck?: unknown } | undefined)?.humanCheck;
  return HUMAN_CHECK_REFUSALS.find((known) => known === reason);
}

function messageOf(body: unknown): string {
  const error = (body as { error?: unknown } | undefined)?.error;
  return typeof error === "string" ? error.slice(0, 300) : "the upload service refused it.";
}

/** The parts of Turnstile's client API the page uses (explicit rendering). */
interface Turnstile {
  render(container: HTMLElement, options: Record<string, unknown>): string | undefined;
  remove(widgetId: string): void;
}

/**
 * Solves challenges with Turnstile's widget, rendered explicitly into `container` when the endpoint asks,
 * and removed once it has given a token. The script is loaded on first need from `scriptUrl`.
 * https://developers.cloudflare.com/turnstile/get-started/client-side-rendering/
 */
export function turnstileSolver(
  siteKey: string,
  container: HTMLElement,
  scriptUrl: string = DEFAULT_TURNSTILE_SCRIPT_URL,
): Solve {
  let loading: Promise<Turnstile> | undefined;
  return async (signal) => {
    loading ??= loadScript(scriptUrl);
    let turnstile: Turnstile;
    try {
      turnstile = await loading;
    } catch {
      loading = undefined;
      throw new UploadFailure(
        "network",
        "The human check could not be loaded. Check your connection (and any blocker of challenges.cloudflare.com), then try again.",
      );
    }
    container.hidden = false;
    const holder = document.createElement("div");
    container.append(holder);
    let widgetId: string | undefined;
    try {
      return await new Promise<string>((resolve, reject) => {
        const onAbort = () => reject(signal?.reason);
        signal?.addEventListener("abort", onAbort, { once: true });
        widgetId = turnstile.render(holder, {
          sitekey: siteKey,
          callback: (token: string) => resolve(token),
          "error-callback": (code: string) => {
            reject(
              new UploadFailure(
                "server",
                `The human check failed (Turnstile error ${String(code).slice(0, 20)}): try again.`,
              ),
            );
            return true;
          },
          "expired-callback": () =>
            reject(new UploadFailure("server", "The human check expired: try again.")),
        });
      });
    } finally {
      if (widgetId !== undefined) turnstile.remove(widgetId);
      holder.remove();
      container.hidden = true;
    }
  };
}

function loadScript(url: string): Promise<Turnstile> {
  return new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = url;
    script.async = true;
    script.addEventListener("load", () => {
      const turnstile = (window as unknown as { turnstile?: Turnstile }).turnstile;
      if (turnstile) resolve(turnstile);
      else reject(new Error("no turnstile"));
    });
    script.addEventListener("error", () => reject(new Error("not loaded")));
    document.head.append(script);
  });
}
