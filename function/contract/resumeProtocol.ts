// What the page and the function say to each other about resuming an upload: the header that carries the
// resume secret, and each refusal's status and `resume` code. No imports, so the page's bundle can take it without any of the function's code.

/**
 * The request header that carries an upload's resume secret. A header, not a query parameter: request URLs,
 * query string included, are kept by Application Insights request telemetry, App Service logs and proxies,
 * and anyone reading them could mint tokens for the blob until the secret's window closes.
 */
export const RESUME_SECRET_HEADER = "x-valet-resume-secret";

/** Why a resume is refused: the `resume` field of the refusal's body, beside `error`. */
export type ResumeRefusal = "invalid" | "expired" | "finished" | "unavailable";

/** Each refusal's status and words. The page starts the upload afresh on all but "unavailable". */
export const RESUME_REFUSALS: Readonly<Record<ResumeRefusal, { status: number; error: string }>> = {
  invalid: {
    status: 403,
    error:
      "The resume secret does not belong to this upload (its blobName and size): start the upload again for a new blob.",
  },
  expired: {
    status: 410,
    error: "This upload can no longer be resumed: it was started too long ago. Start the upload again.",
  },
  finished: {
    status: 409,
    error: "This upload is already finished: its blob is stored, so it cannot be resumed.",
  },
  unavailable: {
    status: 503,
    error: "Whether this upload is finished cannot be checked right now: try again in a minute.",
  },
};
