// The demo page's human check: Cloudflare Turnstile's widget, rendered explicitly under the page's prompt when
// the SAS endpoint asks for a check, and removed once it has given a token. The client calls it through its
// `solveHumanCheck` option.
import { ValetUploadError } from "../client";
import { DEFAULT_TURNSTILE_SCRIPT_URL } from "./config";

/** Solves one challenge: the client's `solveHumanCheck`. */
type Solve = (signal?: AbortSignal) => Promise<string>;

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
      throw new ValetUploadError(
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
              new ValetUploadError(
                "server",
                `The human check failed (Turnstile error ${String(code).slice(0, 20)}): try again.`,
              ),
            );
            return true;
          },
          "expired-callback": () =>
            reject(new ValetUploadError("server", "The human check expired: try again.")),
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
