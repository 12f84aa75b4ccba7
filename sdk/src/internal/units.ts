/**
 * The collateral token's units for decoded errors, read on the error path only. Internal: not part of the package's
 * exports.
 */
import { type Address, type Client, erc20Abi } from "viem";
import { readContract } from "viem/actions";

import { tidemarkEngineAbi } from "../abi/engine.js";
import { type ContractErrorContext, TidemarkContractError, toTidemarkError } from "../errors/contract.js";
import type { TokenUnits } from "../format.js";
import type { TidemarkAddresses } from "../types.js";

/** How long a failing call waits for each read of the lookup before it throws its error without units. */
const UNITS_TIMEOUT_MS = 5_000;

/** Units per client and token (lowercase address). A lookup that failed or timed out is forgotten: a later error retries. */
const cache = new WeakMap<object, Map<string, Promise<TokenUnits>>>();

/** `promise`, or a rejection once `ms` pass first (the timer is cleared either way, keeping no process alive). */
async function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Reads an ERC-20's symbol and decimals, once per client and token. Rejects when either is missing or unusable. */
export function tokenUnits(client: Client, token: Address): Promise<TokenUnits> {
  let perClient = cache.get(client);
  if (perClient === undefined) cache.set(client, (perClient = new Map()));
  const key = token.toLowerCase();
  const cached = perClient.get(key);
  if (cached !== undefined) return cached;
  const lookup = within(
    (async (): Promise<TokenUnits> => {
      const [symbol, decimals] = await Promise.all([
        readContract(client, { address: token, abi: erc20Abi, functionName: "symbol" }),
        readContract(client, { address: token, abi: erc20Abi, functionName: "decimals" }),
      ]);
      const text = typeof symbol === "string" ? symbol.trim() : "";
      if (!/^[\x21-\x7e][\x20-\x7e]{0,31}$/.test(text)) throw new Error(`unusable token symbol ${JSON.stringify(symbol)}`);
      if (!Number.isInteger(decimals) || decimals < 0 || decimals > 255) throw new Error(`unusable token decimals ${decimals}`);
      return { symbol: text, decimals };
    })(),
    UNITS_TIMEOUT_MS,
  );
  perClient.set(key, lookup);
  lookup.catch(() => {
    if (perClient.get(key) === lookup) perClient.delete(key);
  });
  return lookup;
}

/** The collateral token's units: its address from `addresses` or the engine, then symbol and decimals (cached). */
async function collateralUnits(client: Client, addresses: TidemarkAddresses): Promise<TokenUnits> {
  const token =
    addresses.collateralToken ??
    (await within(readContract(client, { address: addresses.engine, abi: tidemarkEngineAbi, functionName: "collateralToken" }), UNITS_TIMEOUT_MS));
  return tokenUnits(client, token);
}

/**
 * Decodes what a contract call threw (`toTidemarkError` with `context`) and, when it is a protocol error whose message
 * has token amounts, adds the collateral token's units to it. The lookup happens only on this error path; when it
 * fails or hangs the error goes out without units (raw token units). Never throws: returns the error to throw.
 */
export async function decodeWithUnits(
  client: Client,
  addresses: TidemarkAddresses | undefined,
  err: unknown,
  context: ContractErrorContext = {},
): Promise<unknown> {
  const decoded = toTidemarkError(err, context);
  if (!(decoded instanceof TidemarkContractError) || decoded.units !== undefined || !decoded.hasTokenAmounts || addresses === undefined) {
    return decoded;
  }
  try {
    // The engine read and the token reads each end within the time limit.
    const units = await collateralUnits(client, addresses);
    return decoded.withContext({ units });
  } catch {
    return decoded; // the lookup failed or hung: the error as decoded, with raw token units
  }
}

/** Runs a contract call; its failure is rethrown decoded, with the collateral token's units where they matter. */
export async function withDecodedErrorsAndUnits<T>(
  client: Client,
  addresses: TidemarkAddresses | undefined,
  call: () => Promise<T>,
  context?: ContractErrorContext,
): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw await decodeWithUnits(client, addresses, err, context);
  }
}
