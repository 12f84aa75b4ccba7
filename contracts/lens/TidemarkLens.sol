// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ITidemarkEngine} from "../interfaces/ITidemarkEngine.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";

import {ITidemarkLens, PositionKey, TradeQuote} from "../interfaces/ITidemarkLens.sol";
import {ConstantsLib} from "../libraries/ConstantsLib.sol";
import {FixedPointMathLib as FP} from "../libraries/FixedPointMathLib.sol";
import {PricingLib} from "../libraries/PricingLib.sol";
import {RiskLib} from "../libraries/RiskLib.sol";
import {MarketId} from "../types/MarketId.sol";
import {OracleStatus, PositionHealth, RiskContext} from "../types/DataTypes.sol";

/// @title TidemarkLens
/// @notice See ITidemarkLens. Stateless; deploy one per engine.
contract TidemarkLens is ITidemarkLens {
    ITidemarkEngine internal immutable _engine;

    constructor(ITidemarkEngine engine_) {
        _engine = engine_;
    }

    /// @inheritdoc ITidemarkLens
    function engine() external view returns (address) {
        return address(_engine);
    }

    /// @inheritdoc ITidemarkLens
    function positionHealth(address account, MarketId market) public view returns (PositionHealth memory h) {
        (OracleStatus status, uint256 price) = _engine.oracleStatus(market);
        require(_usable(price), LensNoPrice(market));
        h = _health(_engine.riskContext(account, market), price);
        h.oracleStatus = status;
    }

    /// @inheritdoc ITidemarkLens
    function quoteTrade(MarketId market, int256 sizeDelta) external view returns (TradeQuote memory q) {
        (, uint256 price) = _engine.oracleStatus(market);
        require(_usable(price), LensNoPrice(market));
        (uint256 long, uint256 short) = _engine.openInterest(market);
        uint256 skewScale = _engine.exposureParams(market).impactSkewScale;
        uint256 scale = 10 ** (18 - IERC20Metadata(_engine.collateralToken()).decimals());
        q.oraclePrice = price;
        // The engine's own functions (TradeLib calls the same three).
        q.fillPrice = PricingLib.fillPrice(price, int256(long) - int256(short), sizeDelta, skewScale);
        q.priceImpact = PricingLib.impactCost(sizeDelta, q.fillPrice, price, scale);
        q.fee = PricingLib.takerFee(FP.abs(sizeDelta), q.fillPrice, _engine.riskParams(market).takerFeeRate, scale);
    }

    /// @inheritdoc ITidemarkLens
    function positionHealthAt(address account, MarketId market, uint256 price)
        external
        view
        returns (PositionHealth memory)
    {
        return _health(_engine.riskContext(account, market), price);
    }

    /// @inheritdoc ITidemarkLens
    function healthBatch(PositionKey[] calldata keys) external view returns (PositionHealth[] memory out) {
        uint256 n = keys.length;
        out = new PositionHealth[](n);
        MarketId[] memory seen = new MarketId[](n);
        uint256[] memory prices = new uint256[](n);
        OracleStatus[] memory statuses = new OracleStatus[](n);
        uint256 seenCount;
        for (uint256 i; i < n; ++i) {
            MarketId id = keys[i].market;
            uint256 j;
            while (j < seenCount && !(seen[j] == id)) ++j;
            if (j == seenCount) {
                (statuses[j], prices[j]) = _engine.oracleStatus(id);
                seen[j] = id;
                ++seenCount;
            }
            RiskContext memory ctx = _engine.riskContext(keys[i].account, id);
            if (_usable(prices[j])) {
                out[i] = _health(ctx, prices[j]);
            } else {
                out[i].size = ctx.size;
                out[i].entryPrice = ctx.entryPrice;
                out[i].collateral = ctx.collateral * ctx.scale;
                out[i].liquidationPrice = RiskLib.liquidationPrice(ctx);
            }
            out[i].oracleStatus = statuses[j];
        }
    }

    /// @inheritdoc ITidemarkLens
    function openPositions(MarketId market, uint256 offset, uint256 limit)
        external
        view
        returns (address[] memory accounts, uint256 total)
    {
        total = _engine.openPositionCount(market);
        // Written so that any offset and limit (type(uint256).max included) is valid: no overflow.
        uint256 count = offset >= total ? 0 : (limit < total - offset ? limit : total - offset);
        accounts = new address[](count);
        for (uint256 i; i < count; ++i) {
            accounts[i] = _engine.openPositionAt(market, offset + i);
        }
    }

    /// @inheritdoc ITidemarkLens
    function equity(address account, MarketId market) external view returns (int256) {
        return positionHealth(account, market).equity;
    }

    /// @inheritdoc ITidemarkLens
    function maintenanceMargin(address account, MarketId market) external view returns (uint256) {
        return positionHealth(account, market).maintenanceMargin;
    }

    /// @inheritdoc ITidemarkLens
    function initialMargin(address account, MarketId market) external view returns (uint256) {
        return positionHealth(account, market).initialMargin;
    }

    /// @inheritdoc ITidemarkLens
    function healthFactor(address account, MarketId market) external view returns (uint256) {
        return positionHealth(account, market).healthFactor;
    }

    /// @inheritdoc ITidemarkLens
    function liquidationPrice(address account, MarketId market) external view returns (uint256) {
        return RiskLib.liquidationPrice(_engine.riskContext(account, market));
    }

    /// @dev A price the risk math can evaluate at: positive and at most MAX_PRICE, the highest any market accepts (the
    /// bound that keeps RiskLib's products below 2**256). An answer above it is out of bounds on every market; reported
    /// like a missing price rather than overflowing.
    function _usable(uint256 price) internal pure returns (bool) {
        return price != 0 && price <= ConstantsLib.MAX_PRICE;
    }

    /// @dev Every field from RiskLib's exact 1e36 quantities, rounded for display in the protocol's favour.
    function _health(RiskContext memory ctx, uint256 price) internal pure returns (PositionHealth memory h) {
        uint256 n36 = FP.abs(ctx.size) * price;
        (int256 e36, uint256 mm36) = RiskLib.health36(ctx, price);
        h.size = ctx.size;
        h.entryPrice = ctx.entryPrice;
        h.collateral = ctx.collateral * ctx.scale;
        h.price = price;
        h.notional = FP.divUp(n36, RiskLib.WAD);
        h.pnl = FP.sDivDown(ctx.size * (int256(price) - int256(ctx.entryPrice)), RiskLib.WAD);
        h.fundingOwed = ctx.fundingOwed;
        h.closingFee = FP.divUp(RiskLib.closingFee36(ctx, n36), RiskLib.WAD);
        h.equity = FP.sDivDown(e36, RiskLib.WAD);
        h.maintenanceMargin = FP.divUp(mm36, RiskLib.WAD);
        h.initialMargin = FP.divUp(RiskLib.requirement36(ctx.tiers, n36, true), RiskLib.WAD);
        h.healthFactor = RiskLib.healthFactor(e36, mm36);
        h.liquidationPrice = RiskLib.liquidationPrice(ctx);
        h.liquidatable = e36 < int256(mm36);
    }
}
