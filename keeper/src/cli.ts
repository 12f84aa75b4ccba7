#!/usr/bin/env node
/**
 * Tidemark keeper CLI: `npm run keeper -- [options]`. Options come from a JSON file (--config), the environment and
 * flags (flags win); --help lists them all. Exit codes: 0 after a clean shutdown (SIGINT/SIGTERM), 2 for a bad
 * configuration or signer, 1 when the keeper cannot start.
 */
import { parseArgs } from "node:util";

import { ConfigError, OPTIONS, type OptionName, loadConfig, rangeOf } from "./config.ts";
import { createLogger } from "./log.ts";
import { SignerError, loadSigner } from "./signer.ts";

function help(): string {
  const rows = (Object.keys(OPTIONS) as OptionName[]).map((name) => {
    const o = OPTIONS[name];
    const flag = o.flag === "dry-run" ? "--dry-run" : `--${o.flag} <value>`;
    const range = rangeOf(name);
    const notes = [range ? `${range.min} to ${range.max} ${range.unit}` : undefined, o.default === undefined ? undefined : `default ${o.default}`].filter(Boolean);
    return `  ${flag.padEnd(28)} ${o.env.padEnd(38)} ${o.help}${notes.length ? ` (${notes.join(", ")})` : ""}`;
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
    "An RPC endpoint that cannot be read, at start or later, is retried (--rpc-retry-initial doubling up to --rpc-retry-max)",
    "with one warning per failed attempt; /healthz answers 503 meanwhile. The keeper does not exit because of it.",
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
    ({ values } = parseArgs({ args: joinDashValues(argv, options, byFlag), options, strict: true, allowPositionals: false }));
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`${err.message}\n`);
      return 2;
    }
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
    // Resolves once /metrics and /healthz listen; the chain is reached (and retried) in the background.
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
  const { error } = await keeper.stopped;
  if (error !== null) {
    // Only what retrying cannot fix ends up here (an unreadable or foreign index file, a contract that is not the
    // engine); an unreachable RPC endpoint is retried for as long as it takes.
    log.fatal({ err: error.message }, "keeper could not start");
    log.flush();
    return 1;
  }
  log.flush();
  return 0;
}

class UsageError extends Error {}

/**
 * parseArgs refuses `--polling-interval -5` (a value starting with a dash looks like an option), so a value that
 * follows a string option and is not itself one of the flags is joined to it (`--polling-interval=-5`) and then
 * validated like any other, with the option's range in the message. A string option with no value left is reported
 * with what it accepts.
 */
function joinDashValues(argv: string[], options: Record<string, { type: "string" | "boolean" }>, byFlag: Map<string, OptionName>): string[] {
  const out: string[] = [];
  const isFlag = (arg: string) => arg === "--" || (arg.startsWith("--") && arg.slice(2).split("=")[0] in options) || /^-[a-zA-Z]$/.test(arg);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const flag = arg.startsWith("--") && !arg.includes("=") ? arg.slice(2) : undefined;
    if (flag === undefined || options[flag]?.type !== "string") {
      out.push(arg);
      continue;
    }
    const next = argv[i + 1];
    if (next === undefined || isFlag(next)) {
      const name = byFlag.get(flag);
      const range = name === undefined ? undefined : rangeOf(name);
      const accepts = range ? `a whole number from ${range.min} to ${range.max} (${range.unit})` : name === undefined ? "a file name" : OPTIONS[name].help;
      throw new UsageError(`${arg} needs a value: ${accepts}. Run with --help for the options.`);
    }
    out.push(next.startsWith("-") ? `${arg}=${next}` : arg);
    if (!next.startsWith("-")) out.push(next);
    i++;
  }
  return out;
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
