// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AggregatorV3Interface} from "@chainlink/contracts/src/v0.8/shared/interfaces/AggregatorV3Interface.sol";

import {ITidemarkEngine} from "../interfaces/ITidemarkEngine.sol";
import {MarketId} from "../types/MarketId.sol";
import {Market, Tier, RiskParams, OracleConfig, FundingParams, ExposureParams} from "../types/DataTypes.sol";
import {ConstantsLib as C} from "./ConstantsLib.sol";
import {FundingLib} from "./FundingLib.sol";

/// @title ConfigLib
/// @notice Market listing and per-market parameter changes (validate, write, emit), and validation of every governed
/// parameter against the hard bounds of ConstantsLib. Reverts with PerpParameterOutOfBounds(name, value, min, max),
/// PerpInvalidTier(index), PerpParameterStepTooLarge, PerpRateChangeTooSoon, PerpLiquidationCostTooHigh or
/// PerpParameterUnchanged.
/// @dev Rate changes are limited twice: each call by the rate's maximum step, and over time by
/// MIN_RATE_CHANGE_INTERVAL between two calls that change a stepped rate (per market: the tier table, the taker fee,
/// keeper reward and penalty rates, the maximum funding rate, on one timer; globally: the reserve factor). Checks run
/// in this order, so the first failing one names the problem: bounds (and tier rules), steps, cooldown, liquidation
/// cost, unchanged. The cooldown only applies when a stepped rate actually changes, so a no-op still reverts
/// PerpParameterUnchanged and a change of other fields only is neither blocked nor restarts the timer. Listing a
/// market starts no timer.
/// @dev A linked library: its external functions run in the engine's context (DELEGATECALL) on the engine's storage
/// and emit the engine's events. Only governance paths use it, so it costs traders nothing and keeps the engine under
/// the contract size limit. Access control stays in the engine.
library ConfigLib {
    /* ------------------------------------------------------------ market config */

    /// @notice Lists a market after validating everything. Emits MarketListed.
    function listMarket(
        Market storage m,
        MarketId market,
        OracleConfig calldata oracle,
        RiskParams calldata params,
        Tier[] calldata tiers
    ) external {
        require(!m.listed, ITidemarkEngine.PerpMarketAlreadyListed(market));
        validateTiers(tiers);
        validateRiskParams(params);
        validateLiquidationCost(params, tiers);
        OracleConfig memory o = _withFeedDecimals(oracle);
        m.listed = true;
        m.lastFundingTime = uint32(block.timestamp);
        _writeOracle(m, o);
        m.params = params;
        _writeTiers(m, tiers);
        emit ITidemarkEngine.MarketListed(market, o, params, tiers);
    }

    /// @notice Replaces a listed market's tiers. Any change of the table counts as a rate change ("marginTiers").
    /// Emits MarginTiersSet.
    function setMarginTiers(Market storage m, MarketId market, Tier[] calldata tiers) external {
        validateTiers(tiers);
        Tier[] memory current = m.tiers;
        _validateTierStep(current, tiers);
        bool changed = keccak256(abi.encode(tiers)) != keccak256(abi.encode(current));
        if (changed) _rateChange(m, "marginTiers");
        validateLiquidationCost(m.params, tiers);
        require(changed, ITidemarkEngine.PerpParameterUnchanged());
        _writeTiers(m, tiers);
        emit ITidemarkEngine.MarginTiersSet(market, tiers);
    }

    /// @notice Replaces a listed market's fee and liquidation parameters. A change of the taker fee, keeper reward or
    /// penalty rate is a rate change ("riskParams"); the other fields are not. Emits RiskParamsSet.
    function setRiskParams(Market storage m, MarketId market, RiskParams calldata params) external {
        validateRiskParams(params);
        RiskParams memory old = m.params;
        _step("takerFeeRate", old.takerFeeRate, params.takerFeeRate, C.MAX_FEE_RATE_STEP);
        _step("liquidationFeeRate", old.liquidationFeeRate, params.liquidationFeeRate, C.MAX_FEE_RATE_STEP);
        _step("liquidationPenaltyRate", old.liquidationPenaltyRate, params.liquidationPenaltyRate, C.MAX_PENALTY_RATE_STEP);
        if (
            params.takerFeeRate != old.takerFeeRate || params.liquidationFeeRate != old.liquidationFeeRate
                || params.liquidationPenaltyRate != old.liquidationPenaltyRate
        ) _rateChange(m, "riskParams");
        validateLiquidationCost(params, m.tiers);
        require(keccak256(abi.encode(params)) != keccak256(abi.encode(old)), ITidemarkEngine.PerpParameterUnchanged());
        m.params = params;
        emit ITidemarkEngine.RiskParamsSet(market, params);
    }

    /// @notice Replaces a listed market's oracle settings. Emits OracleConfigSet.
    function setOracleConfig(Market storage m, MarketId market, OracleConfig calldata oracle) external {
        OracleConfig memory o = _withFeedDecimals(oracle);
        require(
            keccak256(abi.encode(o)) != keccak256(abi.encode(oracleConfigOf(m))), ITidemarkEngine.PerpParameterUnchanged()
        );
        _writeOracle(m, o);
        emit ITidemarkEngine.OracleConfigSet(market, o);
    }

    /// @notice Replaces a listed market's funding settings, after accruing the index under the old ones. A change of
    /// the maximum funding rate is a rate change ("funding"); of the skew scale alone, not. Emits FundingParamsSet.
    function setFundingParams(Market storage m, MarketId market, FundingParams calldata params) external {
        _bound("skewScale", params.skewScale, C.MIN_SKEW_SCALE, C.MAX_SKEW_SCALE);
        _bound("maxFundingRatePerDay", params.maxFundingRatePerDay, 0, C.MAX_FUNDING_RATE_PER_DAY);
        FundingParams memory old = m.funding;
        _step("maxFundingRatePerDay", old.maxFundingRatePerDay, params.maxFundingRatePerDay, C.MAX_FUNDING_RATE_STEP);
        bool rateChanged = params.maxFundingRatePerDay != old.maxFundingRatePerDay;
        if (rateChanged) _rateChange(m, "funding");
        require(rateChanged || params.skewScale != old.skewScale, ITidemarkEngine.PerpParameterUnchanged());
        FundingLib.accrue(m, 0);
        m.funding = params;
        emit ITidemarkEngine.FundingParamsSet(market, params);
    }

    /// @notice Replaces a listed market's price-impact scale and open-interest caps. Existing positions keep their
    /// entry prices; caps apply to the next open or increase. Emits ExposureParamsSet.
    function setExposureParams(Market storage m, MarketId market, ExposureParams calldata params) external {
        if (params.impactSkewScale != 0) {
            _bound("impactSkewScale", params.impactSkewScale, C.MIN_IMPACT_SKEW_SCALE, C.MAX_IMPACT_SKEW_SCALE);
        }
        _bound("maxLongOpenInterestRatio", params.maxLongOpenInterestRatio, 0, C.MAX_OPEN_INTEREST_RATIO);
        _bound("maxShortOpenInterestRatio", params.maxShortOpenInterestRatio, 0, C.MAX_OPEN_INTEREST_RATIO);
        require(
            keccak256(abi.encode(params)) != keccak256(abi.encode(m.exposure)), ITidemarkEngine.PerpParameterUnchanged()
        );
        m.exposure = params;
        emit ITidemarkEngine.ExposureParamsSet(market, params);
    }

    /// @notice The market's oracle settings as a struct.
    function oracleConfigOf(Market storage m) internal view returns (OracleConfig memory) {
        return OracleConfig(m.feed, m.heartbeat, m.feedDecimals, m.minPrice, m.maxPrice);
    }

    /// @dev Reads the feed's decimals (the input's are ignored), then validates the bounds.
    function _withFeedDecimals(OracleConfig calldata oracle) private view returns (OracleConfig memory o) {
        o = oracle;
        require(o.feed != address(0), ITidemarkEngine.PerpZeroAddress());
        o.decimals = AggregatorV3Interface(o.feed).decimals();
        validateOracle(o);
    }

    function _writeOracle(Market storage m, OracleConfig memory o) private {
        m.feed = o.feed;
        m.heartbeat = o.heartbeat;
        m.feedDecimals = o.decimals;
        m.minPrice = o.minPrice;
        m.maxPrice = o.maxPrice;
    }

    function _writeTiers(Market storage m, Tier[] calldata tiers) private {
        delete m.tiers;
        for (uint256 i; i < tiers.length; ++i) {
            m.tiers.push(tiers[i]);
        }
    }

    /* --------------------------------------------------------------- validation */

    /// @notice Tier table rules: 1..MAX_TIERS tiers; the first floor is 0 and floors strictly increase;
    /// MIN_MMR <= mmr < imr <= MAX_IMR, mmr <= MAX_MMR; both rates non-decreasing with notional.
    function validateTiers(Tier[] calldata tiers) internal pure {
        uint256 len = tiers.length;
        _bound("tierCount", len, 1, C.MAX_TIERS);
        for (uint256 i; i < len; ++i) {
            Tier calldata t = tiers[i];
            bool ok = t.mmr >= C.MIN_MMR && t.mmr <= C.MAX_MMR && t.mmr < t.imr && t.imr <= C.MAX_IMR;
            if (i == 0) {
                ok = ok && t.notionalFloor == 0;
            } else {
                Tier calldata prev = tiers[i - 1];
                ok = ok && t.notionalFloor > prev.notionalFloor && t.imr >= prev.imr && t.mmr >= prev.mmr;
            }
            require(ok, ITidemarkEngine.PerpInvalidTier(i));
        }
    }

    /// @notice Fee and liquidation parameter bounds, each named in the error.
    function validateRiskParams(RiskParams calldata p) internal pure {
        _bound("takerFeeRate", p.takerFeeRate, 0, C.MAX_TAKER_FEE_RATE);
        _bound("liquidationFeeRate", p.liquidationFeeRate, 0, C.MAX_LIQUIDATION_FEE_RATE);
        _bound("liquidationPenaltyRate", p.liquidationPenaltyRate, 0, C.MAX_LIQUIDATION_PENALTY_RATE);
        _bound("targetHealthFactor", p.targetHealthFactor, C.MIN_TARGET_HEALTH_FACTOR, C.MAX_TARGET_HEALTH_FACTOR);
        _bound("minKeeperFee", p.minKeeperFee, 0, C.MAX_MIN_KEEPER_FEE);
        _bound("maxKeeperFee", p.maxKeeperFee, p.minKeeperFee, C.MAX_MAX_KEEPER_FEE);
        _bound("minPositionNotional", p.minPositionNotional, C.MIN_MIN_POSITION_NOTIONAL, C.MAX_MIN_POSITION_NOTIONAL);
        _bound("fullLiquidationNotional", p.fullLiquidationNotional, 0, C.MAX_FULL_LIQUIDATION_NOTIONAL);
    }

    /// @notice A partial liquidation closes notional at a cost of (keeper rate + penalty rate) of equity and frees
    /// target * MMR of target requirement; it can only restore health when the cost is strictly lower.
    function validateLiquidationCost(RiskParams memory p, Tier[] memory tiers) internal pure {
        uint256 cost = uint256(p.liquidationFeeRate) + p.liquidationPenaltyRate;
        uint256 freed = uint256(p.targetHealthFactor) * tiers[0].mmr / 1e18;
        require(cost < freed, ITidemarkEngine.PerpLiquidationCostTooHigh(cost, freed));
    }

    /// @notice Oracle bounds; `decimals` is the feed's own, read by the caller.
    function validateOracle(OracleConfig memory o) internal pure {
        require(o.feed != address(0), ITidemarkEngine.PerpZeroAddress());
        _bound("heartbeat", o.heartbeat, C.MIN_HEARTBEAT, C.MAX_HEARTBEAT);
        _bound("feedDecimals", o.decimals, 0, C.MAX_FEED_DECIMALS);
        _bound("maxPrice", o.maxPrice, 2, C.MAX_PRICE);
        _bound("minPrice", o.minPrice, 1, o.maxPrice - 1);
    }

    function validateGracePeriod(uint256 gracePeriod) internal pure {
        _bound("gracePeriod", gracePeriod, 0, C.MAX_GRACE_PERIOD);
    }

    /// @notice Reserve factor bounds, step from the current value and, when it changes, the cooldown since the last
    /// change at `lastChangeAt` (0: none). The caller reverts PerpParameterUnchanged on a no-op and records the time.
    function validateReserveFactor(uint256 current, uint256 proposed, uint256 lastChangeAt) internal view {
        _bound("reserveFactor", proposed, 0, C.MAX_RESERVE_FACTOR);
        _step("reserveFactor", current, proposed, C.MAX_RESERVE_FACTOR_STEP);
        if (proposed != current) requireRateCooldown("reserveFactor", lastChangeAt);
    }

    /// @notice Reverts PerpRateChangeTooSoon(name, allowedAt) unless MIN_RATE_CHANGE_INTERVAL has passed since the
    /// last change of a stepped rate at `lastChangeAt`; no restriction when there was none (0).
    function requireRateCooldown(bytes32 name, uint256 lastChangeAt) internal view {
        if (lastChangeAt == 0) return;
        uint256 allowedAt = lastChangeAt + C.MIN_RATE_CHANGE_INTERVAL;
        require(block.timestamp >= allowedAt, ITidemarkEngine.PerpRateChangeTooSoon(name, allowedAt));
    }

    /// @dev A stepped rate of the market changes in this call: checks the market's cooldown, then restarts it (a later
    /// revert of the call undoes the write).
    function _rateChange(Market storage m, bytes32 name) private {
        requireRateCooldown(name, m.lastRateChangeAt);
        m.lastRateChangeAt = uint32(block.timestamp);
    }

    /// @dev Each margin rate, as a function of notional, may move by at most MAX_MARGIN_RATE_STEP at every notional.
    /// Both tables are step functions, so comparing them at every floor of either table covers every notional.
    function _validateTierStep(Tier[] memory cur, Tier[] memory next) private pure {
        for (uint256 i; i < cur.length + next.length; ++i) {
            uint256 n = i < cur.length ? cur[i].notionalFloor : next[i - cur.length].notionalFloor;
            (uint256 imr0, uint256 mmr0) = _ratesAt(cur, n);
            (uint256 imr1, uint256 mmr1) = _ratesAt(next, n);
            _step("imr", imr0, imr1, C.MAX_MARGIN_RATE_STEP);
            _step("mmr", mmr0, mmr1, C.MAX_MARGIN_RATE_STEP);
        }
    }

    /// @dev Marginal rates of the tier containing notional `n` (floors strictly increase from 0).
    function _ratesAt(Tier[] memory tiers, uint256 n) private pure returns (uint256 imr, uint256 mmr) {
        for (uint256 i; i < tiers.length && tiers[i].notionalFloor <= n; ++i) {
            (imr, mmr) = (tiers[i].imr, tiers[i].mmr);
        }
    }

    function _step(bytes32 name, uint256 current, uint256 proposed, uint256 maxStep) private pure {
        uint256 change = proposed > current ? proposed - current : current - proposed;
        require(change <= maxStep, ITidemarkEngine.PerpParameterStepTooLarge(name, current, proposed, maxStep));
    }

    function _bound(bytes32 name, uint256 value, uint256 min, uint256 max) private pure {
        require(value >= min && value <= max, ITidemarkEngine.PerpParameterOutOfBounds(name, value, min, max));
    }
}
