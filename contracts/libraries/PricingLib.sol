// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

import {ConstantsLib} from "./ConstantsLib.sol";
import {FixedPointMathLib as FP} from "./FixedPointMathLib.sol";

/// @title PricingLib
/// @notice Price impact from skew (long minus short open interest). The premium at skew x is
///     p(x) = clamp(x / skewScale, -MAX_PRICE_IMPACT, +MAX_PRICE_IMPACT),
/// and a trade moving the skew from s0 to s1 pays the integral of the premium along its path:
///     impact (USD) = price * (Phi(s1) - Phi(s0)),  Phi(x) = integral of p from 0 to x,
///     fill = price + impact / sizeDelta.
/// Inside |x| <= MAX_PRICE_IMPACT * skewScale this is fill = price * (1 + (s0 + s1) / (2 * skewScale)); beyond it
/// each further unit pays the flat 1%. Because the impact depends only on where the skew starts and ends, splitting
/// a trade, or routing it through other accounts, gains nothing, and the pool's mark to market can value the
/// premium the skew would pay back as price * Phi(skew) (`unwindPremium36`), the same function.
/// A trade that adds to the skew pays a premium; one that reduces it fills better than the oracle. Rounding is
/// always against the trader: Phi is rounded up at the end point and down at the start (so the impact is never
/// understated), and the division by the size rounds the fill up for a buy and down for a sell. Mirror-image trades
/// (skew and size negated) fill at prices mirrored around the oracle price, to the wei.
library PricingLib {
    /// @notice Fill price of a trade of `sizeDelta` (positive buys) at oracle `price` on a market with `skew`
    /// before the trade. `skewScale` 0 disables impact.
    function fillPrice(uint256 price, int256 skew, int256 sizeDelta, uint256 skewScale)
        internal
        pure
        returns (uint256)
    {
        if (skewScale == 0 || sizeDelta == 0) return price;
        // Impact in WAD^2 USD, overstated by at most 2 wei of WAD^2 (1e-36 USD): never in the trader's favour.
        int256 impact36 = int256(_phi36(price, skew + sizeDelta, skewScale, Math.Rounding.Ceil))
            - int256(_phi36(price, skew, skewScale, Math.Rounding.Floor));
        // fill - price = impact36 / sizeDelta: rounded up for a buy (pays more), down for a sell (receives less).
        int256 premium = sizeDelta > 0
            ? -FP.sDivDown(-impact36, uint256(sizeDelta))
            : FP.sDivDown(-impact36, uint256(-sizeDelta));
        // |premium| <= 1% of price plus three wei of rounding; only a sell at a price of a few hundred wei could
        // reach zero, and then fills at zero (against the seller).
        int256 fill = int256(price) + premium;
        return fill > 0 ? uint256(fill) : 0;
    }

    /// @notice The premium that unwinding the whole `skew` to zero at `price` would pay back to traders, WAD^2 USD
    /// rounded up: price * Phi(skew). The pool's mark to market subtracts it, so a premium a trade paid counts as the
    /// pool's only once it can no longer flow back.
    function unwindPremium36(uint256 price, int256 skew, uint256 skewScale) internal pure returns (uint256) {
        if (skewScale == 0) return 0;
        return _phi36(price, skew, skewScale, Math.Rounding.Ceil);
    }

    /// @notice Taker fee in token units on `absSize` filled at `fill`: a charge, rounded up in one step.
    function takerFee(uint256 absSize, uint256 fill, uint256 feeRate, uint256 scale) internal pure returns (uint256) {
        return FP.divUp(absSize * fill * feeRate, FP.WAD * FP.WAD * scale);
    }

    /// @notice What the impact cost a trade of `sizeDelta` filled at `fill` against oracle `price`, in token units:
    /// positive when the trader paid, negative when they gained, rounded towards negative infinity. Reported only.
    function impactCost(int256 sizeDelta, uint256 fill, uint256 price, uint256 scale) internal pure returns (int256) {
        return FP.sDivDown(sizeDelta * (int256(fill) - int256(price)), FP.WAD * scale);
    }

    /// @dev price * Phi(x) in WAD^2 USD with one rounding. Phi is even: Phi(x) = Phi(|x|). With s = |x|, S the scale
    /// and m = MAX_PRICE_IMPACT (WAD), s <= m * S / WAD gives s^2 / (2 S); beyond it,
    /// m * s / WAD - m^2 * S / (2 WAD^2) (the two pieces meet at s = m * S / WAD).
    function _phi36(uint256 price, int256 x, uint256 skewScale, Math.Rounding rounding) private pure returns (uint256) {
        uint256 s = FP.abs(x);
        uint256 m = ConstantsLib.MAX_PRICE_IMPACT;
        // s < 2^128, price <= MAX_PRICE and skewScale <= MAX_IMPACT_SKEW_SCALE keep every product below 2^256.
        if (s * FP.WAD <= m * skewScale) return Math.mulDiv(price * s, s, 2 * skewScale, rounding);
        return Math.mulDiv(price, 2 * m * s * FP.WAD - m * m * skewScale, 2 * FP.WAD * FP.WAD, rounding);
    }
}
