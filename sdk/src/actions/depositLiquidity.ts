import type { Address, Hash } from "viem";

import { depositLiquidityCall } from "../calldata.js";
import { type ApprovalMode, prepareDeposit } from "../internal/approve.js";
import { TidemarkError } from "../errors/base.js";
import { formatTokenAmount } from "../format.js";
import { collateralTokenOf, readPool } from "../internal/read.js";
import { tokenUnits } from "../internal/units.js";
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
 * Deposits into the liquidity pool (ERC-4626). Checks the pool's `maxDeposit` (0 while a market with open interest has
 * no fresh price) and the signer's balance, approves the pool when its allowance is short, then simulates and sends.
 */
export async function depositLiquidity(
  client: WalletClient,
  parameters: DepositLiquidityParameters,
): Promise<DepositLiquidityReturnType> {
  const receiver = parameters.receiver ?? addressOf(accountOf(client, parameters));
  const call = depositLiquidityCall({ addresses: parameters.addresses, assets: parameters.assets, receiver });
  const [token, maxDeposit] = await Promise.all([
    collateralTokenOf(client, parameters.addresses),
    readPool(client, parameters.addresses, "maxDeposit", [receiver]),
  ]);
  // Refuse before approving: the approval would be spent on a deposit the pool cannot take now.
  if (parameters.assets > maxDeposit) {
    const units = await tokenUnits(client, token).catch(() => undefined);
    const most = formatTokenAmount(maxDeposit, units, { distinctFrom: parameters.assets });
    const requested = formatTokenAmount(parameters.assets, units, { distinctFrom: maxDeposit });
    throw new TidemarkError(
      `The pool accepts at most ${most} now (0 while a market with open interest has no fresh price); ${requested} requested`,
    );
  }
  const { approvalHash, options } = await prepareDeposit(
    client,
    token,
    parameters.addresses.pool,
    parameters.assets,
    parameters.approval ?? "exact",
    parameters,
  );
  return { ...(await simulateAndWrite<bigint>(client, call, options)), approvalHash };
}
