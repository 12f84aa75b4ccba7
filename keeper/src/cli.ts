#!/usr/bin/env node
/**
 * Tidemark keeper CLI: `npm run keeper -- [options]`. Options come from a JSON file (--config), the environment and
 * flags (flags win); --help lists them all. Exit codes: 0 after a clean shutdown (SIGINT/SIGTERM), 2 for a bad
 * configuration or signer, 1 when the keeper cannot start.
 */
import { parseArgs } from "node:util";

import { ConfigError, OPTIONS, type OptionName, loadConfig } from "./config.ts";
import { createLogger } from "./log.ts";
import { SignerError, loadSigner } from "./signer.ts";

function help(): string {
  const rows = Object.values(OPTIONS).map((o) => {
    const flag = o.flag === "dry-run" ? "--dry-run" : `--${o.flag} <value>`;
    const dflt = o.default === undefined ? "" : ` (default ${o.default})`;
    return `  ${flag.padEnd(28)} ${o.env.padEnd(38)} ${o.help}${dflt}`;
  });
  return [
    "Tidemark keeper: finds every position with health factor below 1 and liquidates it for the keeper reward.",
    "",
    "Usage: npm run keeper -- [options]",
    "",
    "Options (flag, environment variable, meaning); flags override the environment, which overrides --config:",
    `  ${"--config <file>".padEnd(28)} ${"TIDEMARK_KEEPER_CONFIG".padEnd(38)} JSON file with any of the options below, by name (e.g. "rpcUrl")`,
    ...rows,
    `  ${"--help".padEnd(28)} ${"".padEnd(38)} this text`,
    "",
    "Signer (environment only, never logged):",
    "  TIDEMARK_KEEPER_PRIVATE_KEY            0x-prefixed private key, or",
    "  TIDEMARK_KEEPER_KEYSTORE               encrypted JSON keystore file, with",
    "  TIDEMARK_KEEPER_KEYSTORE_PASSWORD      its password",
    "",
    "Endpoints: http://<metrics-host>:<metrics-port>/metrics (Prometheus) and /healthz (200 ok, 503 with reasons).",
  ].join("\n");
}

async function main(argv: string[]): Promise<number> {
  const options: Record<string, { type: "string" | "boolean" }> = { config: { type: "string" }, help: { type: "boolean" } };
  const byFlag = new Map<string, OptionName>();
  for (const [name, o] of Object.entries(OPTIONS)) {
    options[o.flag] = { type: o.flag === "dry-run" ? "boolean" : "string" };
    byFlag.set(o.flag, name as OptionName);
  }
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false }));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\nRun with --help for the options.\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${help()}\n`);
    return 0;
  }
  const flags: Partial<Record<OptionName | "config", string>> = {};
  if (typeof values.config === "string") flags.config = values.config;
  for (const [flag, value] of Object.entries(values)) {
    const name = byFlag.get(flag);
    if (name !== undefined && value !== undefined) flags[name] = String(value);
  }

  let config;
  let account;
  try {
    config = loadConfig(flags);
    account = await loadSigner();
    if (account === null && !config.dryRun) {
      throw new SignerError("no signer: set TIDEMARK_KEEPER_PRIVATE_KEY or TIDEMARK_KEEPER_KEYSTORE (or run with --dry-run)");
    }
  } catch (err) {
    if (err instanceof ConfigError || err instanceof SignerError) {
      process.stderr.write(`${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const log = createLogger(config.logLevel);
  let keeper;
  try {
    // Loaded here, not at the top: --help and configuration errors need none of the keeper's dependencies.
    const { startKeeper } = await import("./keeper.ts");
    keeper = await startKeeper(config, account, log);
  } catch (err) {
    log.fatal({ err: (err as Error).message }, "keeper could not start");
    log.flush();
    return 1;
  }
  const shutdown = (signal: string) => {
    log.info({ signal }, "shutting down");
    void keeper.stop();
  };
  process.once("SIGINT", () => shutdown("SIGINT"));
  process.once("SIGTERM", () => shutdown("SIGTERM"));
  await keeper.stopped;
  log.flush();
  return 0;
}

process.on("unhandledRejection", (reason) => {
  process.stderr.write(`unhandled rejection: ${(reason as Error)?.stack ?? String(reason)}\n`);
  process.exit(1);
});

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
