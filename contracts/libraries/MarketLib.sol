// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IInsuranceFund} from "../interfaces/IInsuranceFund.sol";
import {ITidemarkEngine} from "../interfaces/ITidemarkEngine.sol";
import {MarketId} from "../types/MarketId.sol";
import {Market, OracleStatus, Position, RiskContext, Settlement, Tier} from "../types/DataTypes.sol";
import {OracleLib, OracleReading, SequencerConfig} from "../oracle/OracleLib.sol";
import {ConfigLib} from "./ConfigLib.sol";
import {ConstantsLib} from "./ConstantsLib.sol";
import {FixedPointMathLib as FP} from "./FixedPointMathLib.sol";
import {FundingLib} from "./FundingLib.sol";
import {PricingLib} from "./PricingLib.sol";
import {RiskLib} from "./RiskLib.sol";

/// @title MarketLib
/// @notice Rules and bookkeeping shared by the engine, TradeLib and LiquidationLib: the oracle requirement, the
/// initial-margin check, a position's risk context, the market's open interest and aggregates, the open-position
/// list, free balances and shortfall cover. Internal functions: each caller compiles in what it uses.
library MarketLib {
    using FP for uint256;

    uint256 internal constant WAD = 1e18;

    /// @notice A position with its market's tiers and parameters, and the funding it owes at the pending index
    /// (WAD, rounded up when owed, toward zero when received).
    /// @dev Loads only the tiers that apply to an exact notional (|size| * price, 1e36 scale) up to `n36Bound`: the
    /// first tier and every tier whose floor is below the bound (type(uint256).max: all). Margin requirements of any
    /// notional up to the bound are the same as with every tier (a requirement stops at the first floor at or above
    /// its notional), and each tier left out saves a cold storage read. A caller evaluates the context only at
    /// notionals up to the bound it passed.
    function context(Market storage m, Position memory pos, uint256 scale, uint256 n36Bound)
        internal
        view
        returns (RiskContext memory ctx)
    {
        ctx.size = pos.size;
        ctx.entryPrice = pos.entryPrice;
        ctx.collateral = pos.collateral;
        ctx.fundingOwed = FundingLib.owed(pos.size, FundingLib.pendingIndex(m), pos.fundingIndex, WAD);
        ctx.scale = scale;
        ctx.tiers = _tiersBelow(m.tiers, n36Bound);
        ctx.params = m.params;
    }

    /// @dev The first tier and every further tier whose floor (times WAD) is below `n36Bound`. Tiers are stored in
    /// increasing floor order (ConfigLib), so the first floor at or above the bound ends the list.
    function _tiersBelow(Tier[] storage tiers, uint256 n36Bound) private view returns (Tier[] memory out) {
        uint256 len = tiers.length;
        out = new Tier[](len);
        uint256 k;
        while (k < len) {
            Tier memory t = tiers[k];
            if (k != 0 && uint256(t.notionalFloor) * WAD >= n36Bound) break;
            out[k++] = t;
        }
        // Shorten the array in place (k <= len): a batch allocates one context per position, and memory is not
        // reclaimed within a transaction, so a second, exact-length copy would cost every further liquidation more.
        // One length store on an array allocated just above.
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            mstore(out, k)
        }
    }

    /// @notice Moves a position's contribution to the market's open interest and exact aggregates from
    /// (oldSize, oldEntry, oldIndex) to (newSize, newEntry, newIndex). A closed position contributes nothing.
    function updateOpenInterest(
        Market storage m,
        int256 oldSize,
        uint256 oldEntry,
        int256 oldIndex,
        int256 newSize,
        uint256 newEntry,
        int256 newIndex
    ) internal {
        uint256 absOld = FP.abs(oldSize);
        uint256 absNew = FP.abs(newSize);
        // |sizes| <= MAX_POSITION_SIZE, and a side's open interest is a sum of its positions' sizes.
        if (oldSize > 0 || newSize > 0) {
            m.longOpenInterest = uint128(m.longOpenInterest - absOld + absNew);
            m.longEntrySum = m.longEntrySum - absOld * oldEntry + absNew * newEntry;
        } else {
            m.shortOpenInterest = uint128(m.shortOpenInterest - absOld + absNew);
            m.shortEntrySum = m.shortEntrySum - absOld * oldEntry + absNew * newEntry;
        }
        m.sizeFundingSum += newSize * newIndex - oldSize * oldIndex;
    }

    /// @notice The market's open entry notional, sum of |size| * entryPrice over its positions, in WAD rounded up:
    /// the base of the pool reserve.
    function openNotional(Market storage m) internal view returns (uint256) {
        return FP.divUp(m.longEntrySum + m.shortEntrySum, WAD);
    }

    /// @notice Removes the position at list slot `index` (1-based) by moving the last one into it.
    function removeAccount(Market storage m, mapping(address => Position) storage positions, uint32 index) internal {
        uint256 last = m.accounts.length - 1;
        if (index - 1 != last) {
            address moved = m.accounts[last];
            m.accounts[index - 1] = moved;
            positions[moved].index = index;
        }
        m.accounts.pop();
    }

    /// @notice Covers a shortfall from the insurance fund first, then the pool, in the running settlement.
    function coverShortfall(
        Settlement memory s,
        IInsuranceFund insurance,
        address account,
        MarketId market,
        uint256 badDebt,
        uint256 keeperTopUp
    ) internal {
        if (!s.insuranceLoaded) {
            s.insuranceAvailable += insurance.balance();
            s.insuranceLoaded = true;
        }
        uint256 amount = badDebt + keeperTopUp;
        uint256 fromInsurance = FP.min(amount, s.insuranceAvailable);
        s.insuranceAvailable -= fromInsurance;
        s.toInsurance -= int256(fromInsurance);
        s.toPool -= int256(amount - fromInsurance);
        emit ITidemarkEngine.ShortfallCovered(account, market, badDebt, keeperTopUp, fromInsurance, amount - fromInsurance);
    }

    /// @notice The market's fresh oracle price, or the specific oracle error. `allowGrace`: a price inside the
    /// sequencer grace period is acceptable (decreasing and closing).
    function requirePrice(Market storage m, SequencerConfig storage sequencer, MarketId market, bool allowGrace)
        internal
        view
        returns (uint256)
    {
        OracleReading memory r = OracleLib.read(ConfigLib.oracleConfigOf(m), sequencer);
        OracleStatus st = r.status;
        if (st == OracleStatus.Ok || (allowGrace && st == OracleStatus.GracePeriod)) return r.price;
        if (st == OracleStatus.SequencerDown) revert ITidemarkEngine.OracleSequencerDown(market);
        if (st == OracleStatus.GracePeriod) {
            revert ITidemarkEngine.OracleGracePeriod(market, r.updatedAt + sequencer.gracePeriod);
        }
        if (st == OracleStatus.InvalidAnswer) revert ITidemarkEngine.OracleInvalidAnswer(market, r.answer);
        if (st == OracleStatus.Stale) revert ITidemarkEngine.OracleStale(market, r.updatedAt, m.heartbeat);
        revert ITidemarkEngine.OracleOutOfBounds(market, r.price, m.minPrice, m.maxPrice);
    }

    /// @notice Reverts with PerpInsufficientMargin unless the exact equity covers the initial margin at `price`.
    function requireInitialMargin(address account, MarketId market, RiskContext memory ctx, uint256 price)
        internal
        pure
    {
        int256 e36 = RiskLib.equity36(ctx, price);
        uint256 im36 = RiskLib.requirement36(ctx.tiers, FP.abs(ctx.size) * price, true);
        require(
            e36 >= int256(im36),
            ITidemarkEngine.PerpInsufficientMargin(
                account, market, FP.sDivDown(e36, RiskLib.WAD), FP.divUp(im36, RiskLib.WAD)
            )
        );
    }

    /// @notice Takes `amount` from the account's free balance, or reverts with PerpInsufficientFreeBalance.
    function debitFree(mapping(address => uint256) storage freeBalances, address account, uint256 amount) internal {
        uint256 balance = freeBalances[account];
        require(amount <= balance, ITidemarkEngine.PerpInsufficientFreeBalance(account, balance, amount));
        unchecked {
            freeBalances[account] = balance - amount; // checked just above
        }
    }

    /// @notice A collateral amount that must fit a position's uint128 field.
    function toUint128(uint256 x) internal pure returns (uint128) {
        require(x <= type(uint128).max, ITidemarkEngine.PerpParameterOutOfBounds("uint128", x, 0, type(uint128).max));
        return uint128(x);
    }

    /// @notice Marks the pool's book against one market's traders without enumerating positions. The market keeps exact
    /// aggregates (WAD^2) of |size| * entry price per side and size * funding index over open positions, so
    ///     traders' unrealised PnL = skew * price - (longEntrySum - shortEntrySum)
    ///     funding owed by traders  = skew * index - sizeFundingSum
    /// and the pool's claim is the funding owed minus the PnL, less the impact premium that unwinding the skew would
    /// pay back to traders (PricingLib.unwindPremium36): a premium a trade paid is not the pool's while it can flow
    /// back, so entering or leaving the pool around a trade gains nothing from it.
    /// Returns what the market's open positions owe the pool (positive) or the pool owes them (negative) at the current
    /// oracle price, in WAD^2 USD (exact), and whether the price was Ok. Without a usable answer the market is marked
    /// at its feed's last positive answer, else (no positive answer, or one above MAX_PRICE, where the products below
    /// could overflow) at the price of its last priced action. Zero without open interest.
    function poolValue(Market storage m, SequencerConfig storage sequencer)
        internal
        view
        returns (int256 value, bool fresh)
    {
        // No open positions: the aggregates are exactly zero and no oracle read is needed.
        if (m.longOpenInterest == 0 && m.shortOpenInterest == 0) return (0, true);
        uint256 price;
        (price, fresh) = markPrice(m, sequencer);
        value = poolValueAt(m, price);
    }

    /// @notice The price the pool marks a market at: its feed's latest answer whatever its status, or, without a usable
    /// one (no positive answer, or one above MAX_PRICE, where the pool's products could overflow), the price of its last
    /// priced action; and whether the reading was Ok.
    function markPrice(Market storage m, SequencerConfig storage sequencer)
        internal
        view
        returns (uint256 price, bool fresh)
    {
        OracleReading memory r = OracleLib.read(ConfigLib.oracleConfigOf(m), sequencer);
        price = r.price != 0 && r.price <= ConstantsLib.MAX_PRICE ? r.price : m.fundingPrice;
        fresh = r.status == OracleStatus.Ok;
    }

    /// @notice poolValue at a given price (at most ConstantsLib.MAX_PRICE times 1.1, the largest Pyth price an LP
    /// request can be fulfilled at), in WAD^2 USD, exact.
    function poolValueAt(Market storage m, uint256 price) internal view returns (int256) {
        int256 skew = int256(uint256(m.longOpenInterest)) - int256(uint256(m.shortOpenInterest));
        int256 entrySum = int256(m.longEntrySum) - int256(m.shortEntrySum);
        return entrySum - skew * int256(price) + skew * FundingLib.pendingIndex(m) - m.sizeFundingSum
            - int256(PricingLib.unwindPremium36(price, skew, m.exposure.impactSkewScale));
    }
}
