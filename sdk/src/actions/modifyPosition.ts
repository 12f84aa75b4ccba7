import { modifyPositionCall } from "../calldata.js";
import { type WalletClient, type WriteOptions, type WriteResult, simulateAndWrite } from "../internal/write.js";
import type { AddressesParameter, MarketId } from "../types.js";
import { type SlippageParameters, resolveAcceptablePrice } from "../internal/slippage.js";

export type ModifyPositionParameters = AddressesParameter &
  WriteOptions &
  SlippageParameters & {
    market: MarketId;
    /** Signed WAD size change, not zero (collateral alone: addCollateral, removeCollateral): positive buys. */
    sizeDelta: bigint;
    /** Signed token units from (positive) or to (negative) the free balance. */
    collateralDelta: bigint;
  };
export type { SlippageParameters };
export type ModifyPositionReturnType = WriteResult<void> & { acceptablePrice: bigint };

/**
 * Opens, increases, decreases or closes a position by signed deltas. With `slippageBps` the acceptable price is the
 * lens's current fill quote moved by that tolerance against the trader (ceiling for a buy, floor for a sell). Simulated
 * before sending: a revert throws the decoded TidemarkContractError (PerpSlippage, PerpInsufficientMargin, ...).
 */
export async function modifyPosition(client: WalletClient, parameters: ModifyPositionParameters): Promise<ModifyPositionReturnType> {
  const bound = await resolveAcceptablePrice(client, parameters, parameters.sizeDelta);
  const call = modifyPositionCall({ ...parameters, acceptablePrice: bound });
  return { ...(await simulateAndWrite<void>(client, call, parameters)), acceptablePrice: bound };
}
