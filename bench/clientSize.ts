// Row 16: what the browser client costs a page to download, minified and gzipped. The project is the client's
// `./client` entry bundled for a browser with everything it imports (the storage SDK's browser build); the
// baseline is the storage SDK alone, bundled with the calls the client makes of it (Put Blob, Put Block, Put
// Block List with an anonymous credential), the least a page uploading this way carries. Details: the client's
// own code (the SDK left out), and the Uppy plugin's (the client, the SDK and @uppy/core left out) and with the
// client. Run alone: `npx tsx bench/clientSize.ts`.
import { gzipSync } from "node:zlib";
import { build } from "esbuild";
import { CLIENT_ENTRIES, CLIENT_TARGETS } from "../local/buildClient";
import { type BenchRow, figure, printRowsAlone, ratioOf } from "./results";

/** The client may add this much, gzipped, to the SDK it needs. */
const MAX_OVERHEAD_BYTES = 16 * 1024;

/** What a page using only the storage SDK the client's way bundles. */
const SDK_ALONE = `
import { AnonymousCredential, BlockBlobClient } from "@azure/storage-blob";
export async function put(url, data, ids) {
  const client = new BlockBlobClient(url, new AnonymousCredential(), { retryOptions: { maxTries: 5 } });
  await client.uploadData(data, { blockSize: 4194304, concurrency: 4 });
  await client.stageBlock(ids[0], data, data.size);
  await client.commitBlockList(ids, {});
}
`;

interface Sizes {
  readonly minified: number;
  readonly gzipped: number;
}

async function bundleSize(
  entry: { readonly file: string } | { readonly contents: string },
  external: readonly string[] = [],
): Promise<Sizes> {
  const result = await build({
    ...("file" in entry
      ? { entryPoints: [entry.file] }
      : { stdin: { contents: entry.contents, resolveDir: __dirname, loader: "js" } }),
    bundle: true,
    minify: true,
    format: "esm",
    platform: "browser",
    target: CLIENT_TARGETS,
    external: [...external],
    legalComments: "none",
    charset: "utf8",
    write: false,
    logLevel: "silent",
  });
  const bytes = Buffer.concat(result.outputFiles.map((file) => Buffer.from(file.contents)));
  return { minified: bytes.length, gzipped: gzipSync(bytes, { level: 9 }).length };
}

export async function benchClientSize(): Promise<BenchRow> {
  const client = await bundleSize({ file: CLIENT_ENTRIES.index });
  const sdk = await bundleSize({ contents: SDK_ALONE });
  const clientOwn = await bundleSize({ file: CLIENT_ENTRIES.index }, ["@azure/storage-blob"]);
  const uppyOwn = await bundleSize({ file: CLIENT_ENTRIES.uppy }, [
    "@azure/storage-blob",
    "@uppy/core",
    "../index.js",
  ]);
  const uppyWithClient = await bundleSize({ file: CLIENT_ENTRIES.uppy }, [
    "@azure/storage-blob",
    "@uppy/core",
  ]);
  const kib = (bytes: number) => Math.round((bytes / 1024) * 10) / 10;
  return {
    id: "clientSize",
    title: "16. Browser client, minified + gzip",
    unit: "KiB",
    better: "lower",
    project: figure([kib(client.gzipped)]),
    baseline: figure([kib(sdk.gzipped)]),
    ratio: ratioOf(client.gzipped, sdk.gzipped, "lower"),
    target: `adds ≤ ${MAX_OVERHEAD_BYTES / 1024} KiB`,
    targetMet: client.gzipped - sdk.gzipped <= MAX_OVERHEAD_BYTES,
    details: {
      clientMinifiedKiB: kib(client.minified),
      sdkMinifiedKiB: kib(sdk.minified),
      clientOwnGzipKiB: kib(clientOwn.gzipped),
      clientOwnMinifiedKiB: kib(clientOwn.minified),
      uppyPluginGzipKiB: kib(uppyOwn.gzipped),
      uppyPluginWithClientGzipKiB: kib(uppyWithClient.gzipped),
    },
  };
}

if (require.main === module) {
  printRowsAlone(async () => [await benchClientSize()]);
}
