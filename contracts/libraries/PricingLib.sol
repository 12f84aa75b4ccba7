// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

import {ConstantsLib} from "./ConstantsLib.sol";
import {FixedPointMathLib as FP} from "./FixedPointMathLib.sol";

/// @title PricingLib
/// @notice Price impact from skew. A trade moves the market's skew from `skew` to `skew + sizeDelta`; it fills at the
/// oracle price times one plus the average premium over that path:
///     fill = price * (1 + (skew + (skew + sizeDelta)) / (2 * skewScale)),
/// with the premium clamped to +-MAX_PRICE_IMPACT. A trade that adds to the skew pays a premium; one that reduces it
/// gets a better price than the oracle's. Two mirror-image trades (skew and size negated) fill at prices mirrored
/// around the oracle price, to the wei.
/// Rounding is always against the trader: the impact rounds up when it raises a buyer's price or lowers a seller's,
/// and down when it helps the trader. So a round trip (open then close the same size at the same oracle price and
/// skew path) never gains from impact.
library PricingLib {
    /// @notice Fill price of a trade of `sizeDelta` (positive buys) at oracle `price` on a market with `skew`
    /// (long minus short open interest) before the trade. `skewScale` 0 disables impact.
    function fillPrice(uint256 price, int256 skew, int256 sizeDelta, uint256 skewScale)
        internal
        pure
        returns (uint256)
    {
        if (skewScale == 0) return price;
        // Twice the average skew over the trade; |skew| < 2**128 and |sizeDelta| <= MAX_POSITION_SIZE, no overflow.
        int256 twiceAvgSkew = 2 * skew + sizeDelta;
        if (twiceAvgSkew == 0) return price;
        bool raises = twiceAvgSkew > 0;
        // Against the trader: round the impact up when it hurts (raises a buy, lowers a sell).
        Math.Rounding rounding = raises == (sizeDelta > 0) ? Math.Rounding.Ceil : Math.Rounding.Floor;
        uint256 num = FP.abs(twiceAvgSkew);
        uint256 den = 2 * skewScale;
        // Clamp: premium = num / den capped at MAX_PRICE_IMPACT (compared exactly, without rounding).
        uint256 impact = num * FP.WAD >= ConstantsLib.MAX_PRICE_IMPACT * den
            ? Math.mulDiv(price, ConstantsLib.MAX_PRICE_IMPACT, FP.WAD, rounding)
            : Math.mulDiv(price, num, den, rounding);
        // MAX_PRICE_IMPACT < 100%, so a lowered price stays positive.
        return raises ? price + impact : price - impact;
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
}
