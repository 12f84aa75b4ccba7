import type { Address, Hash } from "viem";

import { depositLiquidityCall } from "../calldata.js";
import { type ApprovalMode, ensureAllowance } from "../internal/approve.js";
import { collateralTokenOf } from "../internal/read.js";
import { type WalletClient, type WriteOptions, type WriteResult, accountOf, addressOf, simulateAndWrite } from "../internal/write.js";
import type { AddressesParameter } from "../types.js";

export type DepositLiquidityParameters = AddressesParameter &
  WriteOptions & {
    /** Token units. */
    assets: bigint;
    /** Receives the pool shares (default: the signer). */
    receiver?: Address | undefined;
    approval?: ApprovalMode | undefined;
  };
/** `result`: the shares minted, as simulated. */
export type DepositLiquidityReturnType = WriteResult<bigint> & { approvalHash: Hash | undefined };

/**
 * Deposits into the liquidity pool (ERC-4626), approving the pool first when its allowance is short. The pool refuses
 * deposits (ERC4626ExceededMaxDeposit) while a market with open interest has no fresh price.
 */
export async function depositLiquidity(
  client: WalletClient,
  parameters: DepositLiquidityParameters,
): Promise<DepositLiquidityReturnType> {
  const receiver = parameters.receiver ?? addressOf(accountOf(client, parameters));
  const call = depositLiquidityCall({ addresses: parameters.addresses, assets: parameters.assets, receiver });
  const token = await collateralTokenOf(client, parameters.addresses);
  const approvalHash = await ensureAllowance(
    client,
    token,
    parameters.addresses.pool,
    parameters.assets,
    parameters.approval ?? "exact",
    parameters,
  );
  return { ...(await simulateAndWrite<bigint>(client, call, parameters)), approvalHash };
}
