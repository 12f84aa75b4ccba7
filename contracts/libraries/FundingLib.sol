// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

import {Market} from "../types/DataTypes.sol";
import {FixedPointMathLib as FP} from "./FixedPointMathLib.sol";

/// @title FundingLib
/// @notice Per-market cumulative funding index. Between two accruals the skew is constant (every action that changes
/// open interest accrues first), so the rate is constant; the index grows by rate * price * elapsed, where price is
/// the oracle price of the last priced action on the market. Accrual therefore needs no oracle read, and views and
/// governance can accrue at any time.
/// Rounding: each index increment rounds away from zero. The pool receives the net (skew * increment), so this
/// favours the pool; a position's funding rounds up when owed and toward zero when received.
library FundingLib {
    uint256 internal constant WAD = 1e18;

    /// @notice The index accrued to the current block, without writing it.
    function pendingIndex(Market storage m) internal view returns (int256 index) {
        index = m.fundingIndex;
        uint256 elapsed = block.timestamp - m.lastFundingTime;
        if (elapsed == 0) return index;
        int256 skew = int256(uint256(m.longOpenInterest)) - int256(uint256(m.shortOpenInterest));
        if (skew == 0) return index;
        uint256 maxRate = m.funding.maxFundingRatePerDay;
        if (maxRate == 0) return index;
        uint256 skewScale = m.funding.skewScale;
        uint256 absSkew = FP.abs(skew);
        // |increment| = min(|skew|, skewScale) / skewScale * maxRate / 1 day * price * elapsed, rounded up.
        uint256 delta = Math.mulDiv(
            FP.min(absSkew, skewScale) * maxRate,
            uint256(m.fundingPrice) * elapsed,
            skewScale * WAD * 1 days,
            Math.Rounding.Ceil
        );
        index += skew > 0 ? int256(delta) : -int256(delta);
    }

    /// @notice Accrues the index to the current block and records `price` (if non-zero) for the next interval.
    function accrue(Market storage m, uint256 price) internal returns (int256 index) {
        index = pendingIndex(m);
        // One slot write. The index is bounded by rate, price and time far below 2**127; price <= MAX_PRICE < 2**94.
        m.fundingIndex = int128(index);
        m.lastFundingTime = uint32(block.timestamp);
        if (price != 0) m.fundingPrice = uint96(price);
    }

    /// @notice Current funding rate, signed WAD fraction of notional per day (positive: longs pay).
    function ratePerDay(Market storage m) internal view returns (int256) {
        int256 skew = int256(uint256(m.longOpenInterest)) - int256(uint256(m.shortOpenInterest));
        if (skew == 0 || m.funding.maxFundingRatePerDay == 0) return 0;
        uint256 rate = FP.min(FP.abs(skew), m.funding.skewScale) * m.funding.maxFundingRatePerDay / m.funding.skewScale;
        return skew > 0 ? int256(rate) : -int256(rate);
    }

    /// @notice Funding owed by a position of `size` settled at `positionIndex`, at `index`, divided by `divisor`
    /// (WAD for WAD USD, WAD * scale for token units). Owed rounds up, received rounds toward zero.
    function owed(int256 size, int256 index, int256 positionIndex, uint256 divisor) internal pure returns (int256) {
        return -FP.sDivDown(-(size * (index - positionIndex)), divisor);
    }
}
