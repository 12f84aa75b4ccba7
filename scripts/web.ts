/**
 * The web example (examples/web): build it with Vite and serve it with its chain configuration.
 *
 *   npm run web -- [--rpc-url URL] [--deployment DIR|FILE] [--port N] [--host H] [--no-build]
 *
 * Serves examples/web/dist over HTTP and, at /config.json, the RPC URL and the Ignition deployment's addresses the page
 * reads (see examples/web/src/config.ts). The end-to-end test (test/ts/web/) uses the same functions.
 */
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { type Server, createServer } from "node:http";
import { dirname, extname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { gzipSync } from "node:zlib";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const WEB_ROOT = join(ROOT, "examples", "web");
export const WEB_DIST = join(WEB_ROOT, "dist");

/** What the page reads from /config.json. */
export type WebConfig = { rpcUrl: string; deployment: Record<string, string>; privateKey?: string };

export type BuiltFile = { file: string; bytes: number; gzipBytes: number };

/** Builds the page into examples/web/dist with Vite (the SDK must be built: `npm run sdk:build`). Returns its files. */
export async function buildWeb(options: { quiet?: boolean } = {}): Promise<BuiltFile[]> {
  if (!existsSync(join(ROOT, "sdk", "dist", "index.js"))) {
    throw new Error("sdk/dist is missing: run `npm run sdk:build` first (the page imports @tidemark/sdk from it)");
  }
  const { build } = await import("vite");
  await build({ root: WEB_ROOT, logLevel: options.quiet ? "error" : "info" });
  return builtFiles();
}

/** The built page's files (source maps excluded) with their sizes. */
export function builtFiles(): BuiltFile[] {
  const out: BuiltFile[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (!name.endsWith(".map")) {
        const data = readFileSync(path);
        out.push({ file: relative(WEB_DIST, path).split(sep).join("/"), bytes: data.length, gzipBytes: gzipSync(data).length });
      }
    }
  };
  walk(WEB_DIST);
  return out.sort((a, b) => a.file.localeCompare(b.file));
}

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
};

/**
 * Serves the built page (examples/web/dist) and `config` at /config.json. Static files only, GET and HEAD, no
 * directory listing, nothing outside dist. Resolves once listening; port 0 picks a free port.
 */
export async function serveWeb(options: { config: WebConfig; port?: number; host?: string }): Promise<{ url: string; server: Server; close: () => Promise<void> }> {
  const { config, port = 0, host = "127.0.0.1" } = options;
  if (!existsSync(join(WEB_DIST, "index.html"))) throw new Error(`${WEB_DIST} has no index.html: build the page first (buildWeb)`);
  const server = createServer(async (req, res) => {
    res.setHeader("Cache-Control", "no-store");
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { Allow: "GET, HEAD" }).end();
      return;
    }
    const path = decodeURIComponent(new URL(req.url ?? "/", "http://localhost").pathname);
    if (path === "/config.json") {
      res.writeHead(200, { "Content-Type": CONTENT_TYPES[".json"] }).end(req.method === "HEAD" ? undefined : JSON.stringify(config));
      return;
    }
    const file = resolve(WEB_DIST, `.${path.endsWith("/") ? `${path}index.html` : path}`);
    if (!file.startsWith(WEB_DIST + sep) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404, { "Content-Type": "text/plain" }).end("not found");
      return;
    }
    const body = await readFile(file);
    res.writeHead(200, { "Content-Type": CONTENT_TYPES[extname(file)] ?? "application/octet-stream", "Content-Length": body.length });
    res.end(req.method === "HEAD" ? undefined : body);
  });
  await new Promise<void>((res, rej) => {
    server.once("error", rej);
    server.listen(port, host, () => res());
  });
  const address = server.address() as { port: number };
  const shown = host.includes(":") ? `[${host}]` : host;
  return {
    url: `http://${shown}:${address.port}/`,
    server,
    close: () => new Promise<void>((res) => {
      server.closeAllConnections();
      server.close(() => res());
    }),
  };
}

/** An Ignition deployment's deployed_addresses.json, given the file or its deployment directory. */
export function readDeployment(path: string): Record<string, string> {
  const file = existsSync(path) && statSync(path).isDirectory() ? join(path, "deployed_addresses.json") : path;
  if (!existsSync(file)) {
    throw new Error(
      `${file} does not exist: deploy first (npx hardhat ignition deploy ignition/modules/TidemarkLocal.ts --network localhost) or pass --deployment`,
    );
  }
  return JSON.parse(readFileSync(file, "utf8")) as Record<string, string>;
}

const HELP = `Builds the web example (examples/web) and serves it.

  npm run web -- [options]

  --rpc-url <url>       JSON-RPC endpoint the page talks to (default $TIDEMARK_RPC_URL or http://127.0.0.1:8545)
  --deployment <path>   Ignition deployment directory or its deployed_addresses.json
                        (default ignition/deployments/chain-31337)
  --port <n>            HTTP port (default 5173; 0 picks a free one)
  --host <host>         interface to listen on (default 127.0.0.1)
  --no-build            serve the existing examples/web/dist
  -h, --help            this text

The page signs with Hardhat's public test account #2 and only on a local chain (chain id 31337 or 1337); append
?key=0x... to the URL for another test key.`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      "rpc-url": { type: "string" },
      deployment: { type: "string" },
      port: { type: "string", default: "5173" },
      host: { type: "string", default: "127.0.0.1" },
      "no-build": { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const rpcUrl = values["rpc-url"] ?? process.env.TIDEMARK_RPC_URL ?? "http://127.0.0.1:8545";
  const deploymentPath = resolve(values.deployment ?? join(ROOT, "ignition", "deployments", "chain-31337"));
  const deployment = readDeployment(deploymentPath);
  if (!values["no-build"]) await buildWeb();
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new Error(`--port: not a port: ${values.port}`);
  const { url, close } = await serveWeb({ config: { rpcUrl, deployment }, port, host: values.host });
  console.log(`\nTidemark web example at ${url}\n  RPC ${rpcUrl}\n  deployment ${relative(process.cwd(), deploymentPath) || "."}\nCtrl-C stops it.`);
  const stop = () => void close().then(() => process.exit(0));
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    console.error(`web: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
