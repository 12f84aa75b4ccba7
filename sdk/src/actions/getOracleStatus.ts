import type { BlockNumber, Client } from "viem";

import { readEngine } from "../internal/read.js";
import { type OracleStatusName, oracleStatusName } from "../math/types.js";
import type { AddressesParameter, MarketId } from "../types.js";

export type GetOracleStatusParameters = AddressesParameter & { market: MarketId; blockNumber?: BlockNumber | undefined };
export type GetOracleStatusReturnType = {
  status: OracleStatusName;
  /** Only "Ok" allows opening, increasing, removing collateral and liquidating. */
  ok: boolean;
  /** Normalised WAD price (0 when the answer is unusable). */
  price: bigint;
};

/** The market's oracle status as the engine sees it: Ok, Stale, InvalidAnswer, OutOfBounds, SequencerDown, GracePeriod. */
export async function getOracleStatus(client: Client, parameters: GetOracleStatusParameters): Promise<GetOracleStatusReturnType> {
  const [code, price] = await readEngine(client, parameters.addresses, "oracleStatus", [parameters.market], parameters.blockNumber);
  const status = oracleStatusName(code);
  return { status, ok: status === "Ok", price };
}
