import type { Address } from "viem";

import { redeemLiquidityCall, withdrawLiquidityCall } from "../calldata.js";
import { InvalidParameterError } from "../errors/base.js";
import { type WalletClient, type WriteOptions, type WriteResult, accountOf, addressOf, simulateAndWrite } from "../internal/write.js";
import type { AddressesParameter } from "../types.js";

export type WithdrawLiquidityParameters = AddressesParameter &
  WriteOptions &
  ({ assets: bigint; shares?: undefined } | { shares: bigint; assets?: undefined }) & {
    /** Receives the tokens (default: the signer). */
    receiver?: Address | undefined;
    /** Whose shares are burnt (default: the signer; otherwise the signer needs a share allowance). */
    owner?: Address | undefined;
  };
/** `result`: shares burnt (by `assets`) or assets paid (by `shares`), as simulated. */
export type WithdrawLiquidityReturnType = WriteResult<bigint>;

/**
 * Withdraws from the liquidity pool by asset amount (ERC-4626 `withdraw`) or by shares (`redeem`). Limited by the
 * reserve open interest requires, and refused while a market with open interest has no fresh price.
 */
export async function withdrawLiquidity(client: WalletClient, parameters: WithdrawLiquidityParameters): Promise<WithdrawLiquidityReturnType> {
  const signer = addressOf(accountOf(client, parameters));
  const receiver = parameters.receiver ?? signer;
  const owner = parameters.owner ?? signer;
  const { addresses } = parameters;
  if (parameters.assets !== undefined && parameters.shares !== undefined) {
    throw new InvalidParameterError("amount", "give either assets or shares, not both");
  }
  if (parameters.assets === undefined && parameters.shares === undefined) {
    throw new InvalidParameterError("amount", "assets or shares is required");
  }
  const call =
    parameters.assets !== undefined
      ? withdrawLiquidityCall({ addresses, assets: parameters.assets, receiver, owner })
      : redeemLiquidityCall({ addresses, shares: parameters.shares as bigint, receiver, owner });
  return simulateAndWrite(client, call, parameters);
}
