/** Shared reads of the action modules. Internal: not part of the package's exports. */
import type { Address, BlockNumber, Client } from "viem";
import { readContract } from "viem/actions";

import { tidemarkEngineAbi } from "../abi/engine.js";
import { tidemarkLensAbi } from "../abi/lens.js";
import { liquidityPoolAbi } from "../abi/pool.js";
import { withDecodedErrors } from "../errors/contract.js";
import type { RiskContext } from "../math/types.js";
import type { MarketId, TidemarkAddresses } from "../types.js";

/** Reads a view of the engine, pinned to `blockNumber` when given, with reverts decoded. */
export function readEngine<const F extends EngineView>(
  client: Client,
  addresses: TidemarkAddresses,
  functionName: F,
  args: EngineViewArgs<F>,
  blockNumber?: BlockNumber,
) {
  return withDecodedErrors(() =>
    readContract(client, {
      address: addresses.engine,
      abi: tidemarkEngineAbi,
      functionName,
      args,
      blockNumber,
    } as never),
  ) as Promise<EngineViewResult<F>>;
}

type EngineAbi = typeof tidemarkEngineAbi;
type EngineView = Extract<EngineAbi[number], { type: "function"; stateMutability: "view" | "pure" }>["name"];
type EngineViewArgs<F extends EngineView> = import("viem").ContractFunctionArgs<EngineAbi, "view" | "pure", F>;
type EngineViewResult<F extends EngineView> = import("viem").ContractFunctionReturnType<EngineAbi, "view" | "pure", F>;

/** The engine's `riskContext(account, market)` as the SDK math's RiskContext. */
export async function readRiskContext(
  client: Client,
  addresses: TidemarkAddresses,
  account: Address,
  market: MarketId,
  blockNumber?: BlockNumber,
): Promise<RiskContext> {
  const c = await readEngine(client, addresses, "riskContext", [account, market], blockNumber);
  return {
    size: c.size,
    entryPrice: c.entryPrice,
    collateral: c.collateral,
    fundingOwed: c.fundingOwed,
    scale: c.scale,
    tiers: c.tiers.map((t) => ({ notionalFloor: t.notionalFloor, imr: t.imr, mmr: t.mmr })),
    params: { ...c.params },
  };
}

/** The collateral token's address: from `addresses` or the engine. */
export async function collateralTokenOf(client: Client, addresses: TidemarkAddresses): Promise<Address> {
  return addresses.collateralToken ?? (await readEngine(client, addresses, "collateralToken", []));
}

/** The insurance fund's address: from `addresses` or the engine. */
export async function insuranceFundOf(client: Client, addresses: TidemarkAddresses): Promise<Address> {
  return addresses.insuranceFund ?? (await readEngine(client, addresses, "insuranceFund", []));
}

/** Reads a view of the lens, pinned to `blockNumber` when given, with reverts decoded. */
export function readLens<const F extends LensView>(
  client: Client,
  addresses: TidemarkAddresses,
  functionName: F,
  args: import("viem").ContractFunctionArgs<LensAbi, "view" | "pure", F>,
  blockNumber?: BlockNumber,
) {
  return withDecodedErrors(() =>
    readContract(client, { address: addresses.lens, abi: tidemarkLensAbi, functionName, args, blockNumber } as never),
  ) as Promise<import("viem").ContractFunctionReturnType<LensAbi, "view" | "pure", F>>;
}

type LensAbi = typeof tidemarkLensAbi;
type LensView = Extract<LensAbi[number], { type: "function"; stateMutability: "view" | "pure" }>["name"];

/** Reads a view of the pool, pinned to `blockNumber` when given, with reverts decoded. */
export function readPool<const F extends PoolView>(
  client: Client,
  addresses: TidemarkAddresses,
  functionName: F,
  args: import("viem").ContractFunctionArgs<PoolAbi, "view" | "pure", F>,
  blockNumber?: BlockNumber,
) {
  return withDecodedErrors(() =>
    readContract(client, { address: addresses.pool, abi: liquidityPoolAbi, functionName, args, blockNumber } as never),
  ) as Promise<import("viem").ContractFunctionReturnType<PoolAbi, "view" | "pure", F>>;
}

type PoolAbi = typeof liquidityPoolAbi;
type PoolView = Extract<PoolAbi[number], { type: "function"; stateMutability: "view" | "pure" }>["name"];
