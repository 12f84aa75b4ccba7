import { modifyPositionCall } from "../calldata.js";
import { InvalidParameterError } from "../errors/base.js";
import { readEngine } from "../internal/read.js";
import { type WalletClient, type WriteOptions, accountOf, addressOf, simulateAndWrite } from "../internal/write.js";
import type { AddressesParameter, MarketId } from "../types.js";
import { type SlippageParameters, resolveAcceptablePrice } from "../internal/slippage.js";
import type { ModifyPositionReturnType } from "./modifyPosition.js";

export type OpenPositionParameters = AddressesParameter &
  WriteOptions &
  SlippageParameters & {
    market: MarketId;
    side: "long" | "short";
    /** Absolute WAD size. */
    size: bigint;
    /** Token units moved from the free balance into the position. */
    collateral: bigint;
  };
export type OpenPositionReturnType = ModifyPositionReturnType;

/** Opens a new position (the signer must have none on the market: use `increasePosition`). Simulated first. */
export async function openPosition(client: WalletClient, parameters: OpenPositionParameters): Promise<OpenPositionReturnType> {
  if (parameters.size <= 0n) throw new InvalidParameterError("size", `must be positive, got ${parameters.size}`);
  if (parameters.collateral <= 0n) throw new InvalidParameterError("collateral", `must be positive, got ${parameters.collateral}`);
  const account = addressOf(accountOf(client, parameters));
  const existing = await readEngine(client, parameters.addresses, "getPosition", [account, parameters.market]);
  if (existing.size !== 0n) {
    throw new InvalidParameterError("market", `${account} already has a position on it: use increasePosition or decreasePosition`);
  }
  const sizeDelta = parameters.side === "long" ? parameters.size : -parameters.size;
  const bound = await resolveAcceptablePrice(client, parameters, sizeDelta);
  const call = modifyPositionCall({ ...parameters, sizeDelta, collateralDelta: parameters.collateral, acceptablePrice: bound });
  return { ...(await simulateAndWrite<void>(client, call, parameters)), acceptablePrice: bound };
}
