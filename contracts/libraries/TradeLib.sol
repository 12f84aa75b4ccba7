// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IInsuranceFund} from "../interfaces/IInsuranceFund.sol";
import {ILiquidityPool} from "../interfaces/ILiquidityPool.sol";
import {ITidemarkEngine} from "../interfaces/ITidemarkEngine.sol";
import {SequencerConfig} from "../oracle/OracleLib.sol";
import {MarketId} from "../types/MarketId.sol";
import {Market, Position, RiskContext, Settlement} from "../types/DataTypes.sol";
import {ConstantsLib} from "./ConstantsLib.sol";
import {FixedPointMathLib as FP} from "./FixedPointMathLib.sol";
import {FundingLib} from "./FundingLib.sol";
import {MarketLib} from "./MarketLib.sol";
import {PricingLib} from "./PricingLib.sol";
import {RiskLib} from "./RiskLib.sol";

/// @notice What a trade needs from the engine besides storage.
struct TradeEnv {
    address pool; // its capacity sets the open-interest caps
    IInsuranceFund insurance;
    uint256 scale; // 10 ** (18 - token decimals)
    bool globalPaused;
    address account; // the trader
    uint256 price; // execution price before impact (an order's Pyth price); 0: the market's Chainlink price
    uint256 referencePrice; // an order's Chainlink price, where the initial margin must hold too; 0: none
    bool reduceOnly; // an order that only reduces: it closes at most what is left and never opens the other side
}

/// @title TradeLib
/// @notice The trade path: open, increase, decrease, close. Input bounds, pause and oracle rules, funding settlement,
/// open-interest caps, price impact and slippage, taker fee, realised PnL, margin checks, position and market
/// bookkeeping, events. Token flows are returned for the engine to settle after every effect.
/// The trader is `env.account`: `msg.sender` for a direct trade, the order's account when the engine executes an order.
/// @dev A linked library: its external function runs in the engine's context (DELEGATECALL) on the engine's storage
/// and emits the engine's events. It keeps the engine under the contract size limit at
/// the cost of one DELEGATECALL per trade. The engine holds the reentrancy lock.
library TradeLib {
    using FP for uint256;

    /// @notice Opens, increases, decreases or closes `env.account`'s position on `market` (see
    /// ITidemarkEngine.modifyPosition and IOrders). Checks, then effects; returns the token flows for the engine to
    /// settle.
    function trade(
        Market storage m,
        mapping(address => Position) storage positions,
        mapping(address => uint256) storage freeBalances,
        SequencerConfig storage sequencer,
        TradeEnv memory env,
        MarketId market,
        int256 sizeDelta,
        int256 collateralDelta,
        uint256 acceptablePrice
    ) external returns (Settlement memory s) {
        address account = env.account;
        Position memory pos = positions[account];
        if (env.reduceOnly) sizeDelta = _reduceOnlyDelta(pos.size, sizeDelta, account, market);
        // Bound the inputs before any arithmetic on them: no valid trade moves more than the maximum size, or more
        // collateral than a position can hold.
        uint256 absDelta = FP.abs(sizeDelta);
        require(absDelta <= ConstantsLib.MAX_POSITION_SIZE, ITidemarkEngine.PerpPositionTooLarge(absDelta, ConstantsLib.MAX_POSITION_SIZE));
        require(
            collateralDelta >= -int256(uint256(type(uint128).max)),
            ITidemarkEngine.PerpInsufficientCollateral(pos.collateral, FP.abs(collateralDelta))
        );
        int256 size = pos.size;
        int256 newSize = size + sizeDelta;
        bool increasing = size == 0 || (size > 0) == (sizeDelta > 0);
        require(increasing || newSize == 0 || (newSize > 0) == (size > 0), ITidemarkEngine.PerpPositionFlip(size, sizeDelta));
        if (increasing) require(!m.paused && !env.globalPaused, ITidemarkEngine.PerpMarketPaused(market));

        // Decreasing and closing work in the sequencer grace period; opening and increasing need a settled price.
        uint256 price = env.price != 0 ? env.price : MarketLib.requirePrice(m, sequencer, market, !increasing);
        // Funding accrues before open interest changes, and the position settles what it owes (or is owed) now.
        int256 index = FundingLib.accrue(m, price);
        int256 funding = FundingLib.owed(size, index, pos.fundingIndex, RiskLib.WAD * env.scale);
        if (increasing) _requireOpenInterestCap(m, env, market, sizeDelta, price);
        int256 skew = int256(uint256(m.longOpenInterest)) - int256(uint256(m.shortOpenInterest));
        uint256 execPrice = PricingLib.fillPrice(price, skew, sizeDelta, m.exposure.impactSkewScale);
        require(
            sizeDelta > 0 ? execPrice <= acceptablePrice : execPrice >= acceptablePrice,
            ITidemarkEngine.PerpSlippage(execPrice, acceptablePrice)
        );

        // Taker fee is a charge: rounded up to token units in one step.
        uint256 fee = PricingLib.takerFee(absDelta, execPrice, m.params.takerFeeRate, env.scale);
        // Realised PnL on the closed part rounds down (towards -inf): never overpays the trader.
        int256 pnl = increasing ? int256(0) : FP.sDivDown(-sizeDelta * (int256(execPrice) - int256(uint256(pos.entryPrice))), RiskLib.WAD * env.scale);

        if (collateralDelta > 0) MarketLib.debitFree(freeBalances, account, uint256(collateralDelta));
        int256 collateral = int256(uint256(pos.collateral)) + pnl - int256(fee) - funding + collateralDelta;
        s.toPool = int256(fee) - pnl + funding;
        if (funding != 0) emit ITidemarkEngine.FundingSettled(account, market, funding);

        // The position before the trade, for the market aggregates (pos is updated in place below).
        (uint256 oldEntry, int256 oldIndex) = (pos.entryPrice, pos.fundingIndex);
        if (newSize == 0) {
            require(collateralDelta == 0, ITidemarkEngine.PerpCollateralDeltaOnClose(collateralDelta));
            if (collateral < 0) {
                MarketLib.coverShortfall(s, env.insurance, account, market, uint256(-collateral), 0);
                collateral = 0;
            }
            freeBalances[account] += uint256(collateral);
            MarketLib.removeAccount(m, positions, pos.index);
            delete positions[account];
            pos.size = 0;
            pos.collateral = 0;
            pos.entryPrice = 0;
        } else {
            require(collateral >= 0, ITidemarkEngine.PerpInsufficientMargin(account, market, collateral * int256(env.scale), 0));
            uint256 absNew = FP.abs(newSize);
            require(absNew <= ConstantsLib.MAX_POSITION_SIZE, ITidemarkEngine.PerpPositionTooLarge(absNew, ConstantsLib.MAX_POSITION_SIZE));
            // Minimum size check on notional rounded down: a borderline position is rejected.
            uint256 notional = absNew.mulWadDown(price);
            require(
                notional >= m.params.minPositionNotional, ITidemarkEngine.PerpPositionTooSmall(notional, m.params.minPositionNotional)
            );
            // The position before the trade, funding still pending; evaluated at `price` for the old and new sizes.
            RiskContext memory ctx =
                MarketLib.context(m, pos, env.scale, FP.max(FP.abs(size), absNew) * FP.max(price, env.referencePrice));
            pos.fundingIndex = int128(index);
            if (increasing) pos.entryPrice = uint96(_averageEntry(size, pos.entryPrice, sizeDelta, execPrice));
            pos.size = int128(newSize); // |newSize| <= MAX_POSITION_SIZE < 2**127
            pos.collateral = MarketLib.toUint128(uint256(collateral));
            if (increasing || collateralDelta < 0) {
                ctx.size = newSize;
                ctx.collateral = uint256(collateral);
                ctx.entryPrice = pos.entryPrice;
                ctx.fundingOwed = 0; // settled into the collateral above
                MarketLib.requireInitialMargin(account, market, ctx, price);
                // An order also meets initial margin at the Chainlink price liquidations use: the Pyth price may lie
                // up to maxDeviation away, more than the gap between initial and maintenance margin, and a position
                // must not be liquidatable (or bankrupt) the moment it opens.
                if (env.referencePrice != 0) MarketLib.requireInitialMargin(account, market, ctx, env.referencePrice);
            } else {
                _requireNotWorse(ctx, newSize, uint256(collateral), price);
            }
            if (size == 0) {
                m.accounts.push(account);
                pos.index = uint32(m.accounts.length); // fewer than 2**32 positions per market
            }
            positions[account] = pos;
        }
        if (collateralDelta < 0) freeBalances[account] += uint256(-collateralDelta);
        MarketLib.updateOpenInterest(m, size, oldEntry, oldIndex, newSize, pos.entryPrice, pos.fundingIndex);

        emit ITidemarkEngine.PositionModified(
            account,
            market,
            sizeDelta,
            collateralDelta,
            execPrice,
            fee,
            pnl,
            newSize,
            pos.collateral,
            pos.entryPrice,
            price,
            PricingLib.impactCost(sizeDelta, execPrice, price, env.scale)
        );
    }

    /// @dev A reduce-only order's size delta against the position as it is now: the position may have shrunk
    /// (partial liquidation) or gone since the request. Closes at most what is left; PerpNoPosition when nothing is.
    function _reduceOnlyDelta(int256 size, int256 sizeDelta, address account, MarketId market)
        private
        pure
        returns (int256)
    {
        require(size != 0 && (size > 0) != (sizeDelta > 0), ITidemarkEngine.PerpNoPosition(account, market));
        return FP.abs(sizeDelta) > FP.abs(size) ? -size : sizeDelta;
    }

    /// @dev Size-weighted entry price. Rounds against the trader: up for longs, down for shorts.
    function _averageEntry(int256 size, uint256 entry, int256 sizeDelta, uint256 price) private pure returns (uint256) {
        if (size == 0) return price;
        uint256 a = FP.abs(size);
        uint256 b = FP.abs(sizeDelta);
        uint256 cost = a * entry + b * price;
        return size > 0 ? FP.divUp(cost, a + b) : cost / (a + b);
    }

    /// @dev A decrease may leave a position liquidatable only if its health factor did not fall. `ctx` holds the
    /// position before the decrease (same entry price after it).
    function _requireNotWorse(RiskContext memory ctx, int256 newSize, uint256 newCollateral, uint256 price)
        private
        pure
    {
        (int256 e0, uint256 mm0) = RiskLib.health36(ctx, price);
        ctx.size = newSize;
        ctx.collateral = newCollateral;
        ctx.fundingOwed = 0; // settled into newCollateral
        (int256 e1, uint256 mm1) = RiskLib.health36(ctx, price);
        if (e1 >= int256(mm1)) return;
        uint256 hfBefore = RiskLib.healthFactor(e0, mm0);
        uint256 hfAfter = RiskLib.healthFactor(e1, mm1);
        require(hfAfter >= hfBefore, ITidemarkEngine.PerpHealthWorsened(hfBefore, hfAfter));
    }

    /// @dev Opening or increasing by `sizeDelta` may not take the side's open interest, at the execution price before
    /// impact, above its cap: the side's ratio times the pool's capacity (its liquid balance net of pending
    /// deposits, claimable redemptions and the share pending redemptions will take; ILiquidityPool.capacity).
    /// Notional rounds up and the cap down.
    function _requireOpenInterestCap(Market storage m, TradeEnv memory env, MarketId market, int256 sizeDelta, uint256 price)
        private
        view
    {
        bool isLong = sizeDelta > 0;
        uint256 sideInterest = (isLong ? m.longOpenInterest : m.shortOpenInterest) + FP.abs(sizeDelta);
        uint256 notional = sideInterest.mulWadUp(price);
        uint256 ratio = isLong ? m.exposure.maxLongOpenInterestRatio : m.exposure.maxShortOpenInterestRatio;
        uint256 cap = (ILiquidityPool(env.pool).capacity() * env.scale).mulWadDown(ratio);
        require(notional <= cap, ITidemarkEngine.PerpOpenInterestCapExceeded(market, isLong, notional, cap));
    }
}
