import { modifyPositionCall } from "../calldata.js";
import { InvalidParameterError } from "../errors/base.js";
import { readEngine } from "../internal/read.js";
import { type WalletClient, type WriteOptions, accountOf, addressOf, simulateAndWrite } from "../internal/write.js";
import type { AddressesParameter, MarketId } from "../types.js";
import { type SlippageParameters, resolveAcceptablePrice } from "../internal/slippage.js";
import type { ModifyPositionReturnType } from "./modifyPosition.js";

export type DecreasePositionParameters = AddressesParameter &
  WriteOptions &
  SlippageParameters & {
    market: MarketId;
    /** Absolute WAD size removed; less than the position (use closePosition for all of it). */
    size: bigint;
    /** Token units moved from the position to the free balance (default 0). */
    withdrawCollateral?: bigint | undefined;
  };
export type DecreasePositionReturnType = ModifyPositionReturnType;

/** Reduces the signer's position by `size` without closing it (works while paused). Simulated first. */
export async function decreasePosition(
  client: WalletClient,
  parameters: DecreasePositionParameters,
): Promise<DecreasePositionReturnType> {
  if (parameters.size <= 0n) throw new InvalidParameterError("size", `must be positive, got ${parameters.size}`);
  const out = parameters.withdrawCollateral ?? 0n;
  if (out < 0n) throw new InvalidParameterError("withdrawCollateral", `must not be negative, got ${out}`);
  const account = addressOf(accountOf(client, parameters));
  const { size } = await readEngine(client, parameters.addresses, "getPosition", [account, parameters.market]);
  if (size === 0n) throw new InvalidParameterError("market", `${account} has no position on it`);
  const abs = size < 0n ? -size : size;
  if (parameters.size >= abs) {
    throw new InvalidParameterError("size", `${parameters.size} is not below the position's ${abs}: use closePosition`);
  }
  const sizeDelta = size > 0n ? -parameters.size : parameters.size;
  const bound = await resolveAcceptablePrice(client, parameters, sizeDelta);
  const call = modifyPositionCall({ ...parameters, sizeDelta, collateralDelta: -out, acceptablePrice: bound });
  return { ...(await simulateAndWrite<void>(client, call, parameters)), acceptablePrice: bound };
}
