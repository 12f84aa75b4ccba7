// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {FundingLib} from "../libraries/FundingLib.sol";
import {PricingLib} from "../libraries/PricingLib.sol";
import {LiquidationPlan, RiskLib} from "../libraries/RiskLib.sol";
import {RiskContext, Tier} from "../types/DataTypes.sol";

/// @notice TEST ONLY, never deployed by the protocol: exposes the internal pure functions of RiskLib, PricingLib and
/// FundingLib on arbitrary inputs, so the SDK's bigint math (sdk/src/math) can be compared with the contracts' own
/// code (test/ts/sdk-math.property.test.ts). Every function is element-wise over equal-length arrays, so one eth_call
/// checks many cases; a case that reverts (checked arithmetic) reverts the whole call.
contract RiskHarness {
    /* ------------------------------------------------------------------ RiskLib */

    function requirement36(Tier[][] memory tiers, uint256[] calldata n36, bool[] calldata initial)
        external
        pure
        returns (uint256[] memory out)
    {
        out = new uint256[](n36.length);
        for (uint256 i; i < n36.length; ++i) {
            out[i] = RiskLib.requirement36(tiers[i], n36[i], initial[i]);
        }
    }

    function equity36(RiskContext[] memory ctxs, uint256[] calldata prices)
        external
        pure
        returns (int256[] memory out)
    {
        out = new int256[](ctxs.length);
        for (uint256 i; i < ctxs.length; ++i) {
            out[i] = RiskLib.equity36(ctxs[i], prices[i]);
        }
    }

    function health36(RiskContext[] memory ctxs, uint256[] calldata prices)
        external
        pure
        returns (int256[] memory e36, uint256[] memory mm36)
    {
        e36 = new int256[](ctxs.length);
        mm36 = new uint256[](ctxs.length);
        for (uint256 i; i < ctxs.length; ++i) {
            (e36[i], mm36[i]) = RiskLib.health36(ctxs[i], prices[i]);
        }
    }

    function healthFactor(int256[] calldata e36, uint256[] calldata mm36) external pure returns (uint256[] memory out) {
        out = new uint256[](e36.length);
        for (uint256 i; i < e36.length; ++i) {
            out[i] = RiskLib.healthFactor(e36[i], mm36[i]);
        }
    }

    function liquidationPrice(RiskContext[] memory ctxs) external pure returns (uint256[] memory out) {
        out = new uint256[](ctxs.length);
        for (uint256 i; i < ctxs.length; ++i) {
            out[i] = RiskLib.liquidationPrice(ctxs[i]);
        }
    }

    function planLiquidation(RiskContext[] memory ctxs, uint256[] calldata prices)
        external
        pure
        returns (LiquidationPlan[] memory out)
    {
        out = new LiquidationPlan[](ctxs.length);
        for (uint256 i; i < ctxs.length; ++i) {
            out[i] = RiskLib.planLiquidation(ctxs[i], prices[i]);
        }
    }

    /* --------------------------------------------------------------- PricingLib */

    function fillPrice(
        uint256[] calldata price,
        int256[] calldata skew,
        int256[] calldata sizeDelta,
        uint256[] calldata skewScale
    ) external pure returns (uint256[] memory out) {
        out = new uint256[](price.length);
        for (uint256 i; i < price.length; ++i) {
            out[i] = PricingLib.fillPrice(price[i], skew[i], sizeDelta[i], skewScale[i]);
        }
    }

    function unwindPremium36(uint256[] calldata price, int256[] calldata skew, uint256[] calldata skewScale)
        external
        pure
        returns (uint256[] memory out)
    {
        out = new uint256[](price.length);
        for (uint256 i; i < price.length; ++i) {
            out[i] = PricingLib.unwindPremium36(price[i], skew[i], skewScale[i]);
        }
    }

    function takerFee(
        uint256[] calldata absSize,
        uint256[] calldata fill,
        uint256[] calldata feeRate,
        uint256[] calldata scale
    ) external pure returns (uint256[] memory out) {
        out = new uint256[](absSize.length);
        for (uint256 i; i < absSize.length; ++i) {
            out[i] = PricingLib.takerFee(absSize[i], fill[i], feeRate[i], scale[i]);
        }
    }

    function impactCost(
        int256[] calldata sizeDelta,
        uint256[] calldata fill,
        uint256[] calldata price,
        uint256[] calldata scale
    ) external pure returns (int256[] memory out) {
        out = new int256[](sizeDelta.length);
        for (uint256 i; i < sizeDelta.length; ++i) {
            out[i] = PricingLib.impactCost(sizeDelta[i], fill[i], price[i], scale[i]);
        }
    }

    /* --------------------------------------------------------------- FundingLib */

    function owed(
        int256[] calldata size,
        int256[] calldata index,
        int256[] calldata positionIndex,
        uint256[] calldata divisor
    ) external pure returns (int256[] memory out) {
        out = new int256[](size.length);
        for (uint256 i; i < size.length; ++i) {
            out[i] = FundingLib.owed(size[i], index[i], positionIndex[i], divisor[i]);
        }
    }
}
