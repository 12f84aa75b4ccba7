/**
 * Pyth price updates for MockPyth, as a publisher would produce them: each feed's updates carry the publish time of
 * the previous one (`prevPublishTime`), which is what Pyth's uniqueness check ("the first update at or after a
 * time") reads. MockPyth takes `abi.encode(PriceFeed, uint64 prevPublishTime)` (its createPriceFeedUpdateData).
 */
import { AbiCoder } from "ethers";

const PRICE = "tuple(int64 price, uint64 conf, int32 expo, uint256 publishTime)";
const FEED = `tuple(bytes32 id, ${PRICE} price, ${PRICE} emaPrice)`;

/** Exponent of the prices this helper publishes (Pyth's crypto feeds use -8). */
export const PYTH_EXPO = -8;

/** A WAD price as a Pyth price with exponent -8 (truncated: pass prices with at most 8 decimals). */
export const toPyth = (wadPrice: bigint) => wadPrice / 10n ** 10n;

/** One MockPyth update: feed `id` at `price` (exponent `expo`), published at `publishTime`, after `prevPublishTime`. */
export function encodeUpdate(
  id: string,
  price: bigint,
  publishTime: bigint | number,
  prevPublishTime: bigint | number,
  expo = PYTH_EXPO,
  conf = 0n,
): string {
  const p = { price, conf, expo, publishTime: BigInt(publishTime) };
  return AbiCoder.defaultAbiCoder().encode([FEED, "uint64"], [{ id, price: p, emaPrice: p }, BigInt(prevPublishTime)]);
}

/**
 * A publisher's tape: remembers each feed's last publish time, so every update it makes is the first one after the
 * previous (as Pythnet's are). `publish` takes a WAD price.
 */
export class PriceTape {
  private readonly last = new Map<string, bigint>();

  /** Update data for feed `id` at WAD `price`, published at `publishTime` (must be later than the feed's last). */
  publish(id: string, price: bigint, publishTime: bigint | number): string {
    const t = BigInt(publishTime);
    const prev = this.last.get(id) ?? 0n;
    if (t <= prev) throw new Error(`publish time ${t} is not after the feed's last (${prev})`);
    this.last.set(id, t);
    return encodeUpdate(id, toPyth(price), t, prev);
  }

  /** The feed's last publish time (0 when none). */
  lastPublishTime(id: string): bigint {
    return this.last.get(id) ?? 0n;
  }
}
