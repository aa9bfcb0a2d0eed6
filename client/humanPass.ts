// The client's side of the human check: when the SAS endpoint asks for one (403 with `humanCheck`), has a
// challenge solved (by the Solve the page supplies, Turnstile's widget on the demo page), sends its token with
// the next request, and keeps the pass that answer brings, so one solved check covers the files that follow.
// Requests go one at a time until a pass is held, so a batch dropped at once solves one challenge, not one
// per file.
import {
  HUMAN_CHECK_REFUSALS,
  HUMAN_PASS_HEADER,
  type HumanCheckRefusal,
  TURNSTILE_TOKEN_HEADER,
} from "../function/contract/humanCheckProtocol.js";
import { errorMessageOf, ValetUploadError } from "./errors.js";

/** A pass is not sent in its last minute: it could expire on the way. */
const PASS_MARGIN_MS = 60_000;
/** Challenges solved in a row for one request before giving up (a failing widget would loop otherwise). */
const MAX_SOLVES = 3;
/**
 * A Turnstile token the endpoint did not spend (it answered 429 before checking it) is sent again while it
 * is this fresh: tokens live 300 s.
 * https://developers.cloudflare.com/turnstile/get-started/server-side-validation/
 */
const UNSPENT_TOKEN_MS = 240_000;
/** How long to stop asking when the endpoint says the check is unavailable and does not say for how long. */
const DEFAULT_UNAVAILABLE_MS = 60_000;

/** What a token request answered, as TokenSource.ask reads it. */
export interface Answer {
  readonly response: Response;
  readonly body: unknown;
}

/** Solves one challenge: a fresh Turnstile token, or a rejection (a ValetUploadError) to show. */
export type Solve = (signal?: AbortSignal) => Promise<string>;

export class HumanPassKeeper {
  private pass: { value: string; expiresAt: number } | undefined;
  /** A solved token the endpoint has not spent yet, to send again rather than ask the person again. */
  private unspent: { token: string; at: number } | undefined;
  /** While the endpoint says the check is unavailable: until when, and its words. */
  private unavailable: { until: number; message: string } | undefined;
  /** Requests without a pass go one at a time, so only one challenge is ever on screen. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly solve: Solve,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Sends a token request through the check: with the pass when one is held; else, or when the pass is
   * refused (the address changed, the key rotated), in turn behind the others, so a batch solves one
   * challenge however many files are in flight.
   */
  async send(
    ask: (headers: Record<string, string>) => Promise<Answer>,
    signal?: AbortSignal,
  ): Promise<Answer> {
    const pass = this.passHeld();
    if (pass) {
      const answer = await ask({ [HUMAN_PASS_HEADER]: pass });
      if (!refusalOf(answer)) return this.settled(answer);
      if (this.pass?.value === pass) this.pass = undefined;
    }
    const turn = this.queue.catch(() => undefined).then(() => this.checked(ask, signal));
    this.queue = turn;
    return turn;
  }

  private async checked(
    ask: (headers: Record<string, string>) => Promise<Answer>,
    signal: AbortSignal | undefined,
  ): Promise<Answer> {
    for (let solved = 0; ; solved++) {
      if (this.unavailable && this.now() < this.unavailable.until) {
        throw new ValetUploadError("server", `The human check is unavailable: ${this.unavailable.message}`);
      }
      const pass = this.passHeld();
      const token = pass ? undefined : this.takeUnspent();
      const headers: Record<string, string> = pass
        ? { [HUMAN_PASS_HEADER]: pass }
        : token
          ? { [TURNSTILE_TOKEN_HEADER]: token }
          : {};
      const answer = await ask(headers);
      // Told to slow down before the token was looked at: keep it for the retry the caller makes.
      if (answer.response.status === 429 && token) this.unspent = { token, at: this.now() };
      if (isUnavailable(answer)) {
        // Siteverify cannot be reached: every file would show a challenge that cannot pass, so none is
        // shown until the endpoint's Retry-After has passed; the file fails with the endpoint's words.
        const seconds = Number(answer.response.headers.get("retry-after"));
        const wait = Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : DEFAULT_UNAVAILABLE_MS;
        this.unavailable = { until: this.now() + wait, message: messageOf(answer.body) };
        throw new ValetUploadError("server", `The human check is unavailable: ${messageOf(answer.body)}`);
      }
      if (!refusalOf(answer)) return this.settled(answer);
      this.pass = undefined;
      if (solved >= MAX_SOLVES) {
        throw new ValetUploadError(
          "server",
          `The human check did not succeed: ${messageOf(answer.body)}`,
          true,
          {
            reason: messageOf(answer.body),
          },
        );
      }
      this.unspent = { token: await this.solve(signal), at: this.now() };
    }
  }

  /** An answer that passed the check (or was refused for another reason): keep the pass it brings. */
  private settled(answer: Answer): Answer {
    if (answer.response.ok) this.keep(answer.body);
    return answer;
  }

  private takeUnspent(): string | undefined {
    const unspent = this.unspent;
    this.unspent = undefined;
    return unspent && this.now() - unspent.at < UNSPENT_TOKEN_MS ? unspent.token : undefined;
  }

  /** The pass, while it has more than a minute left. */
  private passHeld(): string | undefined {
    return this.pass && this.pass.expiresAt - this.now() > PASS_MARGIN_MS ? this.pass.value : undefined;
  }

  private keep(body: unknown): void {
    const { humanPass, humanPassExpiresOn } = (body ?? {}) as Record<string, unknown>;
    if (typeof humanPass !== "string" || typeof humanPassExpiresOn !== "string") return;
    const expiresAt = Date.parse(humanPassExpiresOn);
    if (!Number.isNaN(expiresAt)) this.pass = { value: humanPass, expiresAt };
  }
}

function isUnavailable(answer: Answer): boolean {
  return (
    answer.response.status === 503 &&
    (answer.body as { humanCheck?: unknown } | undefined)?.humanCheck === "unavailable"
  );
}

function refusalOf(answer: Answer): HumanCheckRefusal | undefined {
  if (answer.response.status !== 403) return undefined;
  const reason = (answer.body as { humanCheck?: unknown } | undefined)?.humanCheck;
  return HUMAN_CHECK_REFUSALS.find((known) => known === reason);
}

function messageOf(body: unknown): string {
  return errorMessageOf(body) ?? "the upload service refused it.";
}
