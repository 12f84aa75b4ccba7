import { closePositionCall } from "../calldata.js";
import { InvalidParameterError } from "../errors/base.js";
import { readEngine } from "../internal/read.js";
import { type WalletClient, type WriteOptions, accountOf, addressOf, simulateAndWrite } from "../internal/write.js";
import type { AddressesParameter, MarketId } from "../types.js";
import { type SlippageParameters, resolveAcceptablePrice } from "../internal/slippage.js";
import type { ModifyPositionReturnType } from "./modifyPosition.js";

export type ClosePositionParameters = AddressesParameter & WriteOptions & SlippageParameters & { market: MarketId };
export type ClosePositionReturnType = ModifyPositionReturnType;

/** Closes the signer's whole position; collateral and PnL go to the free balance (works while paused). Simulated first. */
export async function closePosition(client: WalletClient, parameters: ClosePositionParameters): Promise<ClosePositionReturnType> {
  const account = addressOf(accountOf(client, parameters));
  const { size } = await readEngine(client, parameters.addresses, "getPosition", [account, parameters.market]);
  if (size === 0n) throw new InvalidParameterError("market", `${account} has no position on it`);
  const bound = await resolveAcceptablePrice(client, parameters, -size);
  const call = closePositionCall({ addresses: parameters.addresses, market: parameters.market, acceptablePrice: bound });
  return { ...(await simulateAndWrite<void>(client, call, parameters)), acceptablePrice: bound };
}
