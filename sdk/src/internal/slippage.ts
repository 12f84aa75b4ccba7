/** Slippage handling of the position actions. Internal. */
import { InvalidParameterError } from "../errors/base.js";
import { quoteTrade } from "../actions/quoteTrade.js";
import type { AddressesParameter, MarketId } from "../types.js";
import type { WalletClient } from "./write.js";

/** Slippage protection: either a basis-point tolerance around the current quote, or an explicit price bound. */
export type SlippageParameters =
  | { slippageBps: bigint; acceptablePrice?: undefined }
  | { acceptablePrice: bigint; slippageBps?: undefined };

/** The acceptable price of a trade of `sizeDelta`: explicit, or the quote moved by `slippageBps`. */
export async function resolveAcceptablePrice(
  client: WalletClient,
  parameters: AddressesParameter & SlippageParameters & { market: MarketId },
  sizeDelta: bigint,
): Promise<bigint> {
  if (parameters.acceptablePrice !== undefined && parameters.slippageBps !== undefined) {
    throw new InvalidParameterError("slippage", "give either slippageBps or acceptablePrice, not both");
  }
  if (parameters.acceptablePrice !== undefined) return parameters.acceptablePrice;
  if (parameters.slippageBps === undefined) throw new InvalidParameterError("slippage", "slippageBps or acceptablePrice is required");
  if (parameters.slippageBps < 0n || parameters.slippageBps > 10_000n) {
    throw new InvalidParameterError("slippageBps", `must be within 0..10000, got ${parameters.slippageBps}`);
  }
  if (sizeDelta === 0n) return 0n; // no quote for a trade modifyPositionCall refuses (the engine needs a size change)
  const q = await quoteTrade(client, { addresses: parameters.addresses, market: parameters.market, sizeDelta, slippageBps: parameters.slippageBps });
  return q.acceptablePrice as bigint;
}
