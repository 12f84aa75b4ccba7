import { addCollateralCall } from "../calldata.js";
import { type WalletClient, type WriteOptions, type WriteResult, simulateAndWrite } from "../internal/write.js";
import type { AddressesParameter, MarketId } from "../types.js";

export type AddCollateralParameters = AddressesParameter & WriteOptions & { market: MarketId; /** Token units. */ amount: bigint };
export type AddCollateralReturnType = WriteResult<void>;

/** Moves collateral from the free balance into a position (works even while paused or in the grace period). */
export async function addCollateral(client: WalletClient, parameters: AddCollateralParameters): Promise<AddCollateralReturnType> {
  return simulateAndWrite(client, addCollateralCall(parameters), parameters);
}
