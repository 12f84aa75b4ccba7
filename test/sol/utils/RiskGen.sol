// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ConstantsLib as C} from "../../../contracts/libraries/ConstantsLib.sol";
import {Tier, RiskParams, RiskContext} from "../../../contracts/types/DataTypes.sol";

import {Test} from "./Test.sol";

/// @notice Generators of random but VALID risk inputs (tier tables and parameters that ConfigLib would accept,
/// positions the engine could hold), expanded from one fuzzed seed so every field is independent.
abstract contract RiskGen is Test {
    uint256 internal constant WAD = 1e18;
    uint256 internal constant WAD2 = 1e36;
    /// @dev Smallest |size| the engine can hold: MIN_MIN_POSITION_NOTIONAL at MAX_PRICE.
    uint256 internal constant MIN_ENGINE_SIZE = C.MIN_MIN_POSITION_NOTIONAL * WAD / C.MAX_PRICE;

    function _rand(uint256 seed, uint256 k) internal pure returns (uint256) {
        return uint256(keccak256(abi.encode(seed, k)));
    }

    /// @dev 1 to 8 tiers: first floor 0, floors strictly increasing, MIN_MMR <= mmr < imr <= 1, mmr <= 0.5, both rates
    /// non-decreasing (ConfigLib.validateTiers).
    function _genTiers(uint256 seed) internal pure returns (Tier[] memory t) {
        uint256 len = 1 + _rand(seed, 0) % C.MAX_TIERS;
        t = new Tier[](len);
        uint256 floor;
        uint256 mmr = bound(_rand(seed, 1), C.MIN_MMR, 0.1e18);
        uint256 imr = bound(_rand(seed, 2), mmr + 1, 2 * mmr);
        for (uint256 i; i < len; ++i) {
            if (i != 0) {
                // Gaps from 1 wei of USD to 10M USD; rate steps of zero (equal rates) are possible.
                uint256 r = _rand(seed, 10 + i);
                floor += r % 4 == 0 ? bound(r >> 8, 1, 1e18) : bound(r >> 8, 1e18, 10_000_000e18);
                mmr = bound(mmr + (_rand(seed, 20 + i) % 3 == 0 ? 0 : _rand(seed, 30 + i) % 0.05e18), mmr, C.MAX_MMR);
                uint256 imrMin = imr > mmr ? imr : mmr + 1;
                imr = bound(imrMin + _rand(seed, 40 + i) % 0.05e18, imrMin, C.MAX_IMR);
            }
            t[i] = Tier({notionalFloor: uint128(floor), imr: uint64(imr), mmr: uint64(mmr)});
        }
    }

    /// @dev Parameters within ConstantsLib bounds with keeper + penalty rate < target * lowest MMR
    /// (ConfigLib.validateRiskParams and validateLiquidationCost).
    function _genParams(uint256 seed, Tier[] memory tiers) internal pure returns (RiskParams memory p) {
        p.takerFeeRate = uint64(bound(_rand(seed, 100), 0, C.MAX_TAKER_FEE_RATE));
        p.targetHealthFactor = uint64(bound(_rand(seed, 101), C.MIN_TARGET_HEALTH_FACTOR, C.MAX_TARGET_HEALTH_FACTOR));
        uint256 freed = uint256(p.targetHealthFactor) * tiers[0].mmr / WAD;
        uint256 cost = bound(_rand(seed, 102), 0, freed - 1);
        uint256 fee = bound(_rand(seed, 103), 0, cost < C.MAX_LIQUIDATION_FEE_RATE ? cost : C.MAX_LIQUIDATION_FEE_RATE);
        uint256 penalty = cost - fee;
        if (penalty > C.MAX_LIQUIDATION_PENALTY_RATE) penalty = C.MAX_LIQUIDATION_PENALTY_RATE;
        p.liquidationFeeRate = uint64(fee);
        p.liquidationPenaltyRate = uint64(penalty);
        // Money parameters log-uniform over their ranges, so small values (the realistic ones) are common.
        p.minKeeperFee = uint128(_logUniform(seed, 104, 0, C.MAX_MIN_KEEPER_FEE));
        p.maxKeeperFee = uint128(_logUniform(seed, 105, p.minKeeperFee, C.MAX_MAX_KEEPER_FEE));
        p.minPositionNotional = uint128(_logUniform(seed, 106, C.MIN_MIN_POSITION_NOTIONAL, C.MAX_MIN_POSITION_NOTIONAL));
        p.fullLiquidationNotional = uint128(_logUniform(seed, 107, 0, C.MAX_FULL_LIQUIDATION_NOTIONAL));
    }

    /// @dev A value in [lo, hi] whose order of magnitude above lo is uniform.
    function _logUniform(uint256 seed, uint256 k, uint256 lo, uint256 hi) internal pure returns (uint256) {
        uint256 span = hi - lo;
        uint256 digits;
        for (uint256 t = span; t != 0; t /= 10) ++digits;
        uint256 cap = 10 ** bound(_rand(seed, k + 1000), 0, digits);
        return lo + bound(_rand(seed, k), 0, cap < span ? cap : span);
    }

    /// @dev A position the engine could hold: |size| in [MIN_ENGINE_SIZE, MAX_POSITION_SIZE] (log-uniform-ish), entry
    /// in [1, MAX_PRICE], token decimals 0..18, funding owed zero half of the time. Collateral is left 0.
    function _genPosition(uint256 seed, uint256 tiersSeed) internal pure returns (RiskContext memory ctx) {
        ctx.tiers = _genTiers(tiersSeed);
        ctx.params = _genParams(tiersSeed, ctx.tiers);
        uint256 digits = bound(_rand(seed, 200), 8, 30);
        uint256 absSize = bound(_rand(seed, 201), MIN_ENGINE_SIZE, 10 ** digits);
        ctx.size = _rand(seed, 202) % 2 == 0 ? int256(absSize) : -int256(absSize);
        uint256 priceDigits = bound(_rand(seed, 203), 0, 28);
        ctx.entryPrice = bound(_rand(seed, 204), 1, 10 ** priceDigits);
        ctx.scale = 10 ** (18 - bound(_rand(seed, 205), 0, 18));
        if (_rand(seed, 206) % 2 == 0) {
            int256 n = int256(absSize * ctx.entryPrice / WAD);
            ctx.fundingOwed = bound(int256(_rand(seed, 207)), -n / 10 - 1, n / 10 + 1);
        }
    }

    /// @dev A price near `ref` (within a factor of 4 either way) or anywhere in [1, MAX_PRICE].
    function _genPrice(uint256 seed, uint256 ref) internal pure returns (uint256) {
        if (_rand(seed, 300) % 4 == 0) return bound(_rand(seed, 301), 1, C.MAX_PRICE);
        uint256 lo = ref / 4 == 0 ? 1 : ref / 4;
        uint256 hi = ref * 4 > C.MAX_PRICE ? C.MAX_PRICE : ref * 4;
        return bound(_rand(seed, 302), lo, hi);
    }
}
