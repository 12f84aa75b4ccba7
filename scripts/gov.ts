/**
 * Tidemark governance CLI: read every market's parameters, and propose, execute, cancel and follow parameter changes
 * through the TimelockController that governs the engine. Works against any JSON-RPC URL.
 *
 *   npm run gov -- --help
 *   npm run gov -- <command> --help
 *
 * Addresses come from --engine/--timelock, the TIDEMARK_ENGINE/TIDEMARK_TIMELOCK environment variables, an Ignition
 * deployment (--deployment <dir>), or by default the deployment `npm run deploy:local` writes for the RPC's chain
 * (ignition/deployments/chain-<chain id>/deployed_addresses.json, relative to the working directory, which `npm run`
 * sets to the package root). The signer (propose, execute, cancel) is TIDEMARK_PRIVATE_KEY, or --keystore <file> (an
 * encrypted JSON keystore) with TIDEMARK_KEYSTORE_PASSWORD. Keys are never printed. Contract ABIs are read from
 * Hardhat's artifacts (run `npx hardhat build` once). Every value is printed and parsed in readable units
 * (scripts/lib/gov-format.ts), and every command the CLI suggests is printed ready to paste.
 */
import { existsSync, readFileSync, realpathSync } from "node:fs";
import { dirname, isAbsolute, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

import {
  Contract,
  Interface,
  JsonRpcProvider,
  Network,
  Wallet,
  encodeBytes32String,
  formatEther,
  id as keccakId,
  isAddress,
  type ContractRunner,
  type Signer,
} from "ethers";

import {
  FIELDS,
  type Kind,
  type StructName,
  UsageError,
  baseAmount,
  baseSymbol,
  checkRanges,
  formatCall,
  formatError,
  formatValue,
  govCommand,
  isoTime,
  parseValue,
  pct,
  secs,
  tryBytes32,
  usd,
  waitText,
} from "./lib/gov-format.ts";

const ROOT = realpathSync(resolve(dirname(fileURLToPath(import.meta.url)), ".."));
const DEFAULT_RPC = "http://127.0.0.1:8545";
const LOCAL_CHAIN_IDS = new Set([31337n, 1337n]);
const ZERO32 = "0x" + "00".repeat(32);

/* ------------------------------------------------------------------ options */

const COMMON = {
  rpc: { type: "string" },
  engine: { type: "string" },
  timelock: { type: "string" },
  deployment: { type: "string" },
  keystore: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

const COMMON_HELP = `Common options:
  --rpc <url>          JSON-RPC URL (env TIDEMARK_RPC_URL; default ${DEFAULT_RPC})
  --engine <address>   TidemarkEngine (env TIDEMARK_ENGINE)
  --timelock <address> TimelockController (env TIDEMARK_TIMELOCK)
  --deployment <path>  Ignition deployment directory (or its deployed_addresses.json) to read both addresses from
  --keystore <file>    encrypted JSON keystore for the signer; password from TIDEMARK_KEYSTORE_PASSWORD
                       (otherwise the signer is TIDEMARK_PRIVATE_KEY)
  -h, --help           this help

Addresses: --engine/--timelock, else TIDEMARK_ENGINE/TIDEMARK_TIMELOCK, else --deployment, else the deployment of
the RPC's chain that "npm run deploy:local" writes: ignition/deployments/chain-<chain id>/deployed_addresses.json
(from the package root, where npm run starts). So after "npm run node" and "npm run deploy:local", no option is
needed. Every command the CLI suggests carries the options that reached the chain, ready to paste.`;

const SETTERS: Record<string, string> = {
  "reserve-factor": "setReserveFactor <fraction>, e.g. 0.25 or 25%",
  "risk-params": "setRiskParams --market M --set field=value ... (rates 0.0006 or 0.06%, money in USD)",
  "funding-params": "setFundingParams --market M --set skewScale=<base asset> --set maxFundingRatePerDay=<rate>",
  "exposure-params":
    "setExposureParams --market M --set impactSkewScale=<base asset> --set maxLongOpenInterestRatio=<x> ...",
  "oracle-config": "setOracleConfig --market M --set feed=0x.. --set heartbeat=<s> --set minPrice=<USD> ...",
  "margin-tiers": "setMarginTiers --market M --file tiers.json ([{notionalFloor (USD), imr, mmr}])",
  "sequencer-config": "setSequencerConfig --set feed=0x.. --set gracePeriod=<s>",
};

const fieldList = (name: StructName) =>
  Object.entries(FIELDS[name])
    .map(([f, k]) => `${f} (${KIND_NAMES[k]})`)
    .join(", ");
const KIND_NAMES: Record<Kind, string> = {
  rate: "%",
  ratePerDay: "% per day",
  usd: "USD",
  base: "base asset",
  ratio: "x",
  factor: "number",
  seconds: "s",
  int: "integer",
  address: "address",
};

const HELP: Record<string, string> = {
  main: `Usage: npm run gov -- <command> [options]

Commands:
  show      every market's parameters, oracle status and open interest, in readable units
  propose   schedule a parameter change on the timelock: prints a before/after diff, the operation id and when it
            becomes executable; the change is simulated as the timelock first and refused if the engine would reject
  execute   execute a ready operation by id (on a local dev chain, --advance-time skips the wait)
  cancel    cancel a pending operation by id (proposer/canceller only)
  status    the state of one operation, or of every operation scheduled on the timelock, with the decoded call

Run "npm run gov -- <command> --help" for a command's options.

${COMMON_HELP}`,
  show: `Usage: npm run gov -- show [--market <symbol>]

Prints the chain and where the addresses came from, the engine's global settings, the timelock's delay and, for each
listed market (or one), the oracle, margin tiers, fees and liquidation parameters, price impact and caps, funding and
open interest: rates in %, money and prices in USD, sizes in the market's base asset (ETH for ETH-USD), durations
in seconds.

${COMMON_HELP}`,
  propose: `Usage: npm run gov -- propose <change> [args] [--market <symbol>] [--set field=value]... [--file f]
                             [--salt <text>] [--dry-run]

Changes:
${Object.entries(SETTERS)
  .map(([k, v]) => `  ${k.padEnd(17)} ${v}`)
  .join("\n")}

Fields (unit):
  risk-params       ${fieldList("riskParams")}
  funding-params    ${fieldList("fundingParams")}
  exposure-params   ${fieldList("exposureParams")}
  oracle-config     ${fieldList("oracleConfig")}
  sequencer-config  ${fieldList("sequencerConfig")}
  margin-tiers      ${fieldList("tier")}

Units: rates are fractions (0.0005) or percentages (0.05%); USD amounts and prices are plain decimals (1000, 3000.5,
1,500.00 USD); sizes are base-asset amounts (100.5 or 100.5 ETH); durations are whole seconds (3600 or 3600 s).
Values printed by show and by the diff are accepted as they are. The proposal is scheduled with the timelock's
minimum delay; it prints when it becomes executable and the execute command to run then. --dry-run prints the diff
and the simulation result, and the command that schedules it, without sending anything.

${COMMON_HELP}`,
  execute: `Usage: npm run gov -- execute <operation id> [--advance-time]

Finds the operation's call in the timelock's CallScheduled event and executes it (executor only).

On a local dev chain (chain id 31337 or 1337, hardhat node or anvil) it first mines a block, so the chain's clock
catches up with the wall clock: an idle automine chain does not move its timestamp between transactions. If the
operation is still not ready, it says how long is left and when it will be ready, and exits without executing.
  --advance-time   local dev chains only: set the next block's timestamp to the operation's ETA, mine it, then
                   execute (refused on any other chain)
On any other chain it reads the latest block's time and, when the delay has not passed, says how long is left.

${COMMON_HELP}`,
  cancel: `Usage: npm run gov -- cancel <operation id>

Cancels a pending operation (canceller role: the proposers).

${COMMON_HELP}`,
  status: `Usage: npm run gov -- status [<operation id>] [--from-block <n>]

One operation: its state (pending: "executable from <ISO date> (in N s)", ready, done, cancelled), the decoded call
in readable units and the command to execute it. Without an id: every operation the timelock scheduled since
--from-block (default 0). The time is the chain's next block (a local chain's clock, or the later of the latest block
and the wall clock), not the latest block's timestamp, which stands still on an idle local chain.

${COMMON_HELP}`,
};

/* ---------------------------------------------------------------- context */

type Values = Record<string, unknown>;

const artifacts = new Map<string, { abi: unknown[] }>();

function artifact(name: string): { abi: unknown[] } {
  const known = artifacts.get(name);
  if (known !== undefined) return known;
  const candidates = [
    join(ROOT, "artifacts/contracts/core", `${name}.sol`, `${name}.json`),
    join(ROOT, "artifacts/@openzeppelin/contracts/governance", `${name}.sol`, `${name}.json`),
  ];
  for (const path of candidates) {
    if (existsSync(path)) {
      const loaded = JSON.parse(readFileSync(path, "utf8")) as { abi: unknown[] };
      artifacts.set(name, loaded);
      return loaded;
    }
  }
  throw new UsageError(`contract artifact for ${name} not found: run "npx hardhat build" first`);
}

interface Ctx {
  values: Values;
  provider: JsonRpcProvider;
  engine: Contract;
  timelock: Contract;
  engineAddress: string;
  timelockAddress: string;
  signer?: Signer;
  chainId: bigint;
  /** A local dev chain (hardhat node, anvil): evm_mine and evm_setNextBlockTimestamp are available. */
  local: boolean;
  /** Where the addresses came from, for show and for error messages. */
  source: string;
  /** The default deployment directory, when the addresses were read from it. */
  defaultDeployment?: string;
}

const rpcUrl = (values: Values) => (values.rpc as string | undefined) ?? process.env.TIDEMARK_RPC_URL ?? DEFAULT_RPC;

/** The RPC's chain id, with a plain request first so an unreachable URL fails at once with a clear message. */
async function chainIdOf(url: string): Promise<bigint> {
  let body: { result?: string; error?: { message?: string } };
  try {
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] }),
      signal: AbortSignal.timeout(15_000),
    });
    body = (await res.json()) as typeof body;
  } catch (e) {
    throw new UsageError(
      `cannot reach the RPC at ${url} (${(e as Error).message}): start a local chain with "npm run node", or pass --rpc <url> (or set TIDEMARK_RPC_URL)`,
    );
  }
  if (typeof body.result !== "string") {
    throw new UsageError(`the RPC at ${url} did not answer eth_chainId: ${body.error?.message ?? JSON.stringify(body)}`);
  }
  return BigInt(body.result);
}

async function isLocalChain(provider: JsonRpcProvider, chainId: bigint): Promise<boolean> {
  if (LOCAL_CHAIN_IDS.has(chainId)) return true;
  try {
    const version = String(await provider.send("web3_clientVersion", []));
    return /HardhatNetwork|anvil/i.test(version);
  } catch {
    return false;
  }
}

const deploymentFile = (p: string) => resolve(p.endsWith(".json") ? p : join(p, "deployed_addresses.json"));

function readDeployment(file: string, label: string) {
  let all: Record<string, string>;
  try {
    all = JSON.parse(readFileSync(file, "utf8")) as Record<string, string>;
  } catch (e) {
    throw new UsageError(`${label}: cannot read ${file}: ${(e as Error).message}`);
  }
  const pick = (suffix: string) => Object.entries(all).find(([k]) => k.endsWith(`#${suffix}`))?.[1];
  return { engine: pick("TidemarkEngine"), timelock: pick("TimelockController") };
}

function resolveAddresses(values: Values, chainId: bigint, local: boolean) {
  const flagOrEnv = (name: "engine" | "timelock") => {
    const flag = values[name] as string | undefined;
    if (flag !== undefined) return { value: flag, from: `--${name}` };
    const env = process.env[`TIDEMARK_${name.toUpperCase()}`];
    return env === undefined ? undefined : { value: env, from: `TIDEMARK_${name.toUpperCase()}` };
  };
  let engine = flagOrEnv("engine");
  let timelock = flagOrEnv("timelock");
  let defaultDeployment: string | undefined;
  let file: string | undefined;
  if (engine === undefined || timelock === undefined) {
    const deployment = values.deployment as string | undefined;
    if (deployment !== undefined) {
      file = deploymentFile(deployment);
      if (!existsSync(file)) throw new UsageError(`--deployment ${deployment}: ${file} does not exist`);
    } else {
      defaultDeployment = resolve("ignition/deployments", `chain-${chainId}`);
      file = join(defaultDeployment, "deployed_addresses.json");
      if (!existsSync(file)) {
        const fix = local
          ? `deploy the local system with "npm run deploy:local" (with "npm run node" running), or pass --deployment <dir>`
          : `pass --deployment <dir> (this chain's Ignition deployment, see docs/deploy.md)`;
        throw new UsageError(
          `no engine and timelock address: there is no deployment for chain ${chainId} at ${file}. To fix it, ${fix}, ` +
            `or --engine <address> and --timelock <address> (or set TIDEMARK_ENGINE and TIDEMARK_TIMELOCK)`,
        );
      }
    }
    const label = deployment !== undefined ? `--deployment ${deployment}` : "default deployment";
    const read = readDeployment(file, label);
    const rel = displayPath(file);
    if (engine === undefined && read.engine !== undefined) engine = { value: read.engine, from: rel };
    if (timelock === undefined && read.timelock !== undefined) timelock = { value: read.timelock, from: rel };
    for (const [name, v] of [
      ["TidemarkEngine", engine],
      ["TimelockController", timelock],
    ] as const) {
      if (v === undefined) throw new UsageError(`${file} has no ${name} address (no key ending in "#${name}")`);
    }
  }
  for (const [name, v] of [
    ["engine", engine!],
    ["timelock", timelock!],
  ] as const) {
    if (!isAddress(v.value)) throw new UsageError(`${v.from}: ${v.value} is not an address (the ${name})`);
  }
  const sources = [...new Set([engine!.from, timelock!.from])].join(" and ");
  return { engine: engine!, timelock: timelock!, source: sources, defaultDeployment, file };
}

async function signerFrom(values: Values, provider: JsonRpcProvider): Promise<Signer> {
  const keystore = values.keystore as string | undefined;
  if (keystore !== undefined) {
    const password = process.env.TIDEMARK_KEYSTORE_PASSWORD;
    if (password === undefined) throw new UsageError("--keystore needs TIDEMARK_KEYSTORE_PASSWORD in the environment");
    if (!existsSync(keystore)) throw new UsageError(`--keystore: ${keystore} does not exist`);
    try {
      return (await Wallet.fromEncryptedJson(readFileSync(keystore, "utf8"), password)).connect(provider);
    } catch {
      throw new UsageError(`--keystore: cannot decrypt ${keystore} (wrong password or not a keystore)`);
    }
  }
  const key = process.env.TIDEMARK_PRIVATE_KEY;
  if (key === undefined) throw new UsageError("no signer: set TIDEMARK_PRIVATE_KEY or pass --keystore");
  try {
    return new Wallet(key, provider);
  } catch {
    throw new UsageError("TIDEMARK_PRIVATE_KEY is not a valid private key"); // never echo the value
  }
}

async function context(values: Values, needsSigner: boolean): Promise<Ctx> {
  const url = rpcUrl(values);
  const chainId = await chainIdOf(url);
  const provider = new JsonRpcProvider(url, undefined, { staticNetwork: Network.from(chainId) });
  const local = await isLocalChain(provider, chainId);
  const a = resolveAddresses(values, chainId, local);
  const signer = needsSigner ? await signerFrom(values, provider) : undefined;
  const runner: ContractRunner = signer ?? provider;
  for (const [name, v] of [
    ["engine", a.engine],
    ["timelock", a.timelock],
  ] as const) {
    if ((await provider.getCode(v.value)) === "0x") {
      const stale =
        a.file !== undefined && v.from === displayPath(a.file)
          ? local
            ? `; the deployment is stale (was the node restarted?): redeploy with "npm run deploy:local"`
            : "; is this the deployment of this chain?"
          : "";
      throw new UsageError(`no contract at the ${name} address ${v.value} (from ${v.from}) on chain ${chainId}${stale}`);
    }
  }
  return {
    values,
    provider,
    signer,
    chainId,
    local,
    source: a.source,
    defaultDeployment: a.defaultDeployment,
    engineAddress: a.engine.value,
    timelockAddress: a.timelock.value,
    engine: new Contract(a.engine.value, artifact("TidemarkEngine").abi as never, runner),
    timelock: new Contract(a.timelock.value, artifact("TimelockController").abi as never, runner),
  };
}

/* ------------------------------------------------------------------ hints */

/** A path as a pasted `npm run gov` command (run from the package root) finds it: relative to it when inside. */
function hintPath(p: string): string {
  const abs = resolve(p);
  const rel = relative(ROOT, abs);
  return rel !== "" && !rel.startsWith("..") && !isAbsolute(rel) ? rel : abs;
}

/** A path for messages: relative to the working directory when inside it. */
function displayPath(p: string): string {
  const rel = relative(process.cwd(), p);
  return rel !== "" && !rel.startsWith("..") && !isAbsolute(rel) ? rel : p;
}

/**
 * The options a suggested command needs to reach the same chain and contracts: those given on the command line
 * (environment variables carry over by themselves), and the default deployment's directory when it was found from
 * a working directory other than the package root, where `npm run` will start the pasted command.
 */
function connectionArgs(ctx: Ctx, signing: boolean): string[] {
  const v = ctx.values;
  const out: string[] = [];
  if (typeof v.rpc === "string" && v.rpc !== DEFAULT_RPC) out.push("--rpc", v.rpc);
  if (typeof v.deployment === "string") out.push("--deployment", hintPath(v.deployment));
  else if (ctx.defaultDeployment !== undefined && realpathSync(process.cwd()) !== ROOT) {
    out.push("--deployment", hintPath(ctx.defaultDeployment));
  }
  if (typeof v.engine === "string") out.push("--engine", v.engine);
  if (typeof v.timelock === "string") out.push("--timelock", v.timelock);
  if (signing && typeof v.keystore === "string") out.push("--keystore", hintPath(v.keystore));
  return out;
}

const hint = (ctx: Ctx, args: string[], signing: boolean) => govCommand([...args, ...connectionArgs(ctx, signing)]);

/* ------------------------------------------------------------------ clock */

/** The latest block's timestamp, asked afresh (ethers' provider caches identical requests for a moment). */
async function latestTimestamp(provider: JsonRpcProvider): Promise<bigint> {
  const block = (await provider.send("eth_getBlockByNumber", ["latest", false])) as { timestamp: string };
  return BigInt(block.timestamp);
}

/**
 * The time the next block will carry, as well as it can be known without sending anything: a local chain's own clock
 * (its pending block, which counts evm_increaseTime), otherwise the later of the latest block and the wall clock.
 * Never the latest block alone: on an idle automine chain it stands still.
 */
async function chainClock(ctx: Ctx): Promise<bigint> {
  const latest = await latestTimestamp(ctx.provider);
  if (ctx.local) {
    try {
      const pending = (await ctx.provider.send("eth_getBlockByNumber", ["pending", false])) as { timestamp?: string } | null;
      if (pending?.timestamp !== undefined) return max(BigInt(pending.timestamp), latest);
    } catch {
      /* no pending block: fall back to the wall clock */
    }
  }
  return max(latest, BigInt(Math.floor(Date.now() / 1000)));
}

const max = (a: bigint, b: bigint) => (a > b ? a : b);

/* ---------------------------------------------------------------- reverts */

/** Engine and timelock errors, for decoding reverts. */
function errorInterface() {
  return new Interface([
    ...(artifact("TidemarkEngine").abi as never[]),
    ...(artifact("TimelockController").abi as never[]).filter((f: { type: string }) => f.type === "error"),
  ]);
}

function describeRevert(e: unknown, base?: string): string {
  const data = findRevertData(e);
  if (data !== undefined && data !== "0x") return formatError(errorInterface(), data, base) ?? `revert data ${data}`;
  return (e as Error).message?.split("\n")[0] ?? String(e);
}

function findRevertData(e: unknown): string | undefined {
  let cur = e as { data?: unknown; error?: unknown; info?: { error?: { data?: unknown } } } | undefined;
  for (let i = 0; cur !== undefined && i < 5; i++) {
    if (typeof cur.data === "string") return cur.data;
    if (typeof cur.info?.error?.data === "string") return cur.info.error.data as string;
    cur = cur.error as typeof cur;
  }
  return undefined;
}

/* ------------------------------------------------------------------- show */

async function listedSymbols(engine: Contract): Promise<string[]> {
  return ((await engine.listedMarkets()) as string[]).map(tryBytes32);
}

/** The market id of a --market symbol, after checking the engine lists it. */
async function listedMarket(engine: Contract, symbol: string): Promise<string> {
  let id: string;
  try {
    id = encodeBytes32String(symbol);
  } catch {
    throw new UsageError(`--market ${symbol}: a market symbol is at most 31 bytes, like ETH-USD`);
  }
  if (!(await engine.isListed(id))) {
    throw new UsageError(`market ${symbol} is not listed on this engine; listed markets: ${(await listedSymbols(engine)).join(", ")}`);
  }
  return id;
}

async function cmdShow(values: Values) {
  const ctx = await context(values, false);
  const { engine, timelock } = ctx;
  const out: string[] = [];
  const markets: string[] = values.market ? [await listedMarket(engine, values.market as string)] : await engine.listedMarkets();
  const seq = await engine.sequencerConfig();
  out.push(`chain ${ctx.chainId}${ctx.local ? " (local dev chain)" : ""}, addresses from ${ctx.source}`);
  out.push(`engine ${ctx.engineAddress}`);
  out.push(`  reserve factor            ${pct(await engine.reserveFactor())}`);
  out.push(`  open entry notional       ${usd(await engine.totalOpenNotional())}`);
  out.push(`  globally paused           ${await engine.globalPaused()}`);
  out.push(`  sequencer feed            ${seq.feed} (grace period ${secs(seq.gracePeriod)})`);
  out.push(`timelock ${ctx.timelockAddress}  minimum delay ${secs(await timelock.getMinDelay())}`);
  const statuses = ["ok", "stale", "invalid answer", "out of bounds", "sequencer down", "grace period"];
  for (const m of markets) {
    const symbol = tryBytes32(m);
    const base = baseSymbol(symbol);
    const [status, price] = await engine.oracleStatus(m);
    const [long, short] = await engine.openInterest(m);
    const [, rate] = await engine.fundingState(m);
    out.push("", `market ${symbol}${(await engine.isMarketPaused(m)) ? " (paused)" : ""}`);
    out.push(`  oracle                    ${statuses[Number(status)]}, ${usd(price)}`);
    out.push(...struct("oracleConfig", await engine.oracleConfig(m), base));
    out.push(`  margin tiers (marginal rates by notional):`);
    for (const t of await engine.marginTiers(m)) {
      out.push(`    from ${usd(t.notionalFloor).padEnd(22)} IMR ${pct(t.imr).padEnd(8)} MMR ${pct(t.mmr)}`);
    }
    out.push(...struct("riskParams", await engine.riskParams(m), base));
    out.push(...struct("exposureParams", await engine.exposureParams(m), base));
    out.push(...struct("fundingParams", await engine.fundingParams(m), base));
    const payer = rate > 0n ? ", longs pay" : rate < 0n ? ", shorts pay" : " (no skew)";
    out.push(`  funding rate now          ${pct(rate < 0n ? -rate : rate)} per day${payer}`);
    out.push(`  open interest             long ${baseAmount(long, base)}, short ${baseAmount(short, base)}`);
  }
  console.log(out.join("\n"));
}

function struct(name: StructName, value: Record<string, unknown>, base?: string): string[] {
  return Object.entries(FIELDS[name]).map(([field, kind]) => `  ${field.padEnd(26)}${formatValue(kind, value[field], base)}`);
}

/* ---------------------------------------------------------------- propose */

interface Change {
  fn: string;
  args: unknown[];
  diff: string[];
  base?: string;
}

interface TierValue {
  notionalFloor: bigint;
  imr: bigint;
  mmr: bigint;
}

const MARKET_CHANGES = new Set(["risk-params", "funding-params", "exposure-params", "oracle-config", "margin-tiers"]);

async function buildChange(engine: Contract, change: string, values: Values, rest: string[]): Promise<Change> {
  const sets = parseSets((values.set as string[] | undefined) ?? []);
  if (!MARKET_CHANGES.has(change) && values.market !== undefined) {
    throw new UsageError(`propose ${change} is engine-wide: it takes no --market`);
  }
  if (change !== "margin-tiers" && values.file !== undefined) throw new UsageError(`propose ${change} takes no --file`);
  if (change !== "reserve-factor" && rest.length > 0) {
    throw new UsageError(`propose ${change} takes its values as --set field=value, not "${rest.join(" ")}"`);
  }
  if ((change === "reserve-factor" || change === "margin-tiers") && Object.keys(sets).length > 0) {
    throw new UsageError(`propose ${change} takes no --set`);
  }
  const market = async () => {
    if (values.market === undefined) throw new UsageError(`propose ${change} needs --market <symbol>, e.g. --market ETH-USD`);
    return listedMarket(engine, values.market as string);
  };
  const diffStruct = (name: StructName, before: Record<string, unknown>, base?: string) => {
    const fields = FIELDS[name] as Record<string, Kind>;
    if (Object.keys(sets).length === 0) {
      throw new UsageError(`propose ${change} needs at least one --set field=value; fields: ${fieldList(name)}`);
    }
    const after: Record<string, unknown> = {};
    for (const field of Object.keys(fields)) after[field] = before[field];
    for (const [field, raw] of Object.entries(sets)) {
      const kind = fields[field];
      if (kind === undefined) throw new UsageError(`unknown field "${field}" for ${change}; fields: ${fieldList(name)}`);
      after[field] = parseValue(`--set ${field}`, kind, raw, base);
    }
    const diff = Object.entries(fields).map(([field, kind]) => {
      const a = formatValue(kind, before[field], base);
      const b = formatValue(kind, after[field], base);
      return a === b ? `  ${field.padEnd(26)}${a}` : `~ ${field.padEnd(26)}${a}  ->  ${b}`;
    });
    return { after, diff };
  };
  const marketStruct = async (fn: string, name: StructName, read: (m: string) => Promise<{ toObject(): Record<string, unknown> }>) => {
    const m = await market();
    const base = baseSymbol(values.market as string);
    const { after, diff } = diffStruct(name, (await read(m)).toObject(), base);
    return { fn, args: [m, after], diff, base };
  };
  switch (change) {
    case "reserve-factor": {
      const raw = rest[0];
      if (raw === undefined || rest.length > 1) {
        throw new UsageError("propose reserve-factor needs one value, e.g. 0.25 or 25%");
      }
      const next = parseValue("reserve-factor", "rate", raw) as bigint;
      const cur = await engine.reserveFactor();
      return { fn: "setReserveFactor", args: [next], diff: [`~ reserveFactor             ${pct(cur)}  ->  ${pct(next)}`] };
    }
    case "risk-params":
      return marketStruct("setRiskParams", "riskParams", (m) => engine.riskParams(m));
    case "funding-params":
      return marketStruct("setFundingParams", "fundingParams", (m) => engine.fundingParams(m));
    case "exposure-params":
      return marketStruct("setExposureParams", "exposureParams", (m) => engine.exposureParams(m));
    case "oracle-config":
      return marketStruct("setOracleConfig", "oracleConfig", (m) => engine.oracleConfig(m));
    case "sequencer-config": {
      const { after, diff } = diffStruct("sequencerConfig", (await engine.sequencerConfig()).toObject());
      return { fn: "setSequencerConfig", args: [after.feed, after.gracePeriod], diff };
    }
    case "margin-tiers": {
      const file = values.file as string | undefined;
      if (file === undefined) throw new UsageError("propose margin-tiers needs --file <tiers.json>");
      const m = await market();
      const tiers = readTiers(file);
      const fmt = (t: TierValue) => `from ${usd(t.notionalFloor)}: IMR ${pct(t.imr)}, MMR ${pct(t.mmr)}`;
      const cur = ((await engine.marginTiers(m)) as TierValue[]).map(fmt);
      const next = tiers.map(fmt);
      return { fn: "setMarginTiers", args: [m, tiers], diff: [...cur.map((l) => `- ${l}`), ...next.map((l) => `+ ${l}`)] };
    }
    default:
      throw new UsageError(`unknown change "${change}"; one of: ${Object.keys(SETTERS).join(", ")}`);
  }
}

function readTiers(file: string): TierValue[] {
  if (!existsSync(file)) throw new UsageError(`--file ${file} does not exist`);
  let rows: unknown;
  try {
    rows = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new UsageError(`--file ${file} is not valid JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(rows) || rows.length === 0) {
    throw new UsageError(`--file ${file}: expected a non-empty array of {notionalFloor, imr, mmr}`);
  }
  return rows.map((r: Record<string, unknown>, i) => {
    for (const k of ["notionalFloor", "imr", "mmr"] as const) {
      if (r?.[k] === undefined) throw new UsageError(`--file ${file}: tier ${i} has no ${k}`);
    }
    return {
      notionalFloor: parseValue(`tier ${i} notionalFloor`, "usd", String(r.notionalFloor)) as bigint,
      imr: parseValue(`tier ${i} imr`, "rate", String(r.imr)) as bigint,
      mmr: parseValue(`tier ${i} mmr`, "rate", String(r.mmr)) as bigint,
    };
  });
}

function parseSets(list: string[]) {
  const out: Record<string, string> = {};
  for (const item of list) {
    const i = item.indexOf("=");
    if (i <= 0) throw new UsageError(`--set ${item}: expected field=value`);
    const field = item.slice(0, i);
    if (field in out) throw new UsageError(`--set ${field} given twice`);
    out[field] = item.slice(i + 1);
  }
  return out;
}

/** The propose command line that schedules this change, for --dry-run's hint. */
function proposeArgs(change: string, rest: string[], values: Values): string[] {
  const args = ["propose", change, ...rest];
  if (typeof values.market === "string") args.push("--market", values.market);
  for (const s of (values.set as string[] | undefined) ?? []) args.push("--set", s);
  if (typeof values.file === "string") args.push("--file", hintPath(values.file));
  if (typeof values.salt === "string") args.push("--salt", values.salt);
  return args;
}

async function cmdPropose(values: Values, positionals: string[]) {
  const [change, ...rest] = positionals;
  if (change === undefined) throw new UsageError("propose needs a change; see: npm run gov -- propose --help");
  if (!(change in SETTERS)) throw new UsageError(`unknown change "${change}"; one of: ${Object.keys(SETTERS).join(", ")}`);
  // Read and check the change first, so bad input fails before any signer is loaded.
  const ctx = await context(values, false);
  const { engine, provider } = ctx;
  const c = await buildChange(engine, change, values, rest);
  checkRanges(engine.interface.getFunction(c.fn)!.inputs, c.args, c.base);
  let data: string;
  try {
    data = engine.interface.encodeFunctionData(c.fn, c.args);
  } catch (e) {
    throw new UsageError(`cannot encode ${c.fn}: ${(e as Error).message.split(" (")[0]} (a value is out of range)`);
  }
  console.log(`${c.fn} on engine ${ctx.engineAddress}:`);
  console.log(c.diff.join("\n"));

  // Simulate the call as the timelock: the engine's own bounds, steps and rules decide.
  try {
    await provider.call({ to: ctx.engineAddress, from: ctx.timelockAddress, data });
  } catch (e) {
    throw new UsageError(`the engine would reject this change: ${describeRevert(e, c.base)}; nothing was scheduled`);
  }
  console.log("simulated as the timelock: accepted");
  if (values["dry-run"]) {
    console.log(`dry run, nothing sent; to schedule it: ${hint(ctx, proposeArgs(change, rest, values), true)}`);
    return;
  }

  const timelock = ctx.timelock.connect(await signerFrom(values, provider)) as Contract;
  const delay: bigint = await timelock.getMinDelay();
  const salt = keccakId((values.salt as string | undefined) ?? `tidemark:${Date.now()}`);
  const id: string = await timelock.hashOperation(ctx.engineAddress, 0, data, ZERO32, salt);
  const existing: bigint = await timelock.getTimestamp(id);
  if (existing !== 0n) {
    throw new UsageError(
      `operation ${id} (this call with this salt) is already ${existing === 1n ? "done" : "scheduled"}; ` +
        `pass another --salt to schedule it again; see: ${hint(ctx, ["status", id], false)}`,
    );
  }
  let blockTime: bigint;
  try {
    const tx = await timelock.schedule(ctx.engineAddress, 0, data, ZERO32, salt, delay);
    const receipt = await tx.wait();
    blockTime = BigInt((await provider.getBlock(receipt.blockNumber))!.timestamp);
  } catch (e) {
    throw new UsageError(`the timelock refused to schedule: ${describeRevert(e, c.base)}`);
  }
  const readyAt: bigint = await timelock.getTimestamp(id);
  console.log(`scheduled operation ${id}`);
  console.log(`executable from ${isoTime(readyAt)} (in ${waitText(max(readyAt - blockTime, 0n))}; timelock delay ${secs(delay)})`);
  console.log(`then: ${hint(ctx, ["execute", id], true)}`);
  if (ctx.local) console.log(`or, on this local chain, without waiting: ${hint(ctx, ["execute", id, "--advance-time"], true)}`);
}

/* ------------------------------------------------ execute, cancel, status */

interface Call {
  target: string;
  value: bigint;
  data: string;
}

interface Scheduled {
  id: string;
  calls: Call[];
  predecessor: string;
  delay: bigint;
  salt: string;
  block: number;
}

type Log = { args: unknown[]; blockNumber: number };

/** Every operation scheduled on the timelock since `fromBlock` (or the one `id`), from its events, in order. */
async function scheduledOps(timelock: Contract, fromBlock: number, id?: string): Promise<Scheduled[]> {
  const logs = (await timelock.queryFilter(timelock.filters.CallScheduled(id), fromBlock)) as unknown as Log[];
  const salts = (await timelock.queryFilter(timelock.filters.CallSalt(id), fromBlock)) as unknown as Log[];
  const saltOf = new Map(salts.map((l) => [l.args[0] as string, l.args[1] as string]));
  const ops = new Map<string, Scheduled>();
  for (const l of logs) {
    const a = l.args;
    const opId = a[0] as string;
    let op = ops.get(opId);
    // An id scheduled again after a cancel (same call, same salt): the latest scheduling counts.
    if (op === undefined || op.block !== l.blockNumber) {
      op = { id: opId, calls: [], predecessor: a[5] as string, delay: a[6] as bigint, salt: saltOf.get(opId) ?? ZERO32, block: l.blockNumber };
      ops.delete(opId);
      ops.set(opId, op);
    }
    op.calls[Number(a[1] as bigint)] = { target: a[2] as string, value: a[3] as bigint, data: a[4] as string };
  }
  return [...ops.values()].sort((x, y) => x.block - y.block);
}

/** A scheduled call in readable units: "setReserveFactor(25%)". */
function describeCall(ctx: Ctx, call: Call): string {
  const target = call.target.toLowerCase();
  const value = call.value > 0n ? `, sending ${formatEther(call.value)} ETH` : "";
  if (target === ctx.engineAddress.toLowerCase()) return (formatCall(ctx.engine.interface, call.data) ?? call.data) + value;
  if (target === ctx.timelockAddress.toLowerCase()) {
    return `timelock.${formatCall(ctx.timelock.interface, call.data) ?? call.data}${value}`;
  }
  return `call to ${call.target}: ${formatCall(ctx.engine.interface, call.data) ?? call.data}${value}`;
}

const describeOp = (ctx: Ctx, op: Scheduled) => op.calls.map((c) => describeCall(ctx, c)).join("\n  ");

type State = "cancelled" | "pending" | "ready" | "done";

/** The state of an operation from its timelock timestamp (0: cancelled, 1: done, else its ETA) at time `now`. */
function stateAt(readyAt: bigint, now: bigint): State {
  if (readyAt === 0n) return "cancelled";
  if (readyAt === 1n) return "done";
  return readyAt > now ? "pending" : "ready";
}

function requireId(positionals: string[], cmd: string) {
  const id = positionals[0];
  if (id === undefined || !/^0x[0-9a-fA-F]{64}$/.test(id)) {
    throw new UsageError(`${cmd} needs an operation id (0x + 64 hex digits), as propose or status prints it`);
  }
  if (positionals.length > 1) throw new UsageError(`${cmd} takes one operation id, not "${positionals.join(" ")}"`);
  return id.toLowerCase();
}

async function findOp(ctx: Ctx, id: string): Promise<Scheduled> {
  const [op] = await scheduledOps(ctx.timelock, 0, id);
  if (op === undefined) {
    throw new UsageError(
      `operation ${id} was never scheduled on the timelock ${ctx.timelockAddress}; every scheduled operation: ${hint(ctx, ["status"], false)}`,
    );
  }
  return op;
}

async function cmdExecute(values: Values, positionals: string[]) {
  const id = requireId(positionals, "execute");
  const advance = values["advance-time"] === true;
  const ctx = await context(values, true);
  const { timelock, provider } = ctx;
  const op = await findOp(ctx, id);
  const readyAt: bigint = await timelock.getTimestamp(id);
  if (readyAt === 0n) throw new UsageError(`operation ${id} was cancelled: nothing to execute`);
  if (readyAt === 1n) throw new UsageError(`operation ${id} is already done: ${describeOp(ctx, op)}`);
  if (advance && !ctx.local) {
    const left = readyAt - (await chainClock(ctx));
    throw new UsageError(
      `--advance-time only works on a local dev chain (chain id 31337 or 1337, hardhat node or anvil); chain ${ctx.chainId} ` +
        `keeps its own time. ${left > 0n ? `The operation is ready in ${waitText(left)}, at ${isoTime(readyAt)}; then run: ` : "Run: "}` +
        hint(ctx, ["execute", id], true),
    );
  }
  if (ctx.local) {
    // An idle automine chain's latest block keeps the time of the last transaction: mine one, so the chain's clock
    // catches up with the wall clock (or, with --advance-time, jumps to the ETA) before deciding.
    const clock = await chainClock(ctx);
    if (advance && readyAt > clock) {
      await provider.send("evm_setNextBlockTimestamp", [Number(readyAt)]);
      console.log(`advanced the local chain's clock by ${waitText(readyAt - clock)} to ${isoTime(readyAt)}, the operation's ETA`);
    }
    await provider.send("evm_mine", []);
  }
  const now = await latestTimestamp(provider);
  if (now < readyAt) {
    const lines = [
      `operation ${id} is not ready: ready in ${waitText(readyAt - now)}, at ${isoTime(readyAt)} (chain time now ${isoTime(now)})`,
      `wait until then and run again: ${hint(ctx, ["execute", id], true)}`,
    ];
    if (ctx.local) lines.push(`or, on this local chain, without waiting: ${hint(ctx, ["execute", id, "--advance-time"], true)}`);
    throw new UsageError(lines.join("\n"));
  }
  const base = baseOf(ctx, op);
  let receipt;
  try {
    const tx =
      op.calls.length === 1
        ? await timelock.execute(op.calls[0].target, op.calls[0].value, op.calls[0].data, op.predecessor, op.salt)
        : await timelock.executeBatch(
            op.calls.map((c) => c.target),
            op.calls.map((c) => c.value),
            op.calls.map((c) => c.data),
            op.predecessor,
            op.salt,
          );
    receipt = await tx.wait();
  } catch (e) {
    throw new UsageError(`execution reverted: ${describeRevert(e, base)}`);
  }
  console.log(`executed ${id}: ${describeOp(ctx, op)}`);
  console.log(`in block ${receipt.blockNumber}, transaction ${receipt.hash}`);
}

/** The base asset of an operation's market (its first call's `market` argument), for decoding its errors. */
function baseOf(ctx: Ctx, op: Scheduled): string | undefined {
  try {
    const call = ctx.engine.interface.parseTransaction({ data: op.calls[0].data });
    const at = call?.fragment.inputs.findIndex((i) => i.name === "market" && i.type === "bytes32") ?? -1;
    return at < 0 ? undefined : baseSymbol(tryBytes32(String(call!.args[at])));
  } catch {
    return undefined;
  }
}

async function cmdCancel(values: Values, positionals: string[]) {
  const id = requireId(positionals, "cancel");
  const ctx = await context(values, true);
  const op = await findOp(ctx, id);
  const readyAt: bigint = await ctx.timelock.getTimestamp(id);
  if (readyAt === 0n) throw new UsageError(`operation ${id} is already cancelled`);
  if (readyAt === 1n) throw new UsageError(`operation ${id} is already done: it cannot be cancelled`);
  try {
    await (await ctx.timelock.cancel(id)).wait();
  } catch (e) {
    throw new UsageError(`cancel reverted: ${describeRevert(e)}`);
  }
  console.log(`cancelled ${id}: ${describeOp(ctx, op)}`);
}

async function cmdStatus(values: Values, positionals: string[]) {
  const rawFrom = (values["from-block"] as string | undefined) ?? "0";
  if (!/^\d+$/.test(rawFrom)) throw new UsageError(`--from-block ${rawFrom}: expected a block number (a whole number)`);
  const id = positionals.length > 0 ? requireId(positionals, "status") : undefined;
  const ctx = await context(values, false);
  const ops = id !== undefined ? [await findOp(ctx, id)] : await scheduledOps(ctx.timelock, Number(rawFrom));
  if (ops.length === 0) console.log(`no operations scheduled on the timelock ${ctx.timelockAddress} since block ${rawFrom}`);
  const now = await chainClock(ctx);
  for (const op of ops) {
    const readyAt: bigint = await ctx.timelock.getTimestamp(op.id);
    const state = stateAt(readyAt, now);
    const when =
      state === "pending"
        ? `, executable from ${isoTime(readyAt)} (in ${waitText(readyAt - now)})`
        : state === "ready"
          ? ` (executable since ${isoTime(readyAt)})`
          : "";
    console.log(`${op.id}  ${state}${when}\n  ${describeOp(ctx, op)}`);
    if (id === undefined) continue;
    if (state === "ready") console.log(`execute it: ${hint(ctx, ["execute", op.id], true)}`);
    if (state === "pending") {
      console.log(`then, from ${isoTime(readyAt)}: ${hint(ctx, ["execute", op.id], true)}`);
      if (ctx.local) console.log(`or, on this local chain, without waiting: ${hint(ctx, ["execute", op.id, "--advance-time"], true)}`);
    }
  }
}

/* ------------------------------------------------------------------- main */

async function main(argv: string[]) {
  const [command, ...tail] = argv;
  if (command === undefined || command === "--help" || command === "-h" || command === "help") {
    console.log(HELP.main);
    return;
  }
  const specific = {
    show: { market: { type: "string" } },
    propose: {
      market: { type: "string" },
      set: { type: "string", multiple: true },
      file: { type: "string" },
      salt: { type: "string" },
      "dry-run": { type: "boolean" },
    },
    execute: { "advance-time": { type: "boolean" } },
    cancel: {},
    status: { "from-block": { type: "string" } },
  } as const;
  if (!(command in specific)) throw new UsageError(`unknown command "${command}"; see: npm run gov -- --help`);
  let parsed;
  try {
    parsed = parseArgs({
      args: tail,
      options: { ...COMMON, ...specific[command as keyof typeof specific] },
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    throw new UsageError(`${(e as Error).message}; see: npm run gov -- ${command} --help`);
  }
  const { values, positionals } = parsed as { values: Values; positionals: string[] };
  if (values.help) {
    console.log(HELP[command]);
    return;
  }
  if (command === "show" && positionals.length > 0) throw new UsageError(`show takes no arguments, not "${positionals.join(" ")}"`);
  switch (command) {
    case "show":
      return cmdShow(values);
    case "propose":
      return cmdPropose(values, positionals);
    case "execute":
      return cmdExecute(values, positionals);
    case "cancel":
      return cmdCancel(values, positionals);
    case "status":
      return cmdStatus(values, positionals);
  }
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(`gov: ${e instanceof UsageError ? e.message : ((e as Error).stack ?? String(e))}`);
    process.exit(e instanceof UsageError ? 2 : 1);
  },
);
