import { type Address, type Hex, isAddress, stringToHex } from "viem";

import { InvalidParameterError } from "./errors/base.js";

/** Where a Tidemark deployment lives. `insuranceFund` and `collateralToken` are read from the engine when omitted. */
export type TidemarkAddresses = {
  engine: Address;
  lens: Address;
  pool: Address;
  insuranceFund?: Address | undefined;
  collateralToken?: Address | undefined;
};

/** Parameters every action takes: the deployment it talks to. */
export type AddressesParameter = { addresses: TidemarkAddresses };

/** A market id: the market's symbol as a right-padded bytes32 ("ETH-USD"). */
export type MarketId = Hex;

/** The bytes32 market id of a symbol: `marketId("ETH-USD")`. */
export function marketId(symbol: string): MarketId {
  if (symbol.length === 0 || new TextEncoder().encode(symbol).length > 32) {
    throw new InvalidParameterError("market symbol", `"${symbol}" must be 1 to 32 bytes`);
  }
  return stringToHex(symbol, { size: 32 });
}

/**
 * A deployment's addresses from Hardhat Ignition's `deployed_addresses.json` (module `Tidemark` or `TidemarkLocal`):
 * pass the parsed JSON object (the SDK reads no files, so it runs in browsers).
 */
export function addressesFromIgnition(deployed: Record<string, string>): TidemarkAddresses {
  const find = (contract: string) => {
    const hits = Object.entries(deployed).filter(([key]) => key.endsWith(`#${contract}`));
    if (hits.length > 1) throw new InvalidParameterError("ignition addresses", `several entries end in #${contract}`);
    const value = hits[0]?.[1];
    if (value !== undefined && !isAddress(value)) throw new InvalidParameterError("ignition addresses", `#${contract} is not an address`);
    return value as Address | undefined;
  };
  const engine = find("TidemarkEngine");
  const lens = find("TidemarkLens");
  const pool = find("LiquidityPool");
  if (!engine || !lens || !pool) {
    throw new InvalidParameterError("ignition addresses", "TidemarkEngine, TidemarkLens and LiquidityPool must all be deployed");
  }
  return { engine, lens, pool, insuranceFund: find("InsuranceFund"), collateralToken: find("MockERC20") };
}
