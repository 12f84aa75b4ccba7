/**
 * Keeper configuration: defaults < JSON file (`--config`) < environment (`TIDEMARK_KEEPER_*`, `TIDEMARK_RPC_URL`) <
 * command-line flags, validated once at start by a zod schema so a bad value fails fast with a message naming it.
 * The signer's private key is never part of it: it comes only from the environment or an encrypted keystore
 * (signer.ts).
 */
import { readFileSync } from "node:fs";

import { type Address, getAddress, isAddress, parseEther, parseUnits } from "viem";
import { z } from "zod";

/** Every option: its flag, environment variable, default and meaning. The CLI's --help prints this table. */
export const OPTIONS = {
  rpcUrl: { flag: "rpc-url", env: "TIDEMARK_RPC_URL", default: undefined, help: "JSON-RPC endpoint (http or https), required" },
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
  pollingIntervalMs: { flag: "polling-interval", env: "TIDEMARK_KEEPER_POLLING_INTERVAL_MS", default: "1000", help: "milliseconds between new-block polls" },
  maxBlockRange: { flag: "max-block-range", env: "TIDEMARK_KEEPER_MAX_BLOCK_RANGE", default: "2000", help: "blocks per eth_getLogs request" },
  batchSize: { flag: "batch-size", env: "TIDEMARK_KEEPER_BATCH_SIZE", default: "20", help: "positions per liquidateBatch transaction" },
  maxInFlight: { flag: "max-in-flight", env: "TIDEMARK_KEEPER_MAX_IN_FLIGHT", default: "4", help: "liquidation transactions pending at once" },
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
  feeBumpPercent: { flag: "fee-bump", env: "TIDEMARK_KEEPER_FEE_BUMP_PERCENT", default: "20", help: "fee increase when replacing a stuck transaction, % (>= 10)" },
  stuckAfterBlocks: { flag: "stuck-after", env: "TIDEMARK_KEEPER_STUCK_AFTER_BLOCKS", default: "3", help: "blocks before a pending transaction is replaced with higher fees" },
  shard: { flag: "shard", env: "TIDEMARK_KEEPER_SHARD", default: "0/1", help: "i/N: this instance handles positions whose key hash is i mod N" },
  takeoverBlocks: {
    flag: "takeover-blocks",
    env: "TIDEMARK_KEEPER_TAKEOVER_BLOCKS",
    default: "5",
    help: "liquidate another shard's position once it has stayed liquidatable this many blocks",
  },
  metricsPort: { flag: "metrics-port", env: "TIDEMARK_KEEPER_METRICS_PORT", default: "9464", help: "port of /metrics and /healthz (0: any free port)" },
  metricsHost: { flag: "metrics-host", env: "TIDEMARK_KEEPER_METRICS_HOST", default: "127.0.0.1", help: "interface /metrics and /healthz listen on" },
  maxHeadLagSeconds: {
    flag: "max-head-lag",
    env: "TIDEMARK_KEEPER_MAX_HEAD_LAG_SECONDS",
    default: "60",
    help: "/healthz fails when no new block was processed, or the last one is older, for this long",
  },
  minSignerBalance: {
    flag: "min-signer-balance",
    env: "TIDEMARK_KEEPER_MIN_SIGNER_BALANCE",
    default: "0.05",
    help: "/healthz fails when the signer holds less native token than this",
  },
  dryRun: { flag: "dry-run", env: "TIDEMARK_KEEPER_DRY_RUN", default: "false", help: "find and simulate liquidations but send nothing (no key needed)" },
  logLevel: { flag: "log-level", env: "TIDEMARK_KEEPER_LOG_LEVEL", default: "info", help: "trace, debug, info, warn, error or fatal" },
} as const;

export type OptionName = keyof typeof OPTIONS;

const decimal = (name: string, decimals: number) =>
  z
    .string()
    .regex(/^\d+(\.\d+)?$/, `${name} must be a non-negative decimal number`)
    .transform((s) => parseUnits(s, decimals));
const integer = (name: string, min: number, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .regex(/^\d+$/, `${name} must be a whole number`)
    .transform(Number)
    .refine((n) => n >= min && n <= max, `${name} must be between ${min} and ${max}`);
const address = (name: string) =>
  z
    .string()
    .refine((s) => isAddress(s, { strict: false }), `${name} must be a 20-byte hex address`)
    .transform((s) => getAddress(s) as Address);
const boolean = (name: string) =>
  z
    .string()
    .regex(/^(true|false|1|0)$/, `${name} must be true or false`)
    .transform((s) => s === "true" || s === "1");

const schema = z
  .object({
    rpcUrl: z.string({ required_error: "rpcUrl is required (--rpc-url or TIDEMARK_RPC_URL)" }).url("rpcUrl must be a URL"),
    engine: address("engine").optional(),
    lens: address("lens").optional(),
    deployment: z.string().optional(),
    startBlock: z
      .string()
      .regex(/^\d+$/, "startBlock must be a block number")
      .transform((s) => BigInt(s)),
    dataDir: z.string().min(1, "dataDir must not be empty"),
    pollingIntervalMs: integer("pollingIntervalMs", 10, 600_000),
    maxBlockRange: integer("maxBlockRange", 1, 1_000_000),
    batchSize: integer("batchSize", 1, 500),
    maxInFlight: integer("maxInFlight", 1, 64),
    minProfitUsd: decimal("minProfitUsd", 18),
    gasPriceMarket: z.string().min(1).max(32),
    nativeUsdPrice: decimal("nativeUsdPrice", 18).optional(),
    maxFeePerGasGwei: decimal("maxFeePerGasGwei", 9),
    feeBumpPercent: integer("feeBumpPercent", 10, 1000),
    stuckAfterBlocks: integer("stuckAfterBlocks", 1, 1000),
    shard: z
      .string()
      .regex(/^\d+\/\d+$/, "shard must be i/N, e.g. 0/3")
      .transform((s) => {
        const [index, count] = s.split("/").map(Number);
        return { index, count };
      })
      .refine((s) => s.count >= 1 && s.index < s.count, "shard must be i/N with 0 <= i < N"),
    takeoverBlocks: integer("takeoverBlocks", 1, 100_000),
    metricsPort: integer("metricsPort", 0, 65_535),
    metricsHost: z.string().min(1),
    maxHeadLagSeconds: integer("maxHeadLagSeconds", 1, 86_400),
    minSignerBalance: z
      .string()
      .regex(/^\d+(\.\d+)?$/, "minSignerBalance must be a non-negative decimal number")
      .transform((s) => parseEther(s)),
    dryRun: boolean("dryRun"),
    logLevel: z.enum(["trace", "debug", "info", "warn", "error", "fatal"], {
      errorMap: () => ({ message: "logLevel must be one of trace, debug, info, warn, error, fatal" }),
    }),
  })
  .strict()
  .refine((c) => c.deployment !== undefined || (c.engine !== undefined && c.lens !== undefined), {
    message: "engine and lens addresses are required (--engine and --lens, or --deployment)",
  });

/** The validated configuration. Amounts: minProfitUsd and nativeUsdPrice WAD, maxFeePerGasGwei wei, minSignerBalance wei. */
export type KeeperConfig = z.output<typeof schema> & { engine: Address; lens: Address };

/** A configuration error: every problem found, one per line, each naming the option. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/**
 * Builds the configuration from (lowest first) the defaults, the JSON file at `flags.config`, the environment and the
 * flags (option names as keys, string values). Throws ConfigError listing every bad value.
 */
export function loadConfig(flags: Partial<Record<OptionName | "config", string>>, env: NodeJS.ProcessEnv = process.env): KeeperConfig {
  const raw: Record<string, string | undefined> = {};
  for (const [name, o] of Object.entries(OPTIONS)) raw[name] = o.default;
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
    }
  }
  for (const [name, o] of Object.entries(OPTIONS)) if (env[o.env] !== undefined && env[o.env] !== "") raw[name] = env[o.env];
  for (const [name, value] of Object.entries(flags)) if (name !== "config" && value !== undefined) raw[name] = value;

  const result = schema.safeParse(Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined)));
  if (!result.success) {
    throw new ConfigError(
      `invalid configuration:\n${result.error.issues.map((i) => `  - ${i.path.length ? `${i.path.join(".")}: ` : ""}${i.message}`).join("\n")}`,
    );
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
