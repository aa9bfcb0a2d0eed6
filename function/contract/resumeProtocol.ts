// What the page and the function say to each other about resuming an upload: the header that carries the
// resume secret. No imports, so the page's bundle can take it without any of the function's code.

/**
 * The request header that carries an upload's resume secret. A header, not a query parameter: request URLs,
 * query string included, are kept by Application Insights request telemetry, App Service logs and proxies,
 * and anyone reading them could mint tokens for the blob until the secret's window closes.
 */
export const RESUME_SECRET_HEADER = "x-valet-resume-secret";
