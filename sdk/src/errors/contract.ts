/**
 * Decoding of contract reverts into typed errors. Every custom error of the engine, lens, pool and insurance fund
 * (`tidemarkErrorsAbi`, generated from the artifacts) becomes a `TidemarkContractError` whose `errorName` narrows
 * `args`; anything else keeps its raw revert data on an `UnknownRevertError`.
 */
import {
  type ContractErrorArgs,
  type ContractErrorName,
  type Hex,
  decodeErrorResult,
  hexToString,
  isHex,
  keccak256,
  size,
  stringToHex,
  trim,
} from "viem";

import { tidemarkErrorsAbi } from "../abi/errors.js";
import {
  type TokenUnits,
  formatDecimal,
  formatDuration,
  formatExact,
  formatPercent,
  formatPoolShares,
  formatTokenAmount,
  formatUsd,
  marketBaseSymbol,
} from "../format.js";
import type { MarketId } from "../types.js";
import { TidemarkError } from "./base.js";

type ErrorsAbi = typeof tidemarkErrorsAbi;
/** Name of a custom error a Tidemark contract can revert with. */
export type TidemarkErrorName = ContractErrorName<ErrorsAbi>;
/** Arguments of the custom error `N`, as viem decodes them (uint/int as bigint, bytes32 as hex). */
export type TidemarkErrorArgs<N extends TidemarkErrorName> = ContractErrorArgs<ErrorsAbi, N>;

/** A decoded custom error: `errorName` discriminates and `args` is typed accordingly. */
export type DecodedTidemarkError = {
  [N in TidemarkErrorName]: { errorName: N; args: TidemarkErrorArgs<N> };
}[TidemarkErrorName];

/**
 * What the message of a decoded error may use beyond the error's own arguments. The SDK's actions fill it in on the
 * error path (the collateral token's units are read then, once per client and token); every field is optional and a
 * message without it is still exact.
 */
export type ContractErrorContext = {
  /**
   * The collateral token's symbol and decimals: its amounts then read "12.34 USDC" (pool shares, which have the same
   * decimals, "12.34 pool shares"); without them the raw integer, "12340000 raw token units (decimals unknown)".
   */
  units?: TokenUnits | undefined;
  /** The market the call was about: sizes in errors that carry no market id then read in its base asset ("1.5 ETH"). */
  market?: MarketId | undefined;
  /**
   * The token an OpenZeppelin ERC20 error (ERC20InsufficientBalance, ERC20InsufficientAllowance) is about: the
   * collateral token (default) or the pool's shares (a redemption request, which moves the owner's shares).
   */
  erc20Token?: "collateral" | "poolShares" | undefined;
  /**
   * The pool function of a claim (ERC-7540 `deposit`/`mint` of a fulfilled deposit, `withdraw`/`redeem` of a fulfilled
   * redemption): VaultInsufficientClaimable's amounts are assets (deposit, withdraw) or shares (mint, redeem), as
   * asked. Without it they read as the raw integers they are.
   */
  poolClaim?: "deposit" | "mint" | "withdraw" | "redeem" | undefined;
};

/** A revert with one of the protocol's custom errors, decoded. */
export class TidemarkContractError<N extends TidemarkErrorName = TidemarkErrorName> extends TidemarkError {
  override name = "TidemarkContractError";
  readonly errorName: N;
  readonly args: TidemarkErrorArgs<N>;
  /** The raw revert data. */
  readonly data: Hex;
  /** What the message was written with (see {@link ContractErrorContext}). */
  readonly context: ContractErrorContext;
  /** The collateral token's units the message's token amounts are in; undefined: they are raw token units. */
  readonly units: TokenUnits | undefined;

  constructor(decoded: { errorName: N; args: TidemarkErrorArgs<N> }, data: Hex, cause?: unknown, context: ContractErrorContext = {}) {
    super(`${decoded.errorName}: ${describeTidemarkError(decoded as DecodedTidemarkError, context)}`, {
      cause,
      metaMessages: [`Arguments: ${formatArgs(decoded.args as readonly unknown[])}`],
    });
    this.errorName = decoded.errorName;
    this.args = decoded.args;
    this.data = data;
    // Only the fields given, so `context` deep-equals what was passed without its undefined entries.
    this.context = Object.fromEntries(Object.entries(context).filter(([, v]) => v !== undefined)) as ContractErrorContext;
    this.units = context.units;
  }

  /** Narrows to one error name: `if (err.is("PerpSlippage")) err.args[0]`. */
  is<M extends TidemarkErrorName>(name: M): this is TidemarkContractError<M> {
    return (this.errorName as string) === name;
  }

  /** True when the message carries collateral token (or pool share) amounts, whose reading depends on `units`. */
  get hasTokenAmounts(): boolean {
    return hasTokenAmounts({ errorName: this.errorName, args: this.args } as DecodedTidemarkError, this.context);
  }

  /**
   * The same error (name, arguments, data and cause) with its message rewritten for more context, e.g. the collateral
   * token's units when the caller knows them: `err.withContext({ units: { symbol: "USDC", decimals: 6 } })`. Fields
   * not given keep their current value.
   */
  withContext(context: ContractErrorContext): TidemarkContractError<N> {
    const given = Object.fromEntries(Object.entries(context).filter(([, v]) => v !== undefined));
    return new TidemarkContractError<N>({ errorName: this.errorName, args: this.args }, this.data, this.cause, { ...this.context, ...given });
  }
}

/** A revert whose data is not one of the protocol's custom errors (an Error(string), a panic, or a foreign error). */
export class UnknownRevertError extends TidemarkError {
  override name = "UnknownRevertError";
  /** The raw revert data, when the node returned any. */
  readonly data: Hex | undefined;

  constructor(data: Hex | undefined, cause?: unknown) {
    const reason = (cause as { shortMessage?: string; message?: string } | undefined)?.shortMessage ?? (cause as Error | undefined)?.message;
    super(data && data !== "0x" ? describeForeignRevert(data) : `Reverted without a decodable reason${reason ? `: ${reason}` : ""}`, {
      cause,
    });
    this.data = data;
  }
}

/** Error(string) and Panic(uint256) spelled out (viem decodes both with any ABI); anything else as raw data. */
function describeForeignRevert(data: Hex): string {
  try {
    const { errorName, args } = decodeErrorResult({ abi: [], data });
    if (errorName === "Error") return `Reverted with reason "${String(args?.[0])}"`;
    if (errorName === "Panic") return `Reverted with panic code ${String(args?.[0])}`;
  } catch {
    // not a standard revert: fall through
  }
  return `Reverted with unknown data ${data}`;
}

const tidemarkErrorNames: ReadonlySet<string> = new Set(tidemarkErrorsAbi.map((e) => e.name));

/**
 * Decodes revert data into a typed error, or returns null when the selector is not a Tidemark custom error.
 */
export function decodeTidemarkRevert(data: Hex): DecodedTidemarkError | null {
  if (!isHex(data) || size(data) < 4) return null;
  try {
    const { errorName, args } = decodeErrorResult({ abi: tidemarkErrorsAbi, data });
    // viem also decodes Error(string) and Panic(uint256), which are not the protocol's errors.
    if (!tidemarkErrorNames.has(errorName)) return null;
    return { errorName, args: args ?? [] } as DecodedTidemarkError;
  } catch {
    return null;
  }
}

/** The revert data carried somewhere in a viem (or JSON-RPC) error's cause chain, if any. */
export function findRevertData(err: unknown): Hex | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < 32 && e !== null && typeof e === "object"; depth++) {
    const o = e as { raw?: unknown; data?: unknown; cause?: unknown };
    if (typeof o.raw === "string" && isHex(o.raw)) return o.raw;
    if (typeof o.data === "string" && isHex(o.data)) return o.data;
    if (o.data !== null && typeof o.data === "object") {
      const inner = (o.data as { data?: unknown }).data;
      if (typeof inner === "string" && isHex(inner)) return inner;
    }
    e = o.cause;
  }
  return undefined;
}

/** True when `err` (or its cause chain) is a revert, as opposed to a transport or wallet failure. */
function isRevert(err: unknown): boolean {
  let e: unknown = err;
  for (let depth = 0; depth < 32 && e !== null && typeof e === "object"; depth++) {
    const name = (e as { name?: unknown }).name;
    if (name === "ContractFunctionRevertedError" || name === "RawContractError" || name === "ExecutionRevertedError") return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * Turns whatever a contract call threw into the SDK's error: a `TidemarkContractError` for a protocol custom error, an
 * `UnknownRevertError` for any other revert (raw data kept), and the original error otherwise (network, wallet
 * rejection, ...). Errors that already are Tidemark errors pass through. `context` (e.g. the collateral token's
 * units) goes into a decoded error's message.
 */
export function toTidemarkError(err: unknown, context?: ContractErrorContext): unknown {
  if (err instanceof TidemarkError) return err;
  const data = findRevertData(err);
  if (data !== undefined) {
    const decoded = decodeTidemarkRevert(data);
    if (decoded) return new TidemarkContractError(decoded, data, err, context);
    return new UnknownRevertError(data, err);
  }
  return isRevert(err) ? new UnknownRevertError(undefined, err) : err;
}

/** Runs a contract call and rethrows its failure through `toTidemarkError` (with `context`, when given). */
export async function withDecodedErrors<T>(call: () => Promise<T>, context?: ContractErrorContext): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw toTidemarkError(err, context);
  }
}

/* ------------------------------------------------------------------ messages */

/** A bytes32 market id or parameter name as text ("ETH-USD"), or hex when it is not printable. */
export function bytes32ToText(x: Hex): string {
  try {
    const trimmed = trim(x, { dir: "right" });
    const text = hexToString(trimmed);
    return /^[\x20-\x7e]+$/.test(text) ? text : x;
  } catch {
    return x;
  }
}
/** The largest unix time (seconds) a Date can hold. */
const MAX_DATE_SECONDS = 8_640_000_000_000n;
/** A unix time as ISO text; the raw number when Date cannot represent it (a broken feed may report any value). */
const time = (t: bigint) => (t <= MAX_DATE_SECONDS ? new Date(Number(t) * 1000).toISOString() : `unix time ${t}`);
/** Health factors at or above this are the contracts' "no requirement" value (max uint256): infinite. */
const INFINITE_HEALTH = 2n ** 255n;

function formatArgs(args: readonly unknown[]): string {
  return `(${args.map((a) => (typeof a === "bigint" ? a.toString() : String(a))).join(", ")})`;
}

/** How the value of a governed parameter reads, by the name the contracts report it under (ConfigLib). */
type ParameterKind = "rate" | "ratePerDay" | "poolRatio" | "factor" | "usd" | "price" | "seconds" | "base" | "count" | "token";
const PARAMETER_KINDS: Readonly<Record<string, ParameterKind>> = {
  takerFeeRate: "rate",
  liquidationFeeRate: "rate",
  liquidationPenaltyRate: "rate",
  reserveFactor: "rate",
  imr: "rate",
  mmr: "rate",
  maxFundingRatePerDay: "ratePerDay",
  maxLongOpenInterestRatio: "poolRatio",
  maxShortOpenInterestRatio: "poolRatio",
  targetHealthFactor: "factor",
  minKeeperFee: "usd",
  maxKeeperFee: "usd",
  minPositionNotional: "usd",
  fullLiquidationNotional: "usd",
  minPrice: "price",
  maxPrice: "price",
  heartbeat: "seconds",
  gracePeriod: "seconds",
  skewScale: "base",
  impactSkewScale: "base",
  tierCount: "count",
  feedDecimals: "count",
  // A collateral amount that must fit a position's uint128 field (MarketLib.toUint128).
  uint128: "token",
  // An order's collateral delta, which must fit its int128 field (OrderLib.request).
  collateralDelta: "token",
  // Two-step execution rules (OrderParams).
  minDelay: "seconds",
  maxDelay: "seconds",
  maxPriceAge: "seconds",
  maxDeviation: "rate",
  executionFee: "usd",
};

/** Role ids of the engine's access control, by name. */
let roleNames: Map<string, string> | undefined;
function roleName(role: Hex): string {
  roleNames ??= new Map([
    [`0x${"00".repeat(32)}`, "DEFAULT_ADMIN_ROLE"],
    ...["GOVERNOR_ROLE", "GUARDIAN_ROLE"].map((name): [string, string] => [keccak256(stringToHex(name)), name]),
  ]);
  return roleNames.get(role.toLowerCase()) ?? role;
}

/** Errors whose message has collateral token or pool share amounts. */
const TOKEN_AMOUNT_ERRORS: ReadonlySet<TidemarkErrorName> = new Set<TidemarkErrorName>([
  "ERC20InsufficientAllowance",
  "ERC20InsufficientBalance",
  "ERC4626ExceededMaxDeposit",
  "ERC4626ExceededMaxMint",
  "ERC4626ExceededMaxRedeem",
  "ERC4626ExceededMaxWithdraw",
  "PerpCollateralDeltaOnClose",
  "PerpInsufficientCollateral",
  "PerpInsufficientFreeBalance",
  "PerpTransferShortfall",
  "OrderWrongExecutionFee",
  "VaultCapacityBelowOpenInterest",
  "VaultInsufficientBalance",
  "VaultInsufficientLiquidity",
  "VaultRequestTooSmall",
  "VaultTransferShortfall",
]);

/**
 * Whether `e`'s message has collateral token or pool share amounts: the errors above, a governed parameter of the
 * "token" kind, and VaultInsufficientClaimable when the claim it comes from is known (`context.poolClaim`).
 */
function hasTokenAmounts(e: DecodedTidemarkError, context: ContractErrorContext = {}): boolean {
  if (e.errorName === "PerpParameterOutOfBounds") return PARAMETER_KINDS[bytes32ToText(e.args[0])] === "token";
  if (e.errorName === "VaultInsufficientClaimable") return context.poolClaim !== undefined;
  return TOKEN_AMOUNT_ERRORS.has(e.errorName);
}

/**
 * The readable sentence for a decoded error (what follows "ErrorName: " in a TidemarkContractError's message). USD
 * values and prices read "3,000.00 USD", rates as percentages, durations in seconds, sizes in the market's base asset
 * where it is known ("1.5000 ETH", otherwise "base units"), collateral token amounts with the token's decimals and
 * symbol when `context.units` gives them ("12.34 USDC") and as raw token units otherwise. A nonzero value never reads
 * as zero, and two values the sentence compares never read the same when they differ.
 */
export function describeTidemarkError(e: DecodedTidemarkError, context: ContractErrorContext = {}): string {
  const { units } = context;
  // Without units, the first raw amount says so; the others in the same sentence are just "raw token units".
  let rawNoted = false;
  const raw = (x: bigint, what: string) => {
    if (rawNoted) return `${x} raw ${what}`;
    rawNoted = true;
    return `${x} raw ${what} (decimals unknown)`;
  };
  /** A collateral token amount; `other` is what the sentence compares it with. */
  const tok = (x: bigint, other?: bigint) => (units ? formatTokenAmount(x, units, { distinctFrom: other }) : raw(x, "token units"));
  /** Pool shares: the collateral token's decimals plus the pool's offset of 6 (formatPoolShares). */
  const shares = (x: bigint, other?: bigint) => (units ? formatPoolShares(x, units, { distinctFrom: other }) : raw(x, "pool share units"));
  const erc20 = context.erc20Token === "poolShares" ? shares : tok;
  const usd = (x: bigint, other?: bigint) => formatUsd(x, { distinctFrom: other });
  const base = (market: MarketId | undefined = context.market) => (market === undefined ? undefined : marketBaseSymbol(market)) ?? "base units";
  const size = (x: bigint, other?: bigint) => `${formatDecimal(x, 18, { fractionDigits: 4, distinctFrom: other })} ${base()}`;
  const hf = (x: bigint, other?: bigint) =>
    x >= INFINITE_HEALTH ? "infinite" : formatDecimal(x, 18, { fractionDigits: 4, distinctFrom: other !== undefined && other < INFINITE_HEALTH ? other : undefined });
  const market = (m: Hex) => `Market ${bytes32ToText(m)}`;

  /** A governed parameter's value by its kind; unknown names print the raw integer. */
  const param = (kind: ParameterKind | undefined, x: bigint, other?: bigint): string => {
    switch (kind) {
      case "rate":
        return formatPercent(x);
      case "ratePerDay":
        return `${formatPercent(x)}/day`;
      case "poolRatio":
        return `${formatPercent(x)} of the pool's assets`;
      case "factor":
        return formatExact(x, 18);
      case "usd":
      case "price":
        return usd(x, other);
      case "seconds":
        return formatDuration(x);
      case "base":
        return `${formatExact(x, 18)} ${base()}`;
      case "count":
        return formatExact(x, 0);
      case "token":
        return tok(x, other);
      default:
        return x.toString();
    }
  };
  /** A change of a governed parameter: rates move by percentage points. */
  const step = (kind: ParameterKind | undefined, x: bigint): string => {
    const points = `${formatExact(x * 100n, 18)} ${x * 100n === 10n ** 18n ? "percentage point" : "percentage points"}`;
    if (kind === "rate" || kind === "poolRatio") return points;
    if (kind === "ratePerDay") return `${points} per day`;
    return param(kind, x);
  };

  switch (e.errorName) {
    case "AccessControlBadConfirmation":
      return "The role renunciation must be confirmed by the account itself.";
    case "AccessControlUnauthorizedAccount":
      return `Account ${e.args[0]} lacks role ${roleName(e.args[1])}.`;
    case "ERC20InsufficientAllowance":
      return `The allowance of spender ${e.args[0]} is ${erc20(e.args[1], e.args[2])}; ${erc20(e.args[2], e.args[1])} needed (approve it first).`;
    case "ERC20InsufficientBalance":
      return `The balance of ${e.args[0]} is ${erc20(e.args[1], e.args[2])}; ${erc20(e.args[2], e.args[1])} needed.`;
    case "ERC20InvalidApprover":
      return `Invalid approver ${e.args[0]}.`;
    case "ERC20InvalidReceiver":
      return `Invalid receiver ${e.args[0]}.`;
    case "ERC20InvalidSender":
      return `Invalid sender ${e.args[0]}.`;
    case "ERC20InvalidSpender":
      return `Invalid spender ${e.args[0]}.`;
    case "ERC4626ExceededMaxDeposit":
      return `A deposit claim of ${tok(e.args[1], e.args[2])} exceeds the maximum of ${tok(e.args[2], e.args[1])} (what fulfilled deposits left to claim).`;
    case "ERC4626ExceededMaxMint":
      return `Minting ${shares(e.args[1], e.args[2])} exceeds the maximum of ${shares(e.args[2], e.args[1])} (what fulfilled deposits left to claim).`;
    case "ERC4626ExceededMaxRedeem":
      return `Redeeming ${shares(e.args[1], e.args[2])} exceeds the maximum of ${shares(e.args[2], e.args[1])} (what fulfilled redemptions left to claim).`;
    case "ERC4626ExceededMaxWithdraw":
      return `Withdrawing ${tok(e.args[1], e.args[2])} exceeds the maximum of ${tok(e.args[2], e.args[1])} (what fulfilled redemptions left to claim).`;
    case "FailedCall":
      return "A call out of the contract failed without a reason (e.g. the caller cannot receive the ETH refund of unspent Pyth update fees).";
    case "InsufficientBalance":
      return `The contract holds ${e.args[0]} wei of ETH; sending ${e.args[1]} wei needs more.`;
    case "LensNoPrice":
      return `${market(e.args[0])} has no usable oracle price.`;
    case "OracleGracePeriod":
      return `${market(e.args[0])}: the sequencer restarted recently; opening waits until ${time(e.args[1])}.`;
    case "OracleInvalidAnswer":
      return `${market(e.args[0])}: the feed answered ${e.args[1]} (in the feed's own decimals), which is not a valid price.`;
    case "OracleOutOfBounds": {
      const [, price, min, max] = e.args;
      const bound = price < min ? min : max; // the bound it is compared with
      return `${market(e.args[0])}: the price ${usd(price, bound)} is outside the accepted range ${usd(min, price < min ? price : undefined)} to ${usd(max, price < min ? undefined : price)}.`;
    }
    case "OracleSequencerDown":
      return `${market(e.args[0])}: the L2 sequencer is down.`;
    case "OracleStale":
      return `${market(e.args[0])}: the price from ${time(e.args[1])} is older than the heartbeat of ${formatDuration(e.args[2])}.`;
    case "OrderAlreadyCancelled":
      return `Order ${e.args[0]} was cancelled.`;
    case "OrderAlreadyExecuted":
      return `Order ${e.args[0]} has already executed.`;
    case "OrderAlreadyPending":
      return `${e.args[0]} already has order ${e.args[2]} pending on ${bytes32ToText(e.args[1])}; wait for it to execute or expire.`;
    case "OrderExecutionOutOfGas":
      return `Order ${e.args[0]} ran out of gas while executing; send more gas (the order stays pending).`;
    case "OrderExpired":
      return `Order ${e.args[0]} expired at ${time(e.args[1])}; it can only be cancelled.`;
    case "OrderLengthMismatch":
      return `The batch has ${e.args[0]} orders but ${e.args[1]} price updates.`;
    case "OrderNoPythFeed":
      return `${market(e.args[0])} has no Pyth price feed set; orders cannot execute on it.`;
    case "OrderNotExpired":
      return `Order ${e.args[0]} can be cancelled only after it expires at ${time(e.args[1])}.`;
    case "OrderNotFound":
      return `No order ${e.args[0]} was ever requested.`;
    case "OrderOnlyPool":
      return `Only the liquidity pool may call this (caller ${e.args[0]}).`;
    case "OrderOnlySelf":
      return `Only the engine itself may call this (caller ${e.args[0]}).`;
    case "OrderPriceDeviation":
      return `${market(e.args[0])}: the Pyth price ${usd(e.args[1], e.args[2])} is more than ${formatPercent(e.args[3])} from the Chainlink price ${usd(e.args[2], e.args[1])}.`;
    case "OrderPriceFromFuture":
      return `The price update is dated ${time(e.args[0])}, after the current block (${time(e.args[1])}).`;
    case "OrderPriceInvalid":
      return `The Pyth price ${e.args[1]} with exponent ${e.args[2]} for feed ${e.args[0]} is not a valid price.`;
    case "OrderPriceNotFirst":
      return `The price update from ${time(e.args[0])} is not the first one published at or after ${time(e.args[1])}; use that one.`;
    case "OrderPriceStale":
      return `The price update from ${time(e.args[0])} is older than the maximum age of ${formatDuration(e.args[1])}.`;
    case "OrderPriceTooEarly":
      return `The price update from ${time(e.args[0])} was published before ${time(e.args[1])}, the earliest the request may execute at.`;
    case "OrderPriceUpdateInvalid":
      return `Pyth rejected the price update for feed ${e.args[0]} (malformed, unsigned or without that feed).`;
    case "OrderWrongExecutionFee":
      return `The execution fee must be ${tok(e.args[0], e.args[1])}; ${tok(e.args[1], e.args[0])} offered.`;
    case "OrderWrongUpdateFee":
      return `Pyth charges ${e.args[0]} wei for these price updates; ${e.args[1]} wei sent.`;
    case "PerpAssetMismatch":
      return `Vault ${e.args[0]} holds asset ${e.args[1]}, not the engine's collateral token.`;
    case "PerpCollateralDeltaOnClose":
      return `A close cannot move collateral (collateral delta ${tok(e.args[0])}); the collateral returns to the free balance.`;
    case "PerpHealthWorsened":
      return `This decrease would lower the health factor from ${hf(e.args[0], e.args[1])} to ${hf(e.args[1], e.args[0])} while below 1.`;
    case "PerpInsufficientCollateral":
      return `The position holds ${tok(e.args[0], e.args[1])} of collateral; ${tok(e.args[1], e.args[0])} requested.`;
    case "PerpInsufficientFreeBalance":
      return `The free balance of ${e.args[0]} is ${tok(e.args[1], e.args[2])}; ${tok(e.args[2], e.args[1])} needed.`;
    case "PerpInsufficientMargin": {
      const [, m, equity, required] = e.args;
      if (required === 0n && equity < 0n) {
        // TradeLib: the fee, funding and realised loss alone exceed the collateral; `equity` is what would be left.
        return `${market(m)}: the fee, funding and realised loss would exceed the position's collateral, leaving ${usd(equity)}.`;
      }
      return `${market(m)}: the equity of ${usd(equity, required)} would be below the required margin of ${usd(required, equity)}.`;
    }
    case "PerpInvalidTier":
      return `Margin tier ${e.args[0]} is invalid (floors must rise from 0, rates must not fall, MMR < IMR, within bounds).`;
    case "PerpLengthMismatch":
      return `The batch has ${e.args[0]} accounts but ${e.args[1]} markets.`;
    case "PerpLiquidationCostTooHigh":
      return `The liquidation cost rate of ${formatPercent(e.args[0])} leaves no room under the target maintenance rate of ${formatPercent(e.args[1])}.`;
    case "PerpMarketAlreadyListed":
      return `${market(e.args[0])} is already listed.`;
    case "PerpMarketPaused":
      return `${market(e.args[0])} is paused for opening and increasing.`;
    case "PerpNoPosition":
      return `${e.args[0]} has no position on ${bytes32ToText(e.args[1])} (already closed or liquidated).`;
    case "PerpNothingLiquidated":
      return "No position in the batch was liquidatable.";
    case "PerpOpenInterestCapExceeded":
      return `${market(e.args[0])}: ${e.args[1] ? "long" : "short"} open interest would reach ${usd(e.args[2], e.args[3])}, above the cap of ${usd(e.args[3], e.args[2])}.`;
    case "PerpParameterOutOfBounds": {
      const [name, value, min, max] = e.args;
      const text = bytes32ToText(name);
      const kind = PARAMETER_KINDS[text];
      if (kind === "token") return `A collateral amount of ${tok(value, max)} is more than a position can hold (${tok(max, value)}).`;
      const low = value < min;
      return `${text} = ${param(kind, value, low ? min : max)} is outside the accepted range ${param(kind, min, low ? value : undefined)} to ${param(kind, max, low ? undefined : value)}.`;
    }
    case "PerpParameterStepTooLarge": {
      const [name, current, proposed, maxStep] = e.args;
      const text = bytes32ToText(name);
      const kind = PARAMETER_KINDS[text];
      return `${text} may move by at most ${step(kind, maxStep)} per change (from ${param(kind, current, proposed)} to ${param(kind, proposed, current)} requested).`;
    }
    case "PerpParameterUnchanged":
      return "The new value equals the current one.";
    case "PerpPositionFlip":
      return `A size delta of ${size(e.args[1])} would flip the position of ${size(e.args[0])}; close it first.`;
    case "PerpPositionHealthy":
      return `${e.args[0]} on ${bytes32ToText(e.args[1])} is healthy (health factor ${hf(e.args[2])}); it cannot be liquidated.`;
    case "PerpPositionTooLarge":
      return `The size of ${size(e.args[0], e.args[1])} exceeds the maximum of ${size(e.args[1], e.args[0])}.`;
    case "PerpPositionTooSmall":
      return `The notional of ${usd(e.args[0], e.args[1])} is below the market minimum of ${usd(e.args[1], e.args[0])}.`;
    case "PerpRateChangeTooSoon":
      return `${bytes32ToText(e.args[0])} changed less than a day ago; it may change again from ${time(e.args[1])}.`;
    case "PerpSlippage":
      return `The fill price ${usd(e.args[0], e.args[1])} is worse than the acceptable price ${usd(e.args[1], e.args[0])}.`;
    case "PerpTransferShortfall":
      return `The token transferred ${tok(e.args[1], e.args[0])} instead of ${tok(e.args[0], e.args[1])} (fee-on-transfer tokens are not supported).`;
    case "PerpUnknownMarket":
      return `${market(e.args[0])} is not listed.`;
    case "PerpUnsupportedTokenDecimals":
      return `A collateral token with ${e.args[0]} decimals is not supported (at most 18).`;
    case "PerpZeroAddress":
      return "An address argument is zero.";
    case "PerpZeroAmount":
      return "The amount must not be zero.";
    case "ReentrancyGuardReentrantCall":
      return "Reentrant call.";
    case "SafeCastOverflowedUintDowncast":
      return `The value ${e.args[1]} does not fit in ${e.args[0]} bits (an amount too large for the pool to record).`;
    case "SafeERC20FailedOperation":
      return `A transfer of token ${e.args[0]} failed.`;
    case "VaultAsyncFlow":
      return "The pool's deposits and redemptions are asynchronous (ERC-7540): no preview can price them; request, wait for the fulfilment, then claim.";
    case "VaultCapacityBelowOpenInterest":
      return `This redemption would leave the pool a capacity of ${tok(e.args[0], e.args[1])}, below the ${tok(e.args[1], e.args[0])} the open interest needs under the caps.`;
    case "VaultEngineAlreadyBound":
      return `The vault is already bound to engine ${e.args[0]}.`;
    case "VaultInsolvent":
      return "The pool's NAV is 0 with shares outstanding: no deposit can be fulfilled (it would mint unbounded shares).";
    case "VaultInsufficientBalance":
      return `The vault holds ${tok(e.args[0], e.args[1])}; ${tok(e.args[1], e.args[0])} required.`;
    case "VaultInsufficientClaimable": {
      const [controller, claimable, requested] = e.args;
      const claim = context.poolClaim;
      if (claim === undefined) {
        return `${controller} has ${claimable} to claim; ${requested} asked (integers in the claim's unit: the collateral token's for deposit and withdraw, the pool share's for mint and redeem).`;
      }
      const amount = claim === "deposit" || claim === "withdraw" ? tok : shares;
      const what = claim === "deposit" || claim === "mint" ? "fulfilled deposits" : "fulfilled redemptions";
      return `${controller} has ${amount(claimable, requested)} of ${what} to claim; ${amount(requested, claimable)} asked.`;
    }
    case "VaultInsufficientLiquidity":
      return `The redemption needs ${tok(e.args[1], e.args[0])}; only ${tok(e.args[0], e.args[1])} is available above the engine's reserve (0 while a market with open interest has no fresh price).`;
    case "VaultInvalidEngine":
      return `${e.args[0]} is not a valid engine for this vault.`;
    case "VaultLengthMismatch":
      return `The batch's arrays do not pair up: ${e.args[0]} controllers, ${e.args[1]} price updates (and as many directions).`;
    case "VaultNoPendingRequest":
      return `${e.args[0]} has no pending request in that direction (never made, or already fulfilled or cancelled).`;
    case "VaultNotAuthorized":
      return `${e.args[0]} may not act for ${e.args[1]}: only the controller itself or an operator it approved (setOperator) may.`;
    case "VaultOnlyDeployer":
      return `Only the deployer may bind the engine (caller ${e.args[0]}).`;
    case "VaultOnlyEngine":
      return `Only the engine may call this (caller ${e.args[0]}).`;
    case "VaultRequestExpired":
      return `The request of ${e.args[0]} expired at ${time(e.args[1])}; it can only be cancelled.`;
    case "VaultRequestNotExpired":
      return `The request of ${e.args[0]} can be cancelled only after it expires at ${time(e.args[1])}.`;
    case "VaultRequestNotReady":
      return `The request of ${e.args[0]} can be fulfilled from ${time(e.args[1])} (its minimum delay), not before.`;
    case "VaultRequestPending":
      return `${e.args[0]} already has a pending request in that direction; wait until it is fulfilled (or expires and is cancelled).`;
    case "VaultRequestTooSmall":
      return `A deposit request of ${tok(e.args[0], e.args[1])} does not exceed its execution fee of ${tok(e.args[1], e.args[0])}.`;
    case "VaultTransferShortfall":
      return `The token delivered ${tok(e.args[1], e.args[0])} to the pool instead of ${tok(e.args[0], e.args[1])} (fee-on-transfer and rebasing tokens are not supported).`;
    case "VaultWrongUpdateFee":
      return `Pyth charges ${e.args[0]} wei for these price updates; ${e.args[1]} wei sent.`;
    case "VaultZeroAmount":
      return "The amount must not be zero.";
    default: {
      // A new custom error added to the contracts without a message here fails type-checking (exhaustive switch).
      const unreachable: never = e;
      return String((unreachable as { errorName: string }).errorName);
    }
  }
}
