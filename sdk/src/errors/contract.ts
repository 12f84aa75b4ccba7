/**
 * Decoding of contract reverts into typed errors. Every custom error of the engine, lens, pool and insurance fund
 * (`tidemarkErrorsAbi`, generated from the artifacts) becomes a `TidemarkContractError` whose `errorName` narrows
 * `args`; anything else keeps its raw revert data on an `UnknownRevertError`.
 */
import { type ContractErrorArgs, type ContractErrorName, type Hex, decodeErrorResult, formatUnits, hexToString, isHex, size, trim } from "viem";

import { tidemarkErrorsAbi } from "../abi/errors.js";
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

/** A revert with one of the protocol's custom errors, decoded. */
export class TidemarkContractError<N extends TidemarkErrorName = TidemarkErrorName> extends TidemarkError {
  override name = "TidemarkContractError";
  readonly errorName: N;
  readonly args: TidemarkErrorArgs<N>;
  /** The raw revert data. */
  readonly data: Hex;

  constructor(decoded: { errorName: N; args: TidemarkErrorArgs<N> }, data: Hex, cause?: unknown) {
    super(`${decoded.errorName}: ${describe(decoded as DecodedTidemarkError)}`, {
      cause,
      metaMessages: [`Arguments: ${formatArgs(decoded.args as readonly unknown[])}`],
    });
    this.errorName = decoded.errorName;
    this.args = decoded.args;
    this.data = data;
  }

  /** Narrows to one error name: `if (err.is("PerpSlippage")) err.args[0]`. */
  is<M extends TidemarkErrorName>(name: M): this is TidemarkContractError<M> {
    return (this.errorName as string) === name;
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
 * rejection, ...). Errors that already are Tidemark errors pass through.
 */
export function toTidemarkError(err: unknown): unknown {
  if (err instanceof TidemarkError) return err;
  const data = findRevertData(err);
  if (data !== undefined) {
    const decoded = decodeTidemarkRevert(data);
    if (decoded) return new TidemarkContractError(decoded, data, err);
    return new UnknownRevertError(data, err);
  }
  return isRevert(err) ? new UnknownRevertError(undefined, err) : err;
}

/** Runs a contract call and rethrows its failure through `toTidemarkError`. */
export async function withDecodedErrors<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw toTidemarkError(err);
  }
}

/* ------------------------------------------------------------------ messages */

const wad = (x: bigint) => formatUnits(x, 18);
const pct = (x: bigint) => `${formatUnits(x * 100n, 18)}%`;
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
const hf = (x: bigint) => (x >= 2n ** 255n ? "infinite" : formatUnits(x, 18));

function formatArgs(args: readonly unknown[]): string {
  return `(${args.map((a) => (typeof a === "bigint" ? a.toString() : String(a))).join(", ")})`;
}

/** A human message for every custom error. Amounts named "token units" are in the collateral token's decimals. */
function describe(e: DecodedTidemarkError): string {
  switch (e.errorName) {
    case "AccessControlBadConfirmation":
      return "The role renunciation must be confirmed by the account itself.";
    case "AccessControlUnauthorizedAccount":
      return `Account ${e.args[0]} lacks role ${e.args[1]}.`;
    case "ERC20InsufficientAllowance":
      return `Allowance of ${e.args[0]} is ${e.args[1]}, ${e.args[2]} needed.`;
    case "ERC20InsufficientBalance":
      return `Balance of ${e.args[0]} is ${e.args[1]}, ${e.args[2]} needed.`;
    case "ERC20InvalidApprover":
      return `Invalid approver ${e.args[0]}.`;
    case "ERC20InvalidReceiver":
      return `Invalid receiver ${e.args[0]}.`;
    case "ERC20InvalidSender":
      return `Invalid sender ${e.args[0]}.`;
    case "ERC20InvalidSpender":
      return `Invalid spender ${e.args[0]}.`;
    case "ERC4626ExceededMaxDeposit":
      return `Deposit of ${e.args[1]} token units exceeds the pool's current maximum of ${e.args[2]} (0 while a market's price is not fresh).`;
    case "ERC4626ExceededMaxMint":
      return `Mint of ${e.args[1]} shares exceeds the pool's current maximum of ${e.args[2]}.`;
    case "ERC4626ExceededMaxRedeem":
      return `Redeeming ${e.args[1]} shares exceeds the maximum of ${e.args[2]} (limited by the reserve and fresh prices).`;
    case "ERC4626ExceededMaxWithdraw":
      return `Withdrawing ${e.args[1]} token units exceeds the maximum of ${e.args[2]} (limited by the reserve and fresh prices).`;
    case "LensNoPrice":
      return `Market ${bytes32ToText(e.args[0])} has no usable oracle price.`;
    case "OracleGracePeriod":
      return `Market ${bytes32ToText(e.args[0])}: the sequencer restarted recently; opening waits until ${time(e.args[1])}.`;
    case "OracleInvalidAnswer":
      return `Market ${bytes32ToText(e.args[0])}: the feed answered ${e.args[1]}, which is not a valid price.`;
    case "OracleOutOfBounds":
      return `Market ${bytes32ToText(e.args[0])}: price ${wad(e.args[1])} is outside the accepted range ${wad(e.args[2])}..${wad(e.args[3])}.`;
    case "OracleSequencerDown":
      return `Market ${bytes32ToText(e.args[0])}: the L2 sequencer is down.`;
    case "OracleStale":
      return `Market ${bytes32ToText(e.args[0])}: the price from ${time(e.args[1])} is older than the ${e.args[2]} s heartbeat.`;
    case "PerpAssetMismatch":
      return `Vault ${e.args[0]} holds asset ${e.args[1]}, not the engine's collateral token.`;
    case "PerpCollateralDeltaOnClose":
      return `A close cannot move collateral (collateral delta ${e.args[0]}); the collateral returns to the free balance.`;
    case "PerpHealthWorsened":
      return `This decrease would lower the health factor from ${hf(e.args[0])} to ${hf(e.args[1])} while below 1.`;
    case "PerpInsufficientCollateral":
      return `The position holds ${e.args[0]} token units of collateral; ${e.args[1]} requested.`;
    case "PerpInsufficientFreeBalance":
      return `Free balance of ${e.args[0]} is ${e.args[1]} token units; ${e.args[2]} needed.`;
    case "PerpInsufficientMargin":
      return `Market ${bytes32ToText(e.args[1])}: equity ${wad(e.args[2])} USD would be below the required margin of ${wad(e.args[3])} USD.`;
    case "PerpInvalidTier":
      return `Margin tier ${e.args[0]} is invalid (floors must rise from 0, rates must not fall, MMR < IMR, within bounds).`;
    case "PerpLengthMismatch":
      return `Batch has ${e.args[0]} accounts but ${e.args[1]} markets.`;
    case "PerpLiquidationCostTooHigh":
      return `Liquidation cost rate ${pct(e.args[0])} leaves no room under the target maintenance rate ${pct(e.args[1])}.`;
    case "PerpMarketAlreadyListed":
      return `Market ${bytes32ToText(e.args[0])} is already listed.`;
    case "PerpMarketPaused":
      return `Market ${bytes32ToText(e.args[0])} is paused for opening and increasing.`;
    case "PerpNoPosition":
      return `${e.args[0]} has no position on ${bytes32ToText(e.args[1])} (already closed or liquidated).`;
    case "PerpNothingLiquidated":
      return "No position in the batch was liquidatable.";
    case "PerpOpenInterestCapExceeded":
      return `Market ${bytes32ToText(e.args[0])}: ${e.args[1] ? "long" : "short"} open interest would reach ${wad(e.args[2])} USD, above the cap of ${wad(e.args[3])} USD.`;
    case "PerpParameterOutOfBounds":
      return `${bytes32ToText(e.args[0])} = ${e.args[1]} is outside ${e.args[2]}..${e.args[3]}.`;
    case "PerpParameterStepTooLarge":
      return `${bytes32ToText(e.args[0])} may move by at most ${e.args[3]} per change (from ${e.args[1]} to ${e.args[2]} requested).`;
    case "PerpParameterUnchanged":
      return "The new value equals the current one.";
    case "PerpPositionFlip":
      return `A size delta of ${wad(e.args[1])} would flip the position of ${wad(e.args[0])}; close it first.`;
    case "PerpPositionHealthy":
      return `${e.args[0]} on ${bytes32ToText(e.args[1])} is healthy (health factor ${hf(e.args[2])}); it cannot be liquidated.`;
    case "PerpPositionTooLarge":
      return `Size ${wad(e.args[0])} exceeds the maximum of ${wad(e.args[1])}.`;
    case "PerpPositionTooSmall":
      return `Notional ${wad(e.args[0])} USD is below the market minimum of ${wad(e.args[1])} USD.`;
    case "PerpRateChangeTooSoon":
      return `${bytes32ToText(e.args[0])} changed less than a day ago; it may change again from ${time(e.args[1])}.`;
    case "PerpSlippage":
      return `The fill price ${wad(e.args[0])} is worse than the acceptable price ${wad(e.args[1])}.`;
    case "PerpTransferShortfall":
      return `The token transferred ${e.args[1]} units instead of ${e.args[0]} (fee-on-transfer tokens are not supported).`;
    case "PerpUnknownMarket":
      return `Market ${bytes32ToText(e.args[0])} is not listed.`;
    case "PerpUnsupportedTokenDecimals":
      return `A collateral token with ${e.args[0]} decimals is not supported (at most 18).`;
    case "PerpZeroAddress":
      return "An address argument is zero.";
    case "PerpZeroAmount":
      return "The amount must not be zero.";
    case "ReentrancyGuardReentrantCall":
      return "Reentrant call.";
    case "SafeERC20FailedOperation":
      return `A transfer of token ${e.args[0]} failed.`;
    case "VaultEngineAlreadyBound":
      return `The vault is already bound to engine ${e.args[0]}.`;
    case "VaultInsufficientBalance":
      return `The vault holds ${e.args[0]} token units; ${e.args[1]} required.`;
    case "VaultInvalidEngine":
      return `${e.args[0]} is not a valid engine for this vault.`;
    case "VaultOnlyDeployer":
      return `Only the deployer may bind the engine (caller ${e.args[0]}).`;
    case "VaultOnlyEngine":
      return `Only the engine may call this (caller ${e.args[0]}).`;
    case "VaultTransferShortfall":
      return `The token delivered ${e.args[1]} units to the pool instead of ${e.args[0]} (fee-on-transfer and rebasing tokens are not supported).`;
    default: {
      // A new custom error added to the contracts without a message here fails type-checking (exhaustive switch).
      const unreachable: never = e;
      return String((unreachable as { errorName: string }).errorName);
    }
  }
}
