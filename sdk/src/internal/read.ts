/** Shared reads of the action modules. Internal: not part of the package's exports. */
import type { Abi, Address, BlockNumber, Client, ContractFunctionArgs, ContractFunctionName, ContractFunctionReturnType } from "viem";
import { readContract } from "viem/actions";

import { tidemarkEngineAbi } from "../abi/engine.js";
import { tidemarkLensAbi } from "../abi/lens.js";
import { liquidityPoolAbi } from "../abi/pool.js";
import { withDecodedErrorsAndUnits } from "./units.js";
import type { RiskContext } from "../math/types.js";
import type { MarketId, TidemarkAddresses } from "../types.js";

/**
 * Reads one view of a contract, typed by its ABI, pinned to `blockNumber` when given, with reverts decoded (token
 * amounts in the collateral token's units, read on the error path).
 */
export type ViewReader<A extends Abi> = <const F extends ContractFunctionName<A, "view" | "pure">>(
  client: Client,
  addresses: TidemarkAddresses,
  functionName: F,
  args: ContractFunctionArgs<A, "view" | "pure", F>,
  blockNumber?: BlockNumber,
) => Promise<ContractFunctionReturnType<A, "view" | "pure", F>>;

function viewReader<const A extends Abi>(abi: A, addressOf: (addresses: TidemarkAddresses) => Address): ViewReader<A> {
  return <const F extends ContractFunctionName<A, "view" | "pure">>(
    client: Client,
    addresses: TidemarkAddresses,
    functionName: F,
    args: ContractFunctionArgs<A, "view" | "pure", F>,
    blockNumber?: BlockNumber,
  ) =>
    withDecodedErrorsAndUnits(client, addresses, () =>
      readContract(client, { address: addressOf(addresses), abi, functionName, args, blockNumber } as never),
    ) as Promise<ContractFunctionReturnType<A, "view" | "pure", F>>;
}

/** Reads a view of the engine. */
export const readEngine: ViewReader<typeof tidemarkEngineAbi> = viewReader(tidemarkEngineAbi, (a) => a.engine);
/** Reads a view of the lens. */
export const readLens: ViewReader<typeof tidemarkLensAbi> = viewReader(tidemarkLensAbi, (a) => a.lens);
/** Reads a view of the pool. */
export const readPool: ViewReader<typeof liquidityPoolAbi> = viewReader(liquidityPoolAbi, (a) => a.pool);

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
