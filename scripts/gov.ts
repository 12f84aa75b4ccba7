/**
 * Tidemark governance CLI: read every market's parameters, and propose, execute, cancel and follow parameter changes
 * through the TimelockController that governs the engine. Works against any JSON-RPC URL.
 *
 *   npm run gov -- --help
 *   npm run gov -- <command> --help
 *
 * Addresses come from --engine/--timelock, the TIDEMARK_ENGINE/TIDEMARK_TIMELOCK environment variables, or an
 * Ignition deployment (--deployment <dir>/deployed_addresses.json). The signer (propose, execute, cancel) is
 * TIDEMARK_PRIVATE_KEY, or --keystore <file> (an encrypted JSON keystore) with TIDEMARK_KEYSTORE_PASSWORD. Keys are
 * never printed. Contract ABIs are read from Hardhat's artifacts (run `npx hardhat build` once).
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

import {
  Contract,
  Interface,
  JsonRpcProvider,
  Wallet,
  decodeBytes32String,
  encodeBytes32String,
  formatUnits,
  id as keccakId,
  isAddress,
  parseUnits,
  type ContractRunner,
  type Signer,
} from "ethers";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const WAD_DECIMALS = 18;

class UsageError extends Error {}

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
  --rpc <url>          JSON-RPC URL (env TIDEMARK_RPC_URL; default http://127.0.0.1:8545)
  --engine <address>   TidemarkEngine (env TIDEMARK_ENGINE)
  --timelock <address> TimelockController (env TIDEMARK_TIMELOCK)
  --deployment <path>  Ignition deployed_addresses.json (or its directory) to read both addresses from
  --keystore <file>    encrypted JSON keystore for the signer; password from TIDEMARK_KEYSTORE_PASSWORD
                       (otherwise the signer is TIDEMARK_PRIVATE_KEY)
  -h, --help           this help`;

const SETTERS: Record<string, string> = {
  "reserve-factor": "setReserveFactor <fraction>, e.g. 0.25 or 25%",
  "risk-params": "setRiskParams --market M --set field=value ... (rates as 0.0006 or 0.06%, money in USD)",
  "funding-params": "setFundingParams --market M --set skewScale=<units> --set maxFundingRatePerDay=<rate>",
  "exposure-params":
    "setExposureParams --market M --set impactSkewScale=<units> --set maxLongOpenInterestRatio=<x> ...",
  "oracle-config": "setOracleConfig --market M --set feed=0x.. --set heartbeat=<s> --set minPrice=<USD> ...",
  "margin-tiers": "setMarginTiers --market M --file tiers.json ([{notionalFloor (USD), imr, mmr}])",
  "sequencer-config": "setSequencerConfig --set feed=0x.. --set gracePeriod=<s>",
};

const HELP: Record<string, string> = {
  main: `Usage: npm run gov -- <command> [options]

Commands:
  show      every market's parameters, oracle status and open interest, in readable units
  propose   schedule a parameter change on the timelock: prints a before/after diff, the operation id and when it
            becomes executable; the change is simulated as the timelock first and refused if the engine would reject
  execute   execute a ready operation by id
  cancel    cancel a pending operation by id (proposer/canceller only)
  status    the state of one operation, or of every operation scheduled on the timelock

Run "npm run gov -- <command> --help" for a command's options.

${COMMON_HELP}`,
  show: `Usage: npm run gov -- show [--market <symbol>]

Prints the engine's global settings, the timelock's delay and, for each listed market (or one), the oracle, margin
tiers, fees and liquidation parameters, price impact and caps, funding and open interest.

${COMMON_HELP}`,
  propose: `Usage: npm run gov -- propose <change> [args] [--market <symbol>] [--set field=value]... [--file f]
                             [--salt <text>] [--dry-run]

Changes:
${Object.entries(SETTERS)
  .map(([k, v]) => `  ${k.padEnd(17)} ${v}`)
  .join("\n")}

Units: rates are fractions (0.0005) or percentages (0.05%); USD amounts and prices are plain decimals (1000, 3000.5);
sizes are base-asset units (100.5). The proposal is scheduled with the timelock's minimum delay. --dry-run prints
the diff and the simulation result without sending anything.

${COMMON_HELP}`,
  execute: `Usage: npm run gov -- execute <operation id>

Finds the operation's call in the timelock's CallScheduled event and executes it (executor only). Fails with the
time left when it is not ready yet.

${COMMON_HELP}`,
  cancel: `Usage: npm run gov -- cancel <operation id>

Cancels a pending operation (canceller role: the proposers).

${COMMON_HELP}`,
  status: `Usage: npm run gov -- status [<operation id>] [--from-block <n>]

One operation: its state (pending, ready, done, cancelled/unknown), when it becomes executable and the decoded call.
Without an id: every operation the timelock scheduled since --from-block (default 0).

${COMMON_HELP}`,
};

/* -------------------------------------------------------------- formatting */

const wadStr = (x: bigint) => trimZeros(formatUnits(x, WAD_DECIMALS));
const pct = (x: bigint) => `${trimZeros(formatUnits(x * 100n, WAD_DECIMALS))}%`;
const usd = (x: bigint) => `${Number(formatUnits(x, WAD_DECIMALS)).toLocaleString("en-US", { maximumFractionDigits: 6 })} USD`;
function trimZeros(s: string) {
  return s.includes(".") ? s.replace(/0+$/, "").replace(/\.$/, "") : s;
}

/** How each struct field is read and printed: rate (fraction), usd (WAD USD), units (WAD base), int, address. */
type Kind = "rate" | "usd" | "units" | "ratio" | "int" | "address";
const FIELDS: Record<string, Record<string, Kind>> = {
  riskParams: {
    takerFeeRate: "rate",
    liquidationFeeRate: "rate",
    liquidationPenaltyRate: "rate",
    targetHealthFactor: "ratio",
    minKeeperFee: "usd",
    maxKeeperFee: "usd",
    minPositionNotional: "usd",
    fullLiquidationNotional: "usd",
  },
  fundingParams: { skewScale: "units", maxFundingRatePerDay: "rate" },
  exposureParams: { impactSkewScale: "units", maxLongOpenInterestRatio: "ratio", maxShortOpenInterestRatio: "ratio" },
  oracleConfig: { feed: "address", heartbeat: "int", decimals: "int", minPrice: "usd", maxPrice: "usd" },
  sequencerConfig: { feed: "address", gracePeriod: "int" },
};

function show(kind: Kind, v: unknown): string {
  if (kind === "address") return String(v);
  const x = BigInt(v as bigint);
  switch (kind) {
    case "rate":
      return pct(x);
    case "usd":
      return usd(x);
    case "units":
      return `${wadStr(x)} units`;
    case "ratio":
      return `${wadStr(x)}x`;
    case "int":
      return x.toString();
  }
}

/** Parses a readable value into the on-chain integer for its kind. */
function parseValue(field: string, kind: Kind, raw: string): bigint | string {
  const text = raw.trim().replace(/_/g, "");
  try {
    if (kind === "address") {
      if (!isAddress(text)) throw new Error("not an address");
      return text;
    }
    if (kind === "int") {
      if (!/^\d+$/.test(text)) throw new Error("not a whole number");
      return BigInt(text);
    }
    if (kind === "rate" && text.endsWith("%")) return parseUnits(text.slice(0, -1), WAD_DECIMALS) / 100n;
    const cleaned = kind === "ratio" && text.endsWith("x") ? text.slice(0, -1) : text;
    if (!/^\d+(\.\d+)?$/.test(cleaned)) throw new Error("not a non-negative decimal number");
    return parseUnits(cleaned, WAD_DECIMALS);
  } catch (e) {
    throw new UsageError(`--set ${field}=${raw}: ${(e as Error).message} (expected ${kind})`);
  }
}

/* ---------------------------------------------------------------- context */

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
  provider: JsonRpcProvider;
  engine: Contract;
  timelock: Contract;
  signer?: Signer;
}

function addresses(values: Record<string, unknown>) {
  let engine = (values.engine as string | undefined) ?? process.env.TIDEMARK_ENGINE;
  let timelock = (values.timelock as string | undefined) ?? process.env.TIDEMARK_TIMELOCK;
  const deployment = values.deployment as string | undefined;
  if (deployment !== undefined) {
    const file = deployment.endsWith(".json") ? deployment : join(deployment, "deployed_addresses.json");
    if (!existsSync(file)) throw new UsageError(`--deployment: ${file} does not exist`);
    const all = JSON.parse(readFileSync(file, "utf8")) as Record<string, string>;
    const pick = (suffix: string) => Object.entries(all).find(([k]) => k.endsWith(`#${suffix}`))?.[1];
    engine ??= pick("TidemarkEngine");
    timelock ??= pick("TimelockController");
  }
  for (const [name, value] of [
    ["engine", engine],
    ["timelock", timelock],
  ] as const) {
    if (value === undefined) throw new UsageError(`no ${name} address: pass --${name}, set TIDEMARK_${name.toUpperCase()} or --deployment`);
    if (!isAddress(value)) throw new UsageError(`--${name} ${value} is not an address`);
  }
  return { engine: engine as string, timelock: timelock as string };
}

async function signerFrom(values: Record<string, unknown>, provider: JsonRpcProvider): Promise<Signer> {
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

async function context(values: Record<string, unknown>, needsSigner: boolean): Promise<Ctx> {
  const url = (values.rpc as string | undefined) ?? process.env.TIDEMARK_RPC_URL ?? "http://127.0.0.1:8545";
  const provider = new JsonRpcProvider(url, undefined, { staticNetwork: true });
  try {
    await provider.getBlockNumber();
  } catch {
    throw new UsageError(`cannot reach the RPC at ${url}`);
  }
  const a = addresses(values);
  const signer = needsSigner ? await signerFrom(values, provider) : undefined;
  const runner: ContractRunner = signer ?? provider;
  const ctx = {
    provider,
    signer,
    engine: new Contract(a.engine, artifact("TidemarkEngine").abi as never, runner),
    timelock: new Contract(a.timelock, artifact("TimelockController").abi as never, runner),
  };
  if ((await provider.getCode(a.engine)) === "0x") throw new UsageError(`no contract at engine address ${a.engine}`);
  if ((await provider.getCode(a.timelock)) === "0x") throw new UsageError(`no contract at timelock address ${a.timelock}`);
  return ctx;
}

/** Engine and timelock errors, for decoding reverts. */
function errorInterface() {
  return new Interface([
    ...(artifact("TidemarkEngine").abi as never[]),
    ...(artifact("TimelockController").abi as never[]).filter((f: { type: string }) => f.type === "error"),
  ]);
}

function describeRevert(e: unknown): string {
  const data = findRevertData(e);
  if (data !== undefined && data !== "0x") {
    try {
      const err = errorInterface().parseError(data);
      if (err !== null) {
        const args = err.fragment.inputs.map((input, i) => {
          const v = err.args[i];
          const text = input.type === "bytes32" ? tryBytes32(v as string) : String(v);
          return `${input.name}=${text}`;
        });
        return `${err.name}(${args.join(", ")})`;
      }
    } catch {
      /* unknown error data: fall through */
    }
    return `revert data ${data}`;
  }
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

function tryBytes32(v: string) {
  try {
    return decodeBytes32String(v);
  } catch {
    return v;
  }
}

/* ------------------------------------------------------------------- show */

async function cmdShow(values: Record<string, unknown>) {
  const { engine, timelock } = await context(values, false);
  const out: string[] = [];
  const markets: string[] = values.market ? [encodeBytes32String(values.market as string)] : await engine.listedMarkets();
  const seq = await engine.sequencerConfig();
  out.push(`engine ${await engine.getAddress()}`);
  out.push(`  reserve factor            ${pct(await engine.reserveFactor())}`);
  out.push(`  open entry notional       ${usd(await engine.totalOpenNotional())}`);
  out.push(`  globally paused           ${await engine.globalPaused()}`);
  out.push(`  sequencer feed            ${seq.feed} (grace period ${seq.gracePeriod} s)`);
  out.push(`timelock ${await timelock.getAddress()}  minimum delay ${await timelock.getMinDelay()} s`);
  const statuses = ["ok", "stale", "invalid answer", "out of bounds", "sequencer down", "grace period"];
  for (const m of markets) {
    if (!(await engine.isListed(m))) throw new UsageError(`market ${tryBytes32(m)} is not listed`);
    const [status, price] = await engine.oracleStatus(m);
    const [long, short] = await engine.openInterest(m);
    const [, rate] = await engine.fundingState(m);
    out.push("", `market ${tryBytes32(m)}${(await engine.isMarketPaused(m)) ? " (paused)" : ""}`);
    out.push(`  oracle                    ${statuses[Number(status)]}, ${usd(price)}`);
    out.push(...struct("oracleConfig", await engine.oracleConfig(m)));
    out.push(`  margin tiers (marginal rates by notional):`);
    for (const t of await engine.marginTiers(m)) {
      out.push(`    from ${usd(t.notionalFloor).padEnd(22)} IMR ${pct(t.imr).padEnd(8)} MMR ${pct(t.mmr)}`);
    }
    out.push(...struct("riskParams", await engine.riskParams(m)));
    out.push(...struct("exposureParams", await engine.exposureParams(m)));
    out.push(...struct("fundingParams", await engine.fundingParams(m)));
    out.push(`  funding rate now          ${pct(rate < 0n ? -rate : rate)} per day, ${rate >= 0n ? "longs pay" : "shorts pay"}`);
    out.push(`  open interest             long ${wadStr(long)}, short ${wadStr(short)} units`);
  }
  console.log(out.join("\n"));
}

function struct(name: string, value: Record<string, unknown>): string[] {
  return Object.entries(FIELDS[name]).map(([field, kind]) => `  ${field.padEnd(26)}${show(kind, value[field])}`);
}

/* ---------------------------------------------------------------- propose */

interface Change {
  fn: string;
  args: unknown[];
  diff: string[];
}

async function buildChange(engine: Contract, change: string, values: Record<string, unknown>, rest: string[]): Promise<Change> {
  const sets = parseSets((values.set as string[] | undefined) ?? []);
  const market = () => {
    if (values.market === undefined) throw new UsageError(`propose ${change} needs --market <symbol>`);
    return encodeBytes32String(values.market as string);
  };
  const diffStruct = (name: string, before: Record<string, unknown>) => {
    const after: Record<string, unknown> = {};
    for (const [field, kind] of Object.entries(FIELDS[name])) after[field] = before[field];
    for (const [field, raw] of Object.entries(sets)) {
      const kind = FIELDS[name][field];
      if (kind === undefined) {
        throw new UsageError(`unknown field "${field}" for ${change}; fields: ${Object.keys(FIELDS[name]).join(", ")}`);
      }
      after[field] = parseValue(field, kind, raw);
    }
    const diff = Object.entries(FIELDS[name]).map(([field, kind]) => {
      const a = show(kind, before[field]);
      const b = show(kind, after[field]);
      return a === b ? `  ${field.padEnd(26)}${a}` : `~ ${field.padEnd(26)}${a}  ->  ${b}`;
    });
    return { after, diff };
  };
  switch (change) {
    case "reserve-factor": {
      const raw = rest[0];
      if (raw === undefined) throw new UsageError("propose reserve-factor needs a value, e.g. 0.25 or 25%");
      const next = parseValue("reserveFactor", "rate", raw) as bigint;
      const cur = await engine.reserveFactor();
      return { fn: "setReserveFactor", args: [next], diff: [`~ reserveFactor             ${pct(cur)}  ->  ${pct(next)}`] };
    }
    case "risk-params": {
      const m = market();
      const { after, diff } = diffStruct("riskParams", (await engine.riskParams(m)).toObject());
      return { fn: "setRiskParams", args: [m, after], diff };
    }
    case "funding-params": {
      const m = market();
      const { after, diff } = diffStruct("fundingParams", (await engine.fundingParams(m)).toObject());
      return { fn: "setFundingParams", args: [m, after], diff };
    }
    case "exposure-params": {
      const m = market();
      const { after, diff } = diffStruct("exposureParams", (await engine.exposureParams(m)).toObject());
      return { fn: "setExposureParams", args: [m, after], diff };
    }
    case "oracle-config": {
      const m = market();
      const { after, diff } = diffStruct("oracleConfig", (await engine.oracleConfig(m)).toObject());
      return { fn: "setOracleConfig", args: [m, after], diff };
    }
    case "sequencer-config": {
      const { after, diff } = diffStruct("sequencerConfig", (await engine.sequencerConfig()).toObject());
      return { fn: "setSequencerConfig", args: [after.feed, after.gracePeriod], diff };
    }
    case "margin-tiers": {
      const m = market();
      const file = values.file as string | undefined;
      if (file === undefined) throw new UsageError("propose margin-tiers needs --file <tiers.json>");
      const rows = JSON.parse(readFileSync(file, "utf8")) as { notionalFloor: string; imr: string; mmr: string }[];
      if (!Array.isArray(rows)) throw new UsageError(`${file}: expected an array of {notionalFloor, imr, mmr}`);
      const tiers = rows.map((r, i) => {
        for (const k of ["notionalFloor", "imr", "mmr"] as const) {
          if (r[k] === undefined) throw new UsageError(`${file}: tier ${i} has no ${k}`);
        }
        return {
          notionalFloor: parseValue(`tiers[${i}].notionalFloor`, "usd", String(r.notionalFloor)),
          imr: parseValue(`tiers[${i}].imr`, "rate", String(r.imr)),
          mmr: parseValue(`tiers[${i}].mmr`, "rate", String(r.mmr)),
        };
      });
      const fmt = (t: { notionalFloor: bigint; imr: bigint; mmr: bigint }) =>
        `from ${usd(t.notionalFloor)}: IMR ${pct(t.imr)}, MMR ${pct(t.mmr)}`;
      const cur = (await engine.marginTiers(m)).map((t: { notionalFloor: bigint; imr: bigint; mmr: bigint }) => fmt(t));
      const next = tiers.map((t) => fmt(t as { notionalFloor: bigint; imr: bigint; mmr: bigint }));
      return { fn: "setMarginTiers", args: [m, tiers], diff: [...cur.map((l: string) => `- ${l}`), ...next.map((l) => `+ ${l}`)] };
    }
    default:
      throw new UsageError(`unknown change "${change}"; one of: ${Object.keys(SETTERS).join(", ")}`);
  }
}

function parseSets(list: string[]) {
  const out: Record<string, string> = {};
  for (const item of list) {
    const i = item.indexOf("=");
    if (i <= 0) throw new UsageError(`--set ${item}: expected field=value`);
    out[item.slice(0, i)] = item.slice(i + 1);
  }
  return out;
}

async function cmdPropose(values: Record<string, unknown>, positionals: string[]) {
  const [change, ...rest] = positionals;
  if (change === undefined) throw new UsageError("propose needs a change; see npm run gov -- propose --help");
  // Read and check the change first, so bad input fails before any signer is loaded.
  const { engine, timelock: timelockReader, provider } = await context(values, false);
  const c = await buildChange(engine, change, values, rest);
  const data = engine.interface.encodeFunctionData(c.fn, c.args);
  console.log(`${c.fn} on ${await engine.getAddress()}:`);
  console.log(c.diff.join("\n"));

  // Simulate the call as the timelock: the engine's own bounds, steps and rules decide.
  try {
    await provider.call({ to: await engine.getAddress(), from: await timelockReader.getAddress(), data });
  } catch (e) {
    throw new UsageError(`the engine would reject this change: ${describeRevert(e)}; nothing was scheduled`);
  }
  console.log("simulated as the timelock: accepted");
  if (values["dry-run"]) return;

  const timelock = timelockReader.connect(await signerFrom(values, provider)) as Contract;
  const delay: bigint = await timelock.getMinDelay();
  const salt = keccakId((values.salt as string | undefined) ?? `tidemark:${Date.now()}`);
  const zero = "0x" + "00".repeat(32);
  const id: string = await timelock.hashOperation(await engine.getAddress(), 0, data, zero, salt);
  try {
    const tx = await timelock.schedule(await engine.getAddress(), 0, data, zero, salt, delay);
    await tx.wait();
  } catch (e) {
    throw new UsageError(`the timelock refused to schedule: ${describeRevert(e)}`);
  }
  const readyAt: bigint = await timelock.getTimestamp(id);
  console.log(`scheduled operation ${id}`);
  console.log(`executable from ${new Date(Number(readyAt) * 1000).toISOString()} (timestamp ${readyAt}, delay ${delay} s)`);
  console.log(`then: npm run gov -- execute ${id}`);
}

/* ------------------------------------------------ execute, cancel, status */

const STATES = ["unknown or cancelled", "pending", "ready", "done"];

interface Scheduled {
  id: string;
  target: string;
  value: bigint;
  data: string;
  predecessor: string;
  delay: bigint;
  salt: string;
  block: number;
}

async function scheduledOps(timelock: Contract, fromBlock: number, id?: string): Promise<Scheduled[]> {
  const logs = await timelock.queryFilter(timelock.filters.CallScheduled(id), fromBlock);
  const salts = await timelock.queryFilter(timelock.filters.CallSalt(id), fromBlock);
  const saltOf = new Map(salts.map((l) => [(l as unknown as { args: unknown[] }).args[0] as string, (l as unknown as { args: unknown[] }).args[1] as string]));
  return logs.map((l) => {
    const a = (l as unknown as { args: unknown[] }).args;
    return {
      id: a[0] as string,
      target: a[2] as string,
      value: a[3] as bigint,
      data: a[4] as string,
      predecessor: a[5] as string,
      delay: a[6] as bigint,
      salt: saltOf.get(a[0] as string) ?? "0x" + "00".repeat(32),
      block: l.blockNumber,
    };
  });
}

function decodeCall(engine: Contract, data: string) {
  try {
    const call = engine.interface.parseTransaction({ data });
    if (call === null) return data;
    const args = call.args.map((v: unknown) => (typeof v === "string" && /^0x[0-9a-f]{64}$/i.test(v) ? tryBytes32(v) : String(v)));
    return `${call.name}(${args.join(", ")})`;
  } catch {
    return data;
  }
}

function requireId(positionals: string[], cmd: string) {
  const id = positionals[0];
  if (id === undefined || !/^0x[0-9a-fA-F]{64}$/.test(id)) throw new UsageError(`${cmd} needs an operation id (0x + 64 hex digits)`);
  return id;
}

async function cmdExecute(values: Record<string, unknown>, positionals: string[]) {
  const id = requireId(positionals, "execute");
  const { timelock, engine, provider } = await context(values, true);
  const [op] = await scheduledOps(timelock, 0, id);
  if (op === undefined) throw new UsageError(`operation ${id} was never scheduled on this timelock`);
  const state = Number(await timelock.getOperationState(id));
  if (state !== 2) {
    const readyAt: bigint = await timelock.getTimestamp(id);
    const now = BigInt((await provider.getBlock("latest"))!.timestamp);
    const why = state === 1 ? `not ready: ${readyAt - now} s left (executable from timestamp ${readyAt})` : STATES[state];
    throw new UsageError(`operation ${id} cannot be executed: ${why}`);
  }
  try {
    const tx = await timelock.execute(op.target, op.value, op.data, op.predecessor, op.salt);
    await tx.wait();
  } catch (e) {
    throw new UsageError(`execution reverted: ${describeRevert(e)}`);
  }
  console.log(`executed ${id}: ${decodeCall(engine, op.data)}`);
}

async function cmdCancel(values: Record<string, unknown>, positionals: string[]) {
  const id = requireId(positionals, "cancel");
  const { timelock } = await context(values, true);
  try {
    await (await timelock.cancel(id)).wait();
  } catch (e) {
    throw new UsageError(`cancel reverted: ${describeRevert(e)}`);
  }
  console.log(`cancelled ${id}`);
}

async function cmdStatus(values: Record<string, unknown>, positionals: string[]) {
  const { timelock, engine } = await context(values, false);
  const fromBlock = Number((values["from-block"] as string | undefined) ?? 0);
  const id = positionals[0];
  if (id !== undefined) requireId(positionals, "status");
  const ops = await scheduledOps(timelock, fromBlock, id);
  if (id !== undefined && ops.length === 0) throw new UsageError(`operation ${id} was never scheduled on this timelock`);
  if (ops.length === 0) console.log("no operations scheduled");
  for (const op of ops) {
    const state = Number(await timelock.getOperationState(op.id));
    const readyAt: bigint = await timelock.getTimestamp(op.id);
    const when = state === 1 || state === 2 ? `, executable from timestamp ${readyAt}` : "";
    console.log(`${op.id}  ${STATES[state]}${when}\n  ${decodeCall(engine, op.data)}`);
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
    execute: {},
    cancel: {},
    status: { "from-block": { type: "string" } },
  } as const;
  if (!(command in specific)) throw new UsageError(`unknown command "${command}"; see npm run gov -- --help`);
  let parsed;
  try {
    parsed = parseArgs({
      args: tail,
      options: { ...COMMON, ...specific[command as keyof typeof specific] },
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    throw new UsageError(`${(e as Error).message}; see npm run gov -- ${command} --help`);
  }
  const { values, positionals } = parsed as { values: Record<string, unknown>; positionals: string[] };
  if (values.help) {
    console.log(HELP[command]);
    return;
  }
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
    console.error(`gov: ${e instanceof UsageError ? e.message : (e as Error).stack ?? String(e)}`);
    process.exit(e instanceof UsageError ? 2 : 1);
  },
);
