/**
 * Price updates for Pyth's `MockPyth` (local chains and tests): what a Pyth publisher would produce, in the form the
 * mock verifies, `abi.encode(PriceFeed(bytes32 id, Price price, Price emaPrice), uint64 prevPublishTime)` with
 * `Price(int64 price, uint64 conf, int32 expo, uint256 publishTime)`. The protocol executes orders and LP requests at
 * "the first update published at or after T", which Pyth's uniqueness check reads as: `publishTime >= T` and
 * `prevPublishTime < T`. Pure, no RPC. Real networks take signed updates from Pyth's Hermes service instead.
 */
import { type Hex, encodeAbiParameters, isHex, size } from "viem";

import { InvalidParameterError } from "../errors/base.js";

/** The exponent of the prices this module publishes by default (Pyth's crypto feeds use -8). */
export const PYTH_DEFAULT_EXPONENT = -8;

const PRICE = {
  type: "tuple",
  components: [
    { name: "price", type: "int64" },
    { name: "conf", type: "uint64" },
    { name: "expo", type: "int32" },
    { name: "publishTime", type: "uint256" },
  ],
} as const;
const MOCK_UPDATE = [
  {
    type: "tuple",
    components: [
      { name: "id", type: "bytes32" },
      { name: "price", ...PRICE },
      { name: "emaPrice", ...PRICE },
    ],
  },
  { name: "prevPublishTime", type: "uint64" },
] as const;

const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

export type MockPythUpdateParameters = {
  /** The Pyth price feed id (bytes32): the engine's `pythPriceId(market)`. */
  id: Hex;
  /** The price in Pyth's form: `price × 10^expo` USD (int64). */
  price: bigint;
  /** Exponent (int32; default -8). */
  expo?: number | undefined;
  /** Confidence interval in the same units as `price` (default 0). */
  conf?: bigint | undefined;
  /** Unix seconds. */
  publishTime: bigint;
  /** The feed's previous publish time (default `publishTime - 1`: the update is the first at or after `publishTime`). */
  prevPublishTime?: bigint | undefined;
  /** The EMA price (default `price`, with the same exponent, confidence and publish time). */
  emaPrice?: bigint | undefined;
};

/** One MockPyth update (see the module's description for the encoding). Throws InvalidParameterError for values out of range. */
export function encodeMockPythUpdate(p: MockPythUpdateParameters): Hex {
  if (!isHex(p.id, { strict: true }) || size(p.id) !== 32) throw new InvalidParameterError("id", `must be a bytes32 price feed id, got ${p.id}`);
  const expo = p.expo ?? PYTH_DEFAULT_EXPONENT;
  if (!Number.isInteger(expo) || expo < -(2 ** 31) || expo >= 2 ** 31) throw new InvalidParameterError("expo", `must be an int32, got ${expo}`);
  const conf = p.conf ?? 0n;
  const ema = p.emaPrice ?? p.price;
  for (const [name, x] of [
    ["price", p.price],
    ["emaPrice", ema],
  ] as const) {
    if (x < -INT64_MAX - 1n || x > INT64_MAX) throw new InvalidParameterError(name, `must fit an int64 (at exponent ${expo}), got ${x}`);
  }
  if (conf < 0n || conf > UINT64_MAX) throw new InvalidParameterError("conf", `must be a uint64, got ${conf}`);
  if (p.publishTime < 0n || p.publishTime > UINT64_MAX) throw new InvalidParameterError("publishTime", `must be unix seconds (a uint64), got ${p.publishTime}`);
  const prev = p.prevPublishTime ?? (p.publishTime > 0n ? p.publishTime - 1n : 0n);
  if (prev < 0n || prev > UINT64_MAX) throw new InvalidParameterError("prevPublishTime", `must be unix seconds (a uint64), got ${prev}`);
  const price = (x: bigint) => ({ price: x, conf, expo, publishTime: p.publishTime });
  return encodeAbiParameters(MOCK_UPDATE, [{ id: p.id, price: price(p.price), emaPrice: price(ema) }, prev]);
}

/**
 * A WAD price (18 decimals) in Pyth's form at exponent `expo` (default -8), truncated toward zero: 3,000.5 USD is
 * 300_050_000_000 at -8. Pass prices with at most `-expo` decimals to keep them exact.
 */
export function wadToPythPrice(wad: bigint, expo: number = PYTH_DEFAULT_EXPONENT): bigint {
  if (!Number.isInteger(expo) || expo > 0 || expo < -36) throw new InvalidParameterError("expo", `must be an integer from -36 to 0, got ${expo}`);
  const shift = 18 + expo;
  return shift >= 0 ? wad / 10n ** BigInt(shift) : wad * 10n ** BigInt(-shift);
}
