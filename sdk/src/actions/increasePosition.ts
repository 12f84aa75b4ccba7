import { modifyPositionCall } from "../calldata.js";
import { InvalidParameterError } from "../errors/base.js";
import { readEngine } from "../internal/read.js";
import { type WalletClient, type WriteOptions, accountOf, addressOf, simulateAndWrite } from "../internal/write.js";
import type { AddressesParameter, MarketId } from "../types.js";
import { type SlippageParameters, resolveAcceptablePrice } from "../internal/slippage.js";
import type { ModifyPositionReturnType } from "./modifyPosition.js";

export type IncreasePositionParameters = AddressesParameter &
  WriteOptions &
  SlippageParameters & {
    market: MarketId;
    /** Absolute WAD size added on the position's side. */
    size: bigint;
    /** Token units added from the free balance (default 0). */
    collateral?: bigint | undefined;
  };
export type IncreasePositionReturnType = ModifyPositionReturnType;

/** Adds size (and optionally collateral) on the side of the signer's open position. Simulated first. */
export async function increasePosition(
  client: WalletClient,
  parameters: IncreasePositionParameters,
): Promise<IncreasePositionReturnType> {
  if (parameters.size <= 0n) throw new InvalidParameterError("size", `must be positive, got ${parameters.size}`);
  const collateral = parameters.collateral ?? 0n;
  if (collateral < 0n) throw new InvalidParameterError("collateral", `must not be negative, got ${collateral}`);
  const account = addressOf(accountOf(client, parameters));
  const { size } = await readEngine(client, parameters.addresses, "getPosition", [account, parameters.market]);
  if (size === 0n) throw new InvalidParameterError("market", `${account} has no position on it: use openPosition`);
  const sizeDelta = size > 0n ? parameters.size : -parameters.size;
  const bound = await resolveAcceptablePrice(client, parameters, sizeDelta);
  const call = modifyPositionCall({ ...parameters, sizeDelta, collateralDelta: collateral, acceptablePrice: bound });
  return { ...(await simulateAndWrite<void>(client, call, parameters)), acceptablePrice: bound };
}
