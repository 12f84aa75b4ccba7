/**
 * Keeper configuration: defaults < JSON file (`--config`) < environment (`TIDEMARK_KEEPER_*`, `TIDEMARK_RPC_URL`) <
 * command-line flags, validated once at start by a zod schema so a bad value fails fast with a message naming it.
 * The signer's private key is never part of it: it comes only from the environment or an encrypted keystore
 * (signer.ts).
 */
import { readFileSync } from "node:fs";

import { type Address, getAddress, isAddress, parseEther, parseUnits } from "viem";
import { z } from "zod";

/**
 * A whole-number option's accepted range and unit: checked by the schema, printed by --help and in every error
 * message about it.
 */
type Range = { readonly min: number; readonly max: number; readonly unit: string };

/** Every option: its flag, environment variable, default and meaning. The CLI's --help prints this table. */
export const OPTIONS = {
  rpcUrl: {
    flag: "rpc-url",
    env: "TIDEMARK_RPC_URL",
    default: undefined,
    help: "JSON-RPC endpoint: http://, https://, ws:// or wss:// (WebSocket), required",
  },
  engine: { flag: "engine", env: "TIDEMARK_ENGINE", default: undefined, help: "TidemarkEngine address (or --deployment)" },
  lens: { flag: "lens", env: "TIDEMARK_LENS", default: undefined, help: "TidemarkLens address (or --deployment)" },
  deployment: {
    flag: "deployment",
    env: "TIDEMARK_DEPLOYMENT",
    default: undefined,
    help: "Hardhat Ignition deployed_addresses.json to take engine and lens from",
  },
  startBlock: { flag: "start-block", env: "TIDEMARK_KEEPER_START_BLOCK", default: "0", help: "block to index engine events from (the engine's deployment block)" },
  dataDir: { flag: "data-dir", env: "TIDEMARK_KEEPER_DATA_DIR", default: ".keeper", help: "directory for the position index and checkpoint" },
  pollingIntervalMs: {
    flag: "polling-interval",
    env: "TIDEMARK_KEEPER_POLLING_INTERVAL_MS",
    default: "1000",
    help: "time between new-block polls",
    range: { min: 10, max: 600_000, unit: "milliseconds" },
  },
  maxBlockRange: {
    flag: "max-block-range",
    env: "TIDEMARK_KEEPER_MAX_BLOCK_RANGE",
    default: "2000",
    help: "blocks per eth_getLogs request",
    range: { min: 1, max: 1_000_000, unit: "blocks" },
  },
  batchSize: {
    flag: "batch-size",
    env: "TIDEMARK_KEEPER_BATCH_SIZE",
    default: "20",
    help: "positions per liquidateBatch transaction",
    range: { min: 1, max: 500, unit: "positions" },
  },
  maxInFlight: {
    flag: "max-in-flight",
    env: "TIDEMARK_KEEPER_MAX_IN_FLIGHT",
    default: "4",
    help: "liquidation transactions pending at once",
    range: { min: 1, max: 64, unit: "transactions" },
  },
  minProfitUsd: { flag: "min-profit", env: "TIDEMARK_KEEPER_MIN_PROFIT_USD", default: "0", help: "minimum reward minus gas cost per transaction, USD" },
  gasPriceMarket: {
    flag: "gas-price-market",
    env: "TIDEMARK_KEEPER_GAS_PRICE_MARKET",
    default: "ETH-USD",
    help: "market whose oracle prices the native gas token in USD",
  },
  nativeUsdPrice: {
    flag: "native-usd-price",
    env: "TIDEMARK_KEEPER_NATIVE_USD_PRICE",
    default: undefined,
    help: "fixed USD price of the gas token instead of --gas-price-market",
  },
  maxFeePerGasGwei: { flag: "max-fee-gwei", env: "TIDEMARK_KEEPER_MAX_FEE_GWEI", default: "500", help: "never pay more than this max fee per gas, gwei" },
  feeBumpPercent: {
    flag: "fee-bump",
    env: "TIDEMARK_KEEPER_FEE_BUMP_PERCENT",
    default: "20",
    help: "fee increase when replacing a stuck transaction",
    range: { min: 10, max: 1000, unit: "percent" },
  },
  stuckAfterBlocks: {
    flag: "stuck-after",
    env: "TIDEMARK_KEEPER_STUCK_AFTER_BLOCKS",
    default: "3",
    help: "blocks before a pending transaction is replaced with higher fees",
    range: { min: 1, max: 1000, unit: "blocks" },
  },
  shard: { flag: "shard", env: "TIDEMARK_KEEPER_SHARD", default: "0/1", help: "i/N: this instance handles positions whose key hash is i mod N" },
  takeoverBlocks: {
    flag: "takeover-blocks",
    env: "TIDEMARK_KEEPER_TAKEOVER_BLOCKS",
    default: "5",
    help: "liquidate another shard's position once it has stayed liquidatable this many blocks",
    range: { min: 1, max: 100_000, unit: "blocks" },
  },
  rpcRetryInitialMs: {
    flag: "rpc-retry-initial",
    env: "TIDEMARK_KEEPER_RPC_RETRY_INITIAL_MS",
    default: "500",
    help: "wait after the first failed attempt to read the chain; doubles with each further failure",
    range: { min: 10, max: 600_000, unit: "milliseconds" },
  },
  rpcRetryMaxMs: {
    flag: "rpc-retry-max",
    env: "TIDEMARK_KEEPER_RPC_RETRY_MAX_MS",
    default: "30000",
    help: "longest wait between attempts to read the chain",
    range: { min: 10, max: 600_000, unit: "milliseconds" },
  },
  metricsPort: {
    flag: "metrics-port",
    env: "TIDEMARK_KEEPER_METRICS_PORT",
    default: "9464",
    help: "port of /metrics and /healthz (0: any free port)",
    range: { min: 0, max: 65_535, unit: "TCP port, 0 for any free one" },
  },
  metricsHost: { flag: "metrics-host", env: "TIDEMARK_KEEPER_METRICS_HOST", default: "127.0.0.1", help: "interface /metrics and /healthz listen on" },
  maxHeadLagSeconds: {
    flag: "max-head-lag",
    env: "TIDEMARK_KEEPER_MAX_HEAD_LAG_SECONDS",
    default: "60",
    help: "/healthz fails when no new block was processed, or the last one is older, for this long",
    range: { min: 1, max: 86_400, unit: "seconds" },
  },
  minSignerBalance: {
    flag: "min-signer-balance",
    env: "TIDEMARK_KEEPER_MIN_SIGNER_BALANCE",
    default: "0.05",
    help: "/healthz fails when the signer holds less native token than this, ETH",
  },
  dryRun: { flag: "dry-run", env: "TIDEMARK_KEEPER_DRY_RUN", default: "false", help: "find and simulate liquidations but send nothing (no key needed)" },
  logLevel: { flag: "log-level", env: "TIDEMARK_KEEPER_LOG_LEVEL", default: "info", help: "trace, debug, info, warn, error or fatal" },
} as const satisfies Record<string, { flag: string; env: string; default: string | undefined; help: string; range?: Range }>;

export type OptionName = keyof typeof OPTIONS;

/** The range of a whole-number option, if it is one. */
export const rangeOf = (name: OptionName): Range | undefined => (OPTIONS[name] as { range?: Range }).range;

/** URL schemes the keeper speaks: JSON-RPC over HTTP(S) or WebSocket. */
export const RPC_SCHEMES = ["http:", "https:", "ws:", "wss:"] as const;

/** What the accepted values of every non-numeric option look like; whole-number options take theirs from `range`. */
const wholeNumber = (name: OptionName) => {
  const { min, max, unit } = rangeOf(name)!;
  return z.string().transform((s, ctx) => {
    const n = /^\d+$/.test(s) ? Number(s) : Number.NaN;
    if (!(n >= min && n <= max)) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must be a whole number from ${min} to ${max} (${unit})` });
      return z.NEVER;
    }
    return n;
  });
};
/** A non-negative (or, with `positive`, strictly positive) decimal with at most `decimals` places, as an integer scaled by 10^decimals. */
const decimal = (decimals: number, unit: string, positive = false) =>
  z.string().transform((s, ctx) => {
    const m = /^\d+(?:\.(\d+))?$/.exec(s);
    const value = m === null || (m[1]?.length ?? 0) > decimals ? undefined : parseUnits(s, decimals);
    if (value === undefined || (positive && value === 0n)) {
      const what = positive ? "a decimal number greater than 0" : "a decimal number, 0 or more";
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must be ${what} (${unit}), with at most ${decimals} decimal places` });
      return z.NEVER;
    }
    return value;
  });
const address = () =>
  z
    .string()
    .refine((s) => isAddress(s, { strict: false }), "must be a 20-byte hex address (0x and 40 hex digits)")
    .transform((s) => getAddress(s) as Address);
const boolean = () =>
  z
    .string()
    .regex(/^(true|false|1|0)$/, "must be true or false")
    .transform((s) => s === "true" || s === "1");
const rpcUrl = () =>
  z.string({ required_error: "is required (--rpc-url or TIDEMARK_RPC_URL)" }).superRefine((s, ctx) => {
    let url: URL;
    try {
      url = new URL(s);
    } catch {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: "must be a URL such as http://127.0.0.1:8545 or wss://host/path" });
      return;
    }
    if (!(RPC_SCHEMES as readonly string[]).includes(url.protocol)) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        message: `has the scheme ${url.protocol}//; the keeper speaks JSON-RPC over http://, https://, ws:// or wss:// only`,
      });
    }
  });

const schema = z
  .object({
    rpcUrl: rpcUrl(),
    engine: address().optional(),
    lens: address().optional(),
    deployment: z.string().optional(),
    startBlock: z
      .string()
      .regex(/^\d+$/, "must be a block number (a whole number, 0 or more)")
      .transform((s) => BigInt(s)),
    dataDir: z.string().min(1, "must not be empty"),
    pollingIntervalMs: wholeNumber("pollingIntervalMs"),
    maxBlockRange: wholeNumber("maxBlockRange"),
    batchSize: wholeNumber("batchSize"),
    maxInFlight: wholeNumber("maxInFlight"),
    minProfitUsd: decimal(18, "USD"),
    gasPriceMarket: z.string().min(1, "must be a market name such as ETH-USD").max(31, "must be a market name of at most 31 characters"),
    nativeUsdPrice: decimal(18, "USD per gas token", true).optional(),
    maxFeePerGasGwei: decimal(9, "gwei", true),
    feeBumpPercent: wholeNumber("feeBumpPercent"),
    stuckAfterBlocks: wholeNumber("stuckAfterBlocks"),
    shard: z
      .string()
      .regex(/^\d+\/\d+$/, "must be i/N, e.g. 0/3")
      .transform((s) => {
        const [index, count] = s.split("/").map(Number);
        return { index, count };
      })
      .refine((s) => s.count >= 1 && s.index < s.count, "must be i/N with 0 <= i < N, e.g. 0/3"),
    takeoverBlocks: wholeNumber("takeoverBlocks"),
    rpcRetryInitialMs: wholeNumber("rpcRetryInitialMs"),
    rpcRetryMaxMs: wholeNumber("rpcRetryMaxMs"),
    metricsPort: wholeNumber("metricsPort"),
    metricsHost: z.string().min(1, "must not be empty"),
    maxHeadLagSeconds: wholeNumber("maxHeadLagSeconds"),
    minSignerBalance: z
      .string()
      .regex(/^\d+(\.\d{1,18})?$/, "must be a decimal number, 0 or more (ETH), with at most 18 decimal places")
      .transform((s) => parseEther(s)),
    dryRun: boolean(),
    logLevel: z.enum(["trace", "debug", "info", "warn", "error", "fatal"], {
      errorMap: () => ({ message: "must be one of trace, debug, info, warn, error, fatal" }),
    }),
  })
  .strict();

/** The validated configuration. Amounts: minProfitUsd and nativeUsdPrice WAD, maxFeePerGasGwei wei, minSignerBalance wei. */
export type KeeperConfig = z.output<typeof schema> & { engine: Address; lens: Address };

/** A configuration error: every problem found, one per line, each naming the option as the user gave it. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Where a value came from: how an error message names the option (the flag as typed, the variable, the file key). */
type Source = { kind: "default" } | { kind: "file"; file: string } | { kind: "env" } | { kind: "flag" };

function label(name: OptionName, source: Source): string {
  const o = OPTIONS[name];
  switch (source.kind) {
    case "flag":
      return `--${o.flag}`;
    case "env":
      return o.env;
    case "file":
      return `"${name}" in ${source.file}`;
    default:
      return `${name} (default)`;
  }
}

/**
 * Builds the configuration from (lowest first) the defaults, the JSON file at `flags.config`, the environment and the
 * flags (option names as keys, string values). Throws ConfigError listing every bad value, each named as it was given:
 * `--polling-interval` for a flag, `TIDEMARK_KEEPER_POLLING_INTERVAL_MS` for the environment, the key and file for
 * the config file, with the accepted range and unit.
 */
export function loadConfig(flags: Partial<Record<OptionName | "config", string>>, env: NodeJS.ProcessEnv = process.env): KeeperConfig {
  const raw: Record<string, string | undefined> = {};
  const sources = new Map<OptionName, Source>();
  for (const [name, o] of Object.entries(OPTIONS)) {
    raw[name] = o.default;
    sources.set(name as OptionName, { kind: "default" });
  }
  const file = flags.config ?? env.TIDEMARK_KEEPER_CONFIG;
  if (file !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(file, "utf8"));
    } catch (err) {
      throw new ConfigError(`config file ${file}: ${(err as Error).message}`);
    }
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) throw new ConfigError(`config file ${file}: must hold a JSON object`);
    for (const [key, value] of Object.entries(parsed)) {
      if (/private|key|password|mnemonic/i.test(key)) {
        throw new ConfigError(`config file ${file}: "${key}" is not accepted; the signer comes only from TIDEMARK_KEEPER_PRIVATE_KEY or a keystore`);
      }
      if (!(key in OPTIONS)) throw new ConfigError(`config file ${file}: unknown option "${key}"`);
      raw[key] = typeof value === "string" ? value : JSON.stringify(value);
      sources.set(key as OptionName, { kind: "file", file });
    }
  }
  for (const [name, o] of Object.entries(OPTIONS)) {
    if (env[o.env] !== undefined && env[o.env] !== "") {
      raw[name] = env[o.env];
      sources.set(name as OptionName, { kind: "env" });
    }
  }
  for (const [name, value] of Object.entries(flags)) {
    if (name !== "config" && value !== undefined) {
      raw[name] = value;
      sources.set(name as OptionName, { kind: "flag" });
    }
  }

  const named = (name: OptionName) => label(name, sources.get(name) ?? { kind: "default" });
  const problems: string[] = [];
  const result = schema.safeParse(Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined)));
  if (!result.success) {
    for (const issue of result.error.issues) {
      const name = issue.path[0] as OptionName | undefined;
      if (name === undefined || !(name in OPTIONS)) {
        problems.push(issue.message);
        continue;
      }
      const value = raw[name];
      if (value === undefined) {
        problems.push(`${name} ${issue.message}`);
        continue;
      }
      // The URL may embed an API key: never echoed.
      problems.push(`${named(name)} ${issue.message}${name === "rpcUrl" ? "" : `; got "${value}"`}`);
    }
  } else {
    const c = result.data;
    if (c.deployment === undefined && (c.engine === undefined || c.lens === undefined)) {
      problems.push("engine and lens addresses are required (--engine and --lens, or --deployment)");
    }
    if (c.rpcRetryMaxMs < c.rpcRetryInitialMs) {
      problems.push(`${named("rpcRetryMaxMs")} (${c.rpcRetryMaxMs} ms) must be at least ${named("rpcRetryInitialMs")} (${c.rpcRetryInitialMs} ms)`);
    }
  }
  if (problems.length > 0 || !result.success) {
    throw new ConfigError(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
  }
  const c = result.data;
  if (c.deployment !== undefined) {
    let deployed: Record<string, string>;
    try {
      deployed = JSON.parse(readFileSync(c.deployment, "utf8"));
    } catch (err) {
      throw new ConfigError(`deployment ${c.deployment}: ${(err as Error).message}`);
    }
    const pick = (name: string) => Object.entries(deployed).find(([k]) => k.endsWith(`#${name}`))?.[1];
    const engine = c.engine ?? pick("TidemarkEngine");
    const lens = c.lens ?? pick("TidemarkLens");
    if (!engine || !lens || !isAddress(engine) || !isAddress(lens)) {
      throw new ConfigError(`deployment ${c.deployment}: no TidemarkEngine and TidemarkLens addresses in it`);
    }
    return { ...c, engine: getAddress(engine), lens: getAddress(lens) };
  }
  return c as KeeperConfig;
}
