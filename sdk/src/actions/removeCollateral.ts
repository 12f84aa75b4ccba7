import { removeCollateralCall } from "../calldata.js";
import { type WalletClient, type WriteOptions, type WriteResult, simulateAndWrite } from "../internal/write.js";
import type { AddressesParameter, MarketId } from "../types.js";

export type RemoveCollateralParameters = AddressesParameter & WriteOptions & { market: MarketId; /** Token units. */ amount: bigint };
export type RemoveCollateralReturnType = WriteResult<void>;

/** Moves collateral from a position to the free balance; the position must stay above initial margin. */
export async function removeCollateral(client: WalletClient, parameters: RemoveCollateralParameters): Promise<RemoveCollateralReturnType> {
  return simulateAndWrite(client, removeCollateralCall(parameters), parameters);
}
