// The whole flow on loopback: Azurite's blob service (with the private container and CORS rule), its table
// service (the issuance limits' counts) and the function host, sharing one set of settings. Used by
// `npm start` and by the tests.
import { type Environment, SETTING } from "../function/appSettings";
import { CREDENTIALS_ROUTE } from "../function/routes";
import { configureSettings, loadSettings } from "../function/settings";
import { type Azurite, type AzuriteTables, startAzurite, startAzuriteTables } from "./azurite";
import { type FunctionHost, startFunctionHost } from "./functionHost";
import { prepareLimitsTable, prepareUploadsStorage } from "./storage";
import { buildLocalPage, startWebServer, type WebServer } from "./web";

export interface LocalStackOptions {
  host?: string;
  blobPort: number;
  tablePort: number;
  functionPort: number;
  allowedOrigins: readonly string[];
  /** Azurite's data folder. */
  dataDir: string;
  /** App settings for the function beyond the connection string, which points at Azurite. */
  appSettings?: Environment;
  log?: (line: string) => void;
  portVariables?: { blob?: string; table?: string; function?: string; web?: string };
  /** Also serve the upload page: built into `dir` (with its config.json) and served on `port`. */
  web?: { port: number; dir: string };
  /** Origins the function host allows beyond allowedOrigins, which the blob service does not. */
  functionOnlyOrigins?: readonly string[];
}

export interface LocalStack {
  readonly blobServiceUrl: string;
  readonly connectionString: string;
  /** Azurite's table service, holding the issuance limits' counts. */
  readonly tablesConnectionString: string;
  readonly container: string;
  readonly apiUrl: string;
  readonly credentialsUrl: string;
  /** The upload page's URL, when the stack serves it. */
  readonly pageUrl?: string;
  stop(): Promise<void>;
}

export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const started: Array<Azurite | AzuriteTables | FunctionHost | WebServer> = [];
  const stop = async () => {
    await Promise.all(started.splice(0).map((part) => part.stop()));
  };
  try {
    const azurite = await startAzurite({
      host: options.host,
      port: options.blobPort,
      location: options.dataDir,
      portVariable: options.portVariables?.blob,
    });
    started.push(azurite);
    const tables = await startAzuriteTables({
      host: options.host,
      port: options.tablePort,
      location: options.dataDir,
      portVariable: options.portVariables?.table,
    });
    started.push(tables);
    await prepareLimitsTable(tables.connectionString);
    const appSettings = {
      ...options.appSettings,
      [SETTING.connectionString]: azurite.connectionString,
      [SETTING.limitsStorage]: tables.connectionString,
    };
    // The function host runs in this process: the function reads these settings instead of the
    // environment. They are checked here, as the Functions host would at start-up, and the storage is
    // prepared for the very container and policy the function will use.
    configureSettings(appSettings);
    const { container, policy } = loadSettings();
    await prepareUploadsStorage(azurite.connectionString, container, options.allowedOrigins);
    const host = await startFunctionHost({
      host: options.host,
      port: options.functionPort,
      allowedOrigins: [...options.allowedOrigins, ...(options.functionOnlyOrigins ?? [])],
      log: options.log,
      portVariable: options.portVariables?.function,
    });
    started.push(host);
    const credentialsUrl = `${host.apiUrl}/${CREDENTIALS_ROUTE}`;
    let pageUrl: string | undefined;
    if (options.web) {
      buildLocalPage(options.web.dir, credentialsUrl, policy);
      const web = await startWebServer({
        host: options.host,
        port: options.web.port,
        root: options.web.dir,
        portVariable: options.portVariables?.web,
      });
      started.push(web);
      pageUrl = web.url;
    }
    return {
      blobServiceUrl: azurite.blobServiceUrl,
      connectionString: azurite.connectionString,
      tablesConnectionString: tables.connectionString,
      container,
      apiUrl: host.apiUrl,
      credentialsUrl,
      pageUrl,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
