/**
 * Readable units for the governance CLI (scripts/gov.ts): how every engine parameter is printed and parsed, and how
 * scheduled calls and contract errors are decoded into the same units. Amounts stay bigint fixed point throughout
 * (WAD, 18 decimals): nothing here goes through a float.
 *
 *   rate        WAD fraction          printed 0.05%           parsed 0.0005 or 0.05%
 *   ratePerDay  WAD fraction per day  printed 0.1% per day    parsed 0.001, 0.1% or 0.1% per day
 *   usd         WAD USD               printed 1,500.00 USD    parsed 1500, 1,500.00 or 1500 USD
 *   base        WAD base-asset units  printed 10,000 ETH      parsed 10000, 10,000 or 10000 ETH (the market's base)
 *   ratio       WAD multiple          printed 2x              parsed 2 or 2x
 *   factor      WAD number            printed 1.25            parsed 1.25
 *   seconds     integer seconds       printed 3600 s          parsed 3600, 3600s or 3600 s
 *   int         integer               printed 8               parsed 8
 *   address     address               printed 0x…             parsed 0x… (checksummed or lower case)
 */
import {
  type Interface,
  type ParamType,
  ZeroHash,
  decodeBytes32String,
  formatUnits,
  getAddress,
  id as keccakId,
  isAddress,
  parseUnits,
} from "ethers";

export const WAD_DECIMALS = 18;

/** An error the user can fix: printed as its message alone, exit code 2. */
export class UsageError extends Error {}

export type Kind = "rate" | "ratePerDay" | "usd" | "base" | "ratio" | "factor" | "seconds" | "int" | "address";

/** Every struct the engine's setters take, field by field, in ABI order. */
export const FIELDS = {
  riskParams: {
    takerFeeRate: "rate",
    liquidationFeeRate: "rate",
    liquidationPenaltyRate: "rate",
    targetHealthFactor: "factor",
    minKeeperFee: "usd",
    maxKeeperFee: "usd",
    minPositionNotional: "usd",
    fullLiquidationNotional: "usd",
  },
  fundingParams: { skewScale: "base", maxFundingRatePerDay: "ratePerDay" },
  exposureParams: { impactSkewScale: "base", maxLongOpenInterestRatio: "ratio", maxShortOpenInterestRatio: "ratio" },
  oracleConfig: { feed: "address", heartbeat: "seconds", decimals: "int", minPrice: "usd", maxPrice: "usd" },
  sequencerConfig: { feed: "address", gracePeriod: "seconds" },
  tier: { notionalFloor: "usd", imr: "rate", mmr: "rate" },
} as const satisfies Record<string, Record<string, Kind>>;

export type StructName = keyof typeof FIELDS;

/** The kind of every parameter name the engine uses in its errors (PerpParameterOutOfBounds and friends). */
export const PARAMETER_KINDS: Record<string, Kind> = {
  ...Object.assign({}, ...Object.values(FIELDS)),
  reserveFactor: "rate",
  feedDecimals: "int",
  tierCount: "int",
};

/** Kinds of scalar setter arguments, by "function.argument". */
const SCALAR_ARGS: Record<string, Kind> = {
  "setReserveFactor.reserveFactor_": "rate",
  "setSequencerConfig.feed": "address",
  "setSequencerConfig.gracePeriod": "seconds",
  "updateDelay.newDelay": "seconds",
};

/** Access-control roles of the engine and the timelock, by id. */
const ROLE_NAMES = new Map<string, string>([
  [ZeroHash, "DEFAULT_ADMIN_ROLE"],
  ...["GOVERNOR_ROLE", "GUARDIAN_ROLE", "PROPOSER_ROLE", "EXECUTOR_ROLE", "CANCELLER_ROLE"].map(
    (name) => [keccakId(name), name] as [string, string],
  ),
]);

/* ---------------------------------------------------------------- printing */

/** A fixed-point integer as a decimal with thousands separators and at least `minFraction` decimals, exactly. */
export function fixed(x: bigint, decimals = WAD_DECIMALS, minFraction = 0): string {
  const [whole, fraction = ""] = formatUnits(x, decimals).split(".");
  const negative = whole.startsWith("-");
  const digits = negative ? whole.slice(1) : whole;
  let frac = fraction.replace(/0+$/, "");
  if (frac.length < minFraction) frac = frac.padEnd(minFraction, "0");
  return `${negative ? "-" : ""}${digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",")}${frac === "" ? "" : `.${frac}`}`;
}

export const pct = (x: bigint) => `${fixed(x * 100n)}%`;
export const usd = (x: bigint) => `${fixed(x, WAD_DECIMALS, 2)} USD`;
export const baseAmount = (x: bigint, base: string | undefined) => `${fixed(x)} ${base ?? "(base asset)"}`;
export const secs = (x: bigint | number) => `${x} s`;

/** A timestamp (seconds) as an ISO 8601 date in UTC, without milliseconds: 2026-12-07T21:00:00Z. */
export function isoTime(ts: bigint | number): string {
  return new Date(Number(ts) * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** A wait in seconds: "42 s", "5400 s (1 h 30 min)". */
export function waitText(s: bigint): string {
  if (s < 120n) return `${s} s`;
  const parts: string[] = [];
  const d = s / 86_400n;
  const h = (s % 86_400n) / 3_600n;
  const m = (s % 3_600n) / 60n;
  const r = s % 60n;
  if (d > 0n) parts.push(`${d} d`);
  if (h > 0n) parts.push(`${h} h`);
  if (m > 0n) parts.push(`${m} min`);
  if (r > 0n) parts.push(`${r} s`);
  return `${s} s (${parts.join(" ")})`;
}

/** The base asset of a market id: "ETH" for "ETH-USD" (or "ETH/USD"); the whole id when it has no quote part. */
export function baseSymbol(market: string): string {
  const base = market.split(/[-/]/)[0];
  return base === "" ? market : base;
}

/** A bytes32 holding a short string (a market id, a parameter name) as that string; anything else as hex. */
export function tryBytes32(v: string): string {
  try {
    const text = decodeBytes32String(v);
    return /^[\x20-\x7e]+$/.test(text) ? text : v;
  } catch {
    return v;
  }
}

/** TimelockController's operation-state bitmap (TimelockUnexpectedOperationState) as state names. */
function operationStates(v: string): string {
  const bits = BigInt(v);
  const names = ["Unset", "Waiting", "Ready", "Done"].filter((_, i) => (bits >> BigInt(i)) & 1n);
  return names.length === 0 ? v : names.join("|");
}

/** One value of a kind, printed for a person. `base` is the market's base symbol, for "base" amounts. */
export function formatValue(kind: Kind, v: unknown, base?: string): string {
  if (kind === "address") return String(v);
  const x = BigInt(v as bigint);
  switch (kind) {
    case "rate":
      return pct(x);
    case "ratePerDay":
      return `${pct(x)} per day`;
    case "usd":
      return usd(x);
    case "base":
      return baseAmount(x, base);
    case "ratio":
      return `${fixed(x)}x`;
    case "factor":
      return fixed(x);
    case "seconds":
      return secs(x);
    case "int":
      return x.toString();
  }
}

/* ----------------------------------------------------------------- parsing */

const EXPECTED: Record<Kind, string> = {
  rate: "a fraction (0.0005) or a percentage (0.05%)",
  ratePerDay: "a fraction per day (0.001) or a percentage (0.1%)",
  usd: "a USD amount (1500 or 1,500.00)",
  base: "an amount of the base asset (10000)",
  ratio: "a multiple (2 or 2x)",
  factor: "a decimal number (1.25)",
  seconds: "a whole number of seconds (3600)",
  int: "a whole number",
  address: "an address (0x + 40 hex digits)",
};

const DECIMAL = /^\d+(\.\d+)?$/;

/** Parses a readable value (as this module prints it, or plainer) into the on-chain integer for its kind. */
export function parseValue(field: string, kind: Kind, raw: string, base?: string): bigint | string {
  const fail = (why: string): never => {
    throw new UsageError(`${field}=${raw}: ${why}; expected ${EXPECTED[kind]}`);
  };
  let text = raw.trim().replace(/_/g, "");
  if (text === "") fail("empty value");
  if (kind === "address") {
    if (!isAddress(text)) fail("not an address");
    return getAddress(text.toLowerCase());
  }
  text = text.replace(/,(?=\d{3}(\D|$))/g, ""); // thousands separators, as printed
  const unit = (suffix: RegExp) => {
    text = text.replace(suffix, "").trim();
  };
  if (kind === "seconds") unit(/\s*s$/i);
  if (kind === "usd") unit(/\s*usd$/i);
  if (kind === "ratePerDay") unit(/\s*(per day|\/\s*day)$/i);
  if (kind === "ratio") unit(/\s*x$/i);
  if (kind === "base") {
    const m = /^(.*?)\s*([A-Za-z][A-Za-z0-9]*)$/.exec(text);
    if (m !== null) {
      if (base === undefined || m[2].toUpperCase() !== base.toUpperCase()) {
        fail(`"${m[2]}" is not this market's base asset${base === undefined ? "" : ` (${base})`}`);
      }
      text = m[1];
    }
  }
  if (kind === "int" || kind === "seconds") {
    if (!/^\d+$/.test(text)) fail("not a whole number");
    return BigInt(text);
  }
  if (text.startsWith("-")) fail("negative values are not allowed");
  const percent = (kind === "rate" || kind === "ratePerDay") && text.endsWith("%");
  if (percent) text = text.slice(0, -1).trim();
  if (!DECIMAL.test(text)) fail("not a number");
  // A percentage is parsed at 16 decimals, a plain value at 18: both exact, and too many decimals is an error rather
  // than a silent truncation.
  const decimals = percent ? WAD_DECIMALS - 2 : WAD_DECIMALS;
  const fraction = text.split(".")[1] ?? "";
  if (fraction.length > decimals) fail(`more than ${decimals} decimals`);
  return parseUnits(text, decimals);
}

/* --------------------------------------------------------- calls and errors */

/** The struct whose fields are exactly these names, if any. */
function structOf(components: readonly ParamType[] | null): StructName | undefined {
  if (components === null) return undefined;
  const names = components.map((c) => c.name).join(",");
  return (Object.keys(FIELDS) as StructName[]).find((s) => Object.keys(FIELDS[s]).join(",") === names);
}

function formatStruct(name: StructName, v: Record<string, unknown> | unknown[], base?: string): string {
  const fields = Object.entries(FIELDS[name]) as [string, Kind][];
  const get = (field: string, i: number) => (Array.isArray(v) ? (v as unknown[])[i] : v[field]);
  return `{${fields.map(([field, kind], i) => `${field}: ${formatValue(kind, get(field, i), base)}`).join(", ")}}`;
}

/** One ABI argument for a person: structs by field kind, markets as symbols, roles by name, dates as ISO. */
function formatArg(fn: string, input: ParamType, v: unknown, base: string | undefined): string {
  if (input.baseType === "tuple") {
    const name = structOf(input.components);
    if (name !== undefined) return formatStruct(name, v as unknown[], base);
    return `(${(v as unknown[]).map((x, i) => formatArg(fn, input.components![i], x, base)).join(", ")})`;
  }
  if (input.baseType === "array") {
    return `[${(v as unknown[]).map((x) => formatArg(fn, input.arrayChildren!, x, base)).join(", ")}]`;
  }
  const kind = SCALAR_ARGS[`${fn}.${input.name}`];
  if (kind !== undefined) return formatValue(kind, v, base);
  if (input.type === "bytes32") {
    const role = ROLE_NAMES.get(String(v));
    if (role !== undefined) return role;
    return tryBytes32(String(v));
  }
  return String(v);
}

/**
 * Decodes call data with an interface into "name(arg, ...)" in readable units, or undefined when the data is not a
 * call of that interface. A `market` argument names the base asset for the amounts after it.
 */
export function formatCall(iface: Interface, data: string): string | undefined {
  let call;
  try {
    call = iface.parseTransaction({ data });
  } catch {
    return undefined;
  }
  if (call === null) return undefined;
  let base: string | undefined;
  const args = call.fragment.inputs.map((input, i) => {
    const v = call.args[i];
    if (input.type === "bytes32" && input.name === "market") {
      const symbol = tryBytes32(String(v));
      base = baseSymbol(symbol);
      return symbol;
    }
    return formatArg(call.name, input, v, base);
  });
  return `${call.name}(${args.join(", ")})`;
}

/** Kinds of error arguments that do not depend on a parameter name. */
const ERROR_ARGS: Record<string, Kind | "iso" | "market" | "role" | "states"> = {
  allowedAt: "iso",
  updatedAt: "iso",
  graceEndsAt: "iso",
  costRate: "rate",
  targetMaintenanceRate: "rate",
  heartbeat: "seconds",
  price: "usd",
  minPrice: "usd",
  maxPrice: "usd",
  delay: "seconds",
  minDelay: "seconds",
  market: "market",
  neededRole: "role",
  expectedStates: "states",
};

/**
 * Decodes revert data with an interface into "ErrorName(arg=value, ...)" in readable units: the values of
 * PerpParameterOutOfBounds and PerpParameterStepTooLarge in the named parameter's unit, timestamps as ISO dates.
 */
export function formatError(iface: Interface, data: string, base?: string): string | undefined {
  let err;
  try {
    err = iface.parseError(data);
  } catch {
    return undefined;
  }
  if (err === null) return undefined;
  const inputs = err.fragment.inputs;
  const parameterAt = inputs.findIndex((i) => i.name === "parameter" && i.type === "bytes32");
  const parameter = parameterAt >= 0 ? tryBytes32(String(err.args[parameterAt])) : undefined;
  const parameterKind = parameter === undefined ? undefined : PARAMETER_KINDS[parameter];
  const args = inputs.map((input, i) => {
    const v = err.args[i];
    let text: string;
    const special = ERROR_ARGS[input.name];
    if (i === parameterAt) text = String(parameter);
    else if (special === "iso") text = isoTime(BigInt(v as bigint));
    else if (special === "market") text = tryBytes32(String(v));
    else if (special === "role") text = ROLE_NAMES.get(String(v)) ?? String(v);
    else if (special === "states") text = operationStates(String(v));
    else if (special !== undefined) text = formatValue(special, v, base);
    else if (parameterKind !== undefined && input.type.startsWith("uint")) text = formatValue(parameterKind, v, base);
    else if (input.type === "bytes32") text = ROLE_NAMES.get(String(v)) ?? tryBytes32(String(v));
    else text = String(v);
    return `${input.name}=${text}`;
  });
  return `${err.name}(${args.join(", ")})`;
}

/* ------------------------------------------------------------------- hints */

/** One shell word, quoted only when needed, so a printed command pastes into sh, bash or zsh as is. */
export function shellWord(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The command line `npm run gov -- <args>` with every argument quoted for the shell. */
export function govCommand(args: string[]): string {
  return ["npm run gov --", ...args.map(shellWord)].join(" ");
}

/**
 * Checks every unsigned integer of a call's arguments against its ABI width (uint32 heartbeat, uint64 rates, ...), so
 * an oversized value is named with its unit instead of failing inside the encoder. Structs are objects by field name.
 */
export function checkRanges(inputs: readonly ParamType[], args: readonly unknown[], base?: string): void {
  const walk = (p: ParamType, v: unknown, path: string) => {
    if (p.baseType === "tuple") {
      for (const c of p.components ?? []) walk(c, (v as Record<string, unknown>)[c.name], c.name);
      return;
    }
    if (p.baseType === "array") {
      (v as unknown[]).forEach((x, i) => walk(p.arrayChildren!, x, `${path}[${i}]`));
      return;
    }
    const m = /^uint(\d+)$/.exec(p.type);
    if (m === null) return;
    const limit = (1n << BigInt(m[1])) - 1n;
    const x = BigInt(v as bigint);
    if (x > limit) {
      const name = path.replace(/\[\d+\]$/, "").replace(/_$/, "");
      const kind = PARAMETER_KINDS[p.name.replace(/_$/, "")] ?? PARAMETER_KINDS[name];
      const show = (y: bigint) => (kind === undefined ? y.toString() : formatValue(kind, y, base));
      throw new UsageError(`${path.replace(/_$/, "")} ${show(x)} is too large: at most ${show(limit)} (${p.type})`);
    }
  };
  inputs.forEach((p, i) => walk(p, args[i], p.name));
}
