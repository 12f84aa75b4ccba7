// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import {IInsuranceFund} from "../interfaces/IInsuranceFund.sol";
import {ILiquidityPool} from "../interfaces/ILiquidityPool.sol";
import {ITidemarkEngine} from "../interfaces/ITidemarkEngine.sol";
import {ConfigLib} from "../libraries/ConfigLib.sol";
import {ConstantsLib} from "../libraries/ConstantsLib.sol";
import {FixedPointMathLib as FP} from "../libraries/FixedPointMathLib.sol";
import {FundingLib} from "../libraries/FundingLib.sol";
import {RiskLib, LiquidationPlan} from "../libraries/RiskLib.sol";
import {OracleLib, OracleReading, SequencerConfig} from "../oracle/OracleLib.sol";
import {MarketId} from "../types/MarketId.sol";
import {
    Market, Tier, RiskParams, RiskContext, OracleConfig, OracleStatus, Position, FundingParams
} from "../types/DataTypes.sol";

/// @title TidemarkEngine
/// @notice See ITidemarkEngine. Thin core: risk math in RiskLib, parameter rules in ConfigLib, oracle rules in
/// OracleLib. Token flows with the pool and insurance fund are netted per transaction and settled last.
contract TidemarkEngine is ITidemarkEngine, AccessControl, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;
    using FP for uint256;

    /// @notice Lists markets and sets every parameter. Held by the timelock in production.
    bytes32 public constant GOVERNOR_ROLE = keccak256("GOVERNOR_ROLE");
    /// @notice Pauses and unpauses opening and increasing. Cannot touch funds or parameters.
    bytes32 public constant GUARDIAN_ROLE = keccak256("GUARDIAN_ROLE");

    /// @dev Reserve factor at deployment: 20% of open entry notional stays in the pool.
    uint256 internal constant INITIAL_RESERVE_FACTOR = 0.2e18;

    /// @dev Token flows netted over one transaction. Positive: the engine pays; negative: the engine receives.
    struct Settlement {
        int256 toPool;
        int256 toInsurance;
        uint256 insuranceAvailable; // insurance balance as seen by this transaction (valid when loaded)
        bool insuranceLoaded;
        uint256 keeperReward;
    }

    IERC20 internal immutable _token;
    ILiquidityPool internal immutable _pool;
    IInsuranceFund internal immutable _insurance;
    /// @dev 10 ** (18 - token decimals): token units to WAD.
    uint256 internal immutable _scale;

    mapping(MarketId id => Market) internal _markets;
    mapping(MarketId id => mapping(address account => Position)) internal _positions;
    mapping(address account => uint256) internal _freeBalances;
    SequencerConfig internal _sequencer;
    uint256 public reserveFactor;
    uint256 public totalOpenNotional;
    bool public globalPaused;

    constructor(IERC20Metadata token, ILiquidityPool pool_, IInsuranceFund insurance_, address admin) {
        require(admin != address(0), PerpZeroAddress());
        uint8 decimals = token.decimals();
        require(decimals <= 18, PerpUnsupportedTokenDecimals(decimals));
        require(pool_.asset() == address(token), PerpAssetMismatch(address(pool_), pool_.asset()));
        require(insurance_.asset() == address(token), PerpAssetMismatch(address(insurance_), insurance_.asset()));
        _token = token;
        _pool = pool_;
        _insurance = insurance_;
        _scale = 10 ** (18 - decimals);
        reserveFactor = INITIAL_RESERVE_FACTOR;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    /* ================================================================ accounts */

    /// @inheritdoc ITidemarkEngine
    function deposit(uint256 amount) external nonReentrant {
        require(amount != 0, PerpZeroAmount());
        uint256 before = _token.balanceOf(address(this));
        _token.safeTransferFrom(msg.sender, address(this), amount);
        uint256 received = _token.balanceOf(address(this)) - before;
        require(received == amount, PerpTransferShortfall(amount, received));
        _freeBalances[msg.sender] += amount;
        emit Deposited(msg.sender, amount);
    }

    /// @inheritdoc ITidemarkEngine
    function withdraw(uint256 amount) external nonReentrant {
        require(amount != 0, PerpZeroAmount());
        _debitFree(msg.sender, amount);
        emit Withdrawn(msg.sender, amount);
        _token.safeTransfer(msg.sender, amount);
    }

    /* =============================================================== positions */

    /// @inheritdoc ITidemarkEngine
    function modifyPosition(MarketId market, int256 sizeDelta, int256 collateralDelta, uint256 acceptablePrice)
        external
        nonReentrant
    {
        require(sizeDelta != 0, PerpZeroAmount());
        _trade(market, sizeDelta, collateralDelta, acceptablePrice);
    }

    /// @inheritdoc ITidemarkEngine
    function closePosition(MarketId market, uint256 acceptablePrice) external nonReentrant {
        int256 size = _positions[market][msg.sender].size;
        require(size != 0, PerpNoPosition(msg.sender, market));
        _trade(market, -size, 0, acceptablePrice);
    }

    /// @inheritdoc ITidemarkEngine
    function addCollateral(MarketId market, uint256 amount) external nonReentrant {
        require(amount != 0, PerpZeroAmount());
        _requireListed(market);
        Position storage pos = _positions[market][msg.sender];
        require(pos.size != 0, PerpNoPosition(msg.sender, market));
        _debitFree(msg.sender, amount);
        uint256 newCollateral = pos.collateral + amount;
        pos.collateral = _toUint128(newCollateral);
        emit CollateralModified(msg.sender, market, int256(amount), newCollateral);
    }

    /// @inheritdoc ITidemarkEngine
    function removeCollateral(MarketId market, uint256 amount) external nonReentrant {
        require(amount != 0, PerpZeroAmount());
        Market storage m = _requireListed(market);
        Position storage pos = _positions[market][msg.sender];
        require(pos.size != 0, PerpNoPosition(msg.sender, market));
        require(amount <= pos.collateral, PerpInsufficientCollateral(pos.collateral, amount));
        uint256 price = _price(market, m, false);
        RiskContext memory ctx = _context(m, pos);
        ctx.collateral -= amount;
        _requireInitialMargin(msg.sender, market, ctx, price);
        pos.collateral = uint128(ctx.collateral); // decreased from a uint128
        _freeBalances[msg.sender] += amount;
        emit CollateralModified(msg.sender, market, -int256(amount), ctx.collateral);
    }

    /// @dev Open, increase, decrease or close `msg.sender`'s position. Checks, then effects, then token settlement.
    function _trade(MarketId market, int256 sizeDelta, int256 collateralDelta, uint256 acceptablePrice) internal {
        Market storage m = _requireListed(market);
        Position memory pos = _positions[market][msg.sender];
        // Bound the inputs before any arithmetic on them: no valid trade moves more than the maximum size, or more
        // collateral than a position can hold.
        uint256 absDelta = FP.abs(sizeDelta);
        require(absDelta <= ConstantsLib.MAX_POSITION_SIZE, PerpPositionTooLarge(absDelta, ConstantsLib.MAX_POSITION_SIZE));
        require(
            collateralDelta >= -int256(uint256(type(uint128).max)),
            PerpInsufficientCollateral(pos.collateral, FP.abs(collateralDelta))
        );
        int256 size = pos.size;
        int256 newSize = size + sizeDelta;
        bool increasing = size == 0 || (size > 0) == (sizeDelta > 0);
        require(increasing || newSize == 0 || (newSize > 0) == (size > 0), PerpPositionFlip(size, sizeDelta));
        if (increasing) require(!m.paused && !globalPaused, PerpMarketPaused(market));

        // Decreasing and closing work in the sequencer grace period; opening and increasing need a settled price.
        uint256 price = _price(market, m, !increasing);
        // Funding accrues before open interest changes, and the position settles what it owes (or is owed) now.
        int256 index = FundingLib.accrue(m, price);
        int256 funding = FundingLib.owed(size, index, pos.fundingIndex, RiskLib.WAD * _scale);
        uint256 execPrice = price; // price impact arrives with the market-dynamics issue
        require(
            sizeDelta > 0 ? execPrice <= acceptablePrice : execPrice >= acceptablePrice,
            PerpSlippage(execPrice, acceptablePrice)
        );

        // Taker fee is a charge: rounded up to token units in one step.
        uint256 fee = FP.divUp(absDelta * execPrice * m.params.takerFeeRate, RiskLib.WAD2 * _scale);
        // Realised PnL on the closed part rounds down (towards -inf): never overpays the trader.
        int256 pnl = increasing ? int256(0) : FP.sDivDown(-sizeDelta * (int256(execPrice) - int256(uint256(pos.entryPrice))), RiskLib.WAD * _scale);

        if (collateralDelta > 0) _debitFree(msg.sender, uint256(collateralDelta));
        int256 collateral = int256(uint256(pos.collateral)) + pnl - int256(fee) - funding + collateralDelta;
        Settlement memory s;
        s.toPool = int256(fee) - pnl + funding;
        if (funding != 0) emit FundingSettled(msg.sender, market, funding);

        uint256 oldContribution = FP.abs(size).mulWadUp(pos.entryPrice);
        if (newSize == 0) {
            require(collateralDelta == 0, PerpCollateralDeltaOnClose(collateralDelta));
            if (collateral < 0) {
                _coverShortfall(s, msg.sender, market, uint256(-collateral), 0);
                collateral = 0;
            }
            _freeBalances[msg.sender] += uint256(collateral);
            _removeAccount(m, market, pos.index);
            delete _positions[market][msg.sender];
            pos.size = 0;
            pos.collateral = 0;
            pos.entryPrice = 0;
        } else {
            require(collateral >= 0, PerpInsufficientMargin(msg.sender, market, collateral * int256(_scale), 0));
            uint256 absNew = FP.abs(newSize);
            require(absNew <= ConstantsLib.MAX_POSITION_SIZE, PerpPositionTooLarge(absNew, ConstantsLib.MAX_POSITION_SIZE));
            // Minimum size check on notional rounded down: a borderline position is rejected.
            uint256 notional = absNew.mulWadDown(price);
            require(
                notional >= m.params.minPositionNotional, PerpPositionTooSmall(notional, m.params.minPositionNotional)
            );
            RiskContext memory ctx = _context(m, pos); // the position before the trade, funding still pending
            pos.fundingIndex = int128(index);
            if (increasing) pos.entryPrice = uint96(_averageEntry(size, pos.entryPrice, sizeDelta, execPrice));
            pos.size = int128(newSize); // |newSize| <= MAX_POSITION_SIZE < 2**127
            pos.collateral = _toUint128(uint256(collateral));
            if (increasing || collateralDelta < 0) {
                ctx.size = newSize;
                ctx.collateral = uint256(collateral);
                ctx.entryPrice = pos.entryPrice;
                ctx.fundingOwed = 0; // settled into the collateral above
                _requireInitialMargin(msg.sender, market, ctx, price);
            } else {
                _requireNotWorse(ctx, newSize, uint256(collateral), price);
            }
            if (size == 0) {
                m.accounts.push(msg.sender);
                pos.index = uint32(m.accounts.length); // fewer than 2**32 positions per market
            }
            _positions[market][msg.sender] = pos;
        }
        if (collateralDelta < 0) _freeBalances[msg.sender] += uint256(-collateralDelta);
        _updateOpenInterest(m, size, newSize, oldContribution, FP.abs(newSize).mulWadUp(pos.entryPrice));

        emit PositionModified(
            msg.sender, market, sizeDelta, collateralDelta, execPrice, fee, pnl, newSize, pos.collateral, pos.entryPrice
        );
        _settle(s);
    }

    /// @dev Size-weighted entry price. Rounds against the trader: up for longs, down for shorts.
    function _averageEntry(int256 size, uint256 entry, int256 sizeDelta, uint256 price) internal pure returns (uint256) {
        if (size == 0) return price;
        uint256 a = FP.abs(size);
        uint256 b = FP.abs(sizeDelta);
        uint256 cost = a * entry + b * price;
        return size > 0 ? FP.divUp(cost, a + b) : cost / (a + b);
    }

    /// @dev A decrease may leave a position liquidatable only if its health factor did not fall. `ctx` holds the
    /// position before the decrease (same entry price after it).
    function _requireNotWorse(RiskContext memory ctx, int256 newSize, uint256 newCollateral, uint256 price)
        internal
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
        require(hfAfter >= hfBefore, PerpHealthWorsened(hfBefore, hfAfter));
    }

    function _requireInitialMargin(address account, MarketId market, RiskContext memory ctx, uint256 price)
        internal
        pure
    {
        int256 e36 = RiskLib.equity36(ctx, price);
        uint256 im36 = RiskLib.requirement36(ctx.tiers, FP.abs(ctx.size) * price, true);
        require(
            e36 >= int256(im36),
            PerpInsufficientMargin(account, market, FP.sDivDown(e36, RiskLib.WAD), FP.divUp(im36, RiskLib.WAD))
        );
    }

    /* ============================================================= liquidation */

    /// @inheritdoc ITidemarkEngine
    function liquidate(address account, MarketId market) external nonReentrant {
        Market storage m = _requireListed(market);
        uint256 price = _price(market, m, false);
        FundingLib.accrue(m, price);
        Settlement memory s;
        _liquidate(s, account, market, m, price, true);
        _finishLiquidation(s);
    }

    /// @inheritdoc ITidemarkEngine
    function liquidateBatch(address[] calldata accounts, MarketId[] calldata markets)
        external
        nonReentrant
        returns (uint256 liquidated)
    {
        uint256 n = accounts.length;
        require(n == markets.length, PerpLengthMismatch(n, markets.length));
        Settlement memory s;
        // One oracle read and one funding accrual per distinct market: price 0 marks a market that cannot be
        // liquidated now.
        MarketId[] memory seen = new MarketId[](n);
        uint256[] memory prices = new uint256[](n);
        uint256 seenCount;
        for (uint256 i; i < n; ++i) {
            MarketId id = markets[i];
            uint256 price;
            uint256 j;
            while (j < seenCount && !(seen[j] == id)) ++j;
            if (j < seenCount) {
                price = prices[j];
            } else {
                Market storage mk = _markets[id];
                if (mk.listed) {
                    OracleReading memory r = _read(mk);
                    if (r.status == OracleStatus.Ok) {
                        price = r.price;
                        FundingLib.accrue(mk, price);
                    }
                }
                seen[seenCount] = id;
                prices[seenCount++] = price;
            }
            if (price != 0 && _liquidate(s, accounts[i], id, _markets[id], price, false)) ++liquidated;
        }
        require(liquidated != 0, PerpNothingLiquidated());
        _finishLiquidation(s);
    }

    /// @dev Liquidates one position into the running settlement. With `strict`, reverts instead of skipping.
    function _liquidate(Settlement memory s, address account, MarketId market, Market storage m, uint256 price, bool strict)
        internal
        returns (bool)
    {
        Position memory pos = _positions[market][account];
        if (pos.size == 0) {
            require(!strict, PerpNoPosition(account, market));
            return false;
        }
        // The caller accrued funding on this market at `price` in this transaction.
        RiskContext memory ctx = _context(m, pos);
        (int256 e36, uint256 mm36) = RiskLib.health36(ctx, price);
        if (e36 >= int256(mm36)) {
            require(!strict, PerpPositionHealthy(account, market, RiskLib.healthFactor(e36, mm36)));
            return false;
        }
        LiquidationPlan memory plan = RiskLib.planLiquidation(ctx, price);
        uint256 oldContribution = FP.abs(pos.size).mulWadUp(pos.entryPrice);
        int256 newSize;
        uint256 returned;
        // Everything the position had that does not go to trader, keeper or insurance settles with the pool:
        // realised PnL and funding.
        s.toPool += int256(uint256(pos.collateral)) - plan.remainingCollateral;
        if (plan.full) {
            returned = _settleFullLiquidation(s, plan, account, market);
            _removeAccount(m, market, pos.index);
            delete _positions[market][account];
        } else {
            // The plan guarantees the remainder's collateral is non-negative and its health >= target.
            newSize = pos.size > 0 ? pos.size - int256(plan.closeSize) : pos.size + int256(plan.closeSize);
            Position storage ps = _positions[market][account];
            ps.size = int128(newSize); // |newSize| < |size|
            ps.collateral = uint128(uint256(plan.remainingCollateral) - plan.keeperReward - plan.penalty);
            ps.fundingIndex = m.fundingIndex; // funding settled by the plan, at the index accrued by the caller
        }
        s.toInsurance += int256(plan.penalty);
        s.insuranceAvailable += plan.penalty;
        s.keeperReward += plan.keeperReward;
        _updateOpenInterest(m, pos.size, newSize, oldContribution, FP.abs(newSize).mulWadUp(pos.entryPrice));
        emit PositionLiquidated(
            account,
            market,
            msg.sender,
            plan.closeSize,
            price,
            plan.realizedPnl,
            plan.keeperReward,
            plan.penalty,
            newSize,
            returned
        );
        return true;
    }

    /// @dev Distributes a fully closed position's value: keeper reward first, then penalty (capped by what is left),
    /// the rest to the trader. Bad debt and an unpaid minimum reward are covered by insurance, then the pool.
    /// Caps `plan.penalty` at what was paid. Returns what the trader gets back.
    function _settleFullLiquidation(Settlement memory s, LiquidationPlan memory plan, address account, MarketId market)
        internal
        returns (uint256 left)
    {
        int256 value = plan.remainingCollateral;
        uint256 badDebt = value < 0 ? uint256(-value) : 0;
        left = value < 0 ? 0 : uint256(value);
        uint256 paid = FP.min(plan.keeperReward, left);
        left -= paid;
        plan.penalty = FP.min(plan.penalty, left);
        left -= plan.penalty;
        if (badDebt != 0 || paid < plan.keeperReward) {
            _coverShortfall(s, account, market, badDebt, plan.keeperReward - paid);
        }
        _freeBalances[account] += left;
    }

    function _finishLiquidation(Settlement memory s) internal {
        _freeBalances[msg.sender] += s.keeperReward;
        _settle(s);
    }

    /* ============================================================== governance */

    /// @inheritdoc ITidemarkEngine
    function listMarket(MarketId market, OracleConfig calldata oracle, RiskParams calldata params, Tier[] calldata tiers)
        external
        onlyRole(GOVERNOR_ROLE)
    {
        ConfigLib.listMarket(_markets[market], market, oracle, params, tiers);
    }

    /// @inheritdoc ITidemarkEngine
    function setMarginTiers(MarketId market, Tier[] calldata tiers) external onlyRole(GOVERNOR_ROLE) {
        ConfigLib.setMarginTiers(_requireListed(market), market, tiers);
    }

    /// @inheritdoc ITidemarkEngine
    function setRiskParams(MarketId market, RiskParams calldata params) external onlyRole(GOVERNOR_ROLE) {
        ConfigLib.setRiskParams(_requireListed(market), market, params);
    }

    /// @inheritdoc ITidemarkEngine
    function setOracleConfig(MarketId market, OracleConfig calldata oracle) external onlyRole(GOVERNOR_ROLE) {
        ConfigLib.setOracleConfig(_requireListed(market), market, oracle);
    }

    /// @inheritdoc ITidemarkEngine
    function setFundingParams(MarketId market, FundingParams calldata params) external onlyRole(GOVERNOR_ROLE) {
        ConfigLib.setFundingParams(_requireListed(market), market, params);
    }

    /// @inheritdoc ITidemarkEngine
    function setSequencerConfig(address feed, uint32 gracePeriod) external onlyRole(GOVERNOR_ROLE) {
        ConfigLib.validateGracePeriod(gracePeriod);
        require(feed != _sequencer.feed || gracePeriod != _sequencer.gracePeriod, PerpParameterUnchanged());
        _sequencer = SequencerConfig(feed, gracePeriod);
        emit SequencerConfigSet(feed, gracePeriod);
    }

    /// @inheritdoc ITidemarkEngine
    function setReserveFactor(uint256 reserveFactor_) external onlyRole(GOVERNOR_ROLE) {
        ConfigLib.validateReserveFactor(reserveFactor_);
        require(reserveFactor_ != reserveFactor, PerpParameterUnchanged());
        reserveFactor = reserveFactor_;
        emit ReserveFactorSet(reserveFactor_);
    }

    /// @inheritdoc ITidemarkEngine
    function setMarketPaused(MarketId market, bool paused) external onlyRole(GUARDIAN_ROLE) {
        Market storage m = _requireListed(market);
        require(m.paused != paused, PerpParameterUnchanged());
        m.paused = paused;
        emit MarketPausedSet(market, paused);
    }

    /// @inheritdoc ITidemarkEngine
    function setGlobalPaused(bool paused) external onlyRole(GUARDIAN_ROLE) {
        require(globalPaused != paused, PerpParameterUnchanged());
        globalPaused = paused;
        emit GlobalPausedSet(paused);
    }

    /* =================================================================== views */

    /// @inheritdoc ITidemarkEngine
    function collateralToken() external view returns (address) {
        return address(_token);
    }

    /// @inheritdoc ITidemarkEngine
    function pool() external view returns (address) {
        return address(_pool);
    }

    /// @inheritdoc ITidemarkEngine
    function insuranceFund() external view returns (address) {
        return address(_insurance);
    }

    /// @inheritdoc ITidemarkEngine
    function freeBalance(address account) external view returns (uint256) {
        return _freeBalances[account];
    }

    /// @inheritdoc ITidemarkEngine
    function getPosition(address account, MarketId market) external view returns (Position memory) {
        return _positions[market][account];
    }

    /// @inheritdoc ITidemarkEngine
    function marginTiers(MarketId market) external view returns (Tier[] memory) {
        return _markets[market].tiers;
    }

    /// @inheritdoc ITidemarkEngine
    function riskParams(MarketId market) external view returns (RiskParams memory) {
        return _markets[market].params;
    }

    /// @inheritdoc ITidemarkEngine
    function oracleConfig(MarketId market) external view returns (OracleConfig memory) {
        return _oracleConfig(_markets[market]);
    }

    /// @inheritdoc ITidemarkEngine
    function fundingParams(MarketId market) external view returns (FundingParams memory) {
        return _markets[market].funding;
    }

    /// @inheritdoc ITidemarkEngine
    function fundingState(MarketId market) external view returns (int256 index, int256 ratePerDay, uint256 price) {
        Market storage m = _requireListed(market);
        return (FundingLib.pendingIndex(m), FundingLib.ratePerDay(m), m.fundingPrice);
    }

    /// @inheritdoc ITidemarkEngine
    function sequencerConfig() external view returns (SequencerConfig memory) {
        return _sequencer;
    }

    /// @inheritdoc ITidemarkEngine
    function isListed(MarketId market) external view returns (bool) {
        return _markets[market].listed;
    }

    /// @inheritdoc ITidemarkEngine
    function isMarketPaused(MarketId market) external view returns (bool) {
        return _markets[market].paused;
    }

    /// @inheritdoc ITidemarkEngine
    function openInterest(MarketId market) external view returns (uint256 long, uint256 short) {
        Market storage m = _markets[market];
        return (m.longOpenInterest, m.shortOpenInterest);
    }

    /// @inheritdoc ITidemarkEngine
    function openPositionCount(MarketId market) external view returns (uint256) {
        return _markets[market].accounts.length;
    }

    /// @inheritdoc ITidemarkEngine
    function openPositionAt(MarketId market, uint256 index) external view returns (address) {
        return _markets[market].accounts[index];
    }

    /// @inheritdoc ITidemarkEngine
    function reservedAssets() external view returns (uint256) {
        // Reserve is a requirement: rounded up, then up again to token units.
        return FP.divUp(totalOpenNotional.mulWadUp(reserveFactor), _scale);
    }

    /// @inheritdoc ITidemarkEngine
    function oracleStatus(MarketId market) external view returns (OracleStatus status, uint256 price) {
        OracleReading memory r = _read(_requireListed(market));
        return (r.status, r.price);
    }

    /// @inheritdoc ITidemarkEngine
    function riskContext(address account, MarketId market) external view returns (RiskContext memory) {
        return _context(_requireListed(market), _positions[market][account]);
    }

    /// @inheritdoc ITidemarkEngine
    function isLiquidatable(address account, MarketId market) external view returns (bool) {
        Market storage m = _requireListed(market);
        OracleReading memory r = _read(m);
        Position memory pos = _positions[market][account];
        if (r.status != OracleStatus.Ok || pos.size == 0) return false;
        return RiskLib.isLiquidatable(_context(m, pos), r.price);
    }

    /* ================================================================ internal */

    function _requireListed(MarketId market) internal view returns (Market storage m) {
        m = _markets[market];
        require(m.listed, PerpUnknownMarket(market));
    }

    function _debitFree(address account, uint256 amount) internal {
        uint256 balance = _freeBalances[account];
        require(amount <= balance, PerpInsufficientFreeBalance(account, balance, amount));
        unchecked {
            _freeBalances[account] = balance - amount; // checked just above
        }
    }

    function _context(Market storage m, Position memory pos) internal view returns (RiskContext memory ctx) {
        ctx.size = pos.size;
        ctx.entryPrice = pos.entryPrice;
        ctx.collateral = pos.collateral;
        // Owed funding in WAD, rounded up when owed (toward zero when received).
        ctx.fundingOwed = FundingLib.owed(pos.size, FundingLib.pendingIndex(m), pos.fundingIndex, RiskLib.WAD);
        ctx.scale = _scale;
        ctx.tiers = m.tiers;
        ctx.params = m.params;
    }

    function _read(Market storage m) internal view returns (OracleReading memory) {
        return OracleLib.read(_oracleConfig(m), _sequencer);
    }

    /// @dev Fresh price or the specific oracle error. `allowGrace`: the sequencer grace period is acceptable.
    function _price(MarketId market, Market storage m, bool allowGrace) internal view returns (uint256) {
        OracleReading memory r = _read(m);
        OracleStatus st = r.status;
        if (st == OracleStatus.Ok || (allowGrace && st == OracleStatus.GracePeriod)) return r.price;
        if (st == OracleStatus.SequencerDown) revert OracleSequencerDown(market);
        if (st == OracleStatus.GracePeriod) revert OracleGracePeriod(market, r.updatedAt + _sequencer.gracePeriod);
        if (st == OracleStatus.InvalidAnswer) revert OracleInvalidAnswer(market, r.answer);
        if (st == OracleStatus.Stale) revert OracleStale(market, r.updatedAt, m.heartbeat);
        revert OracleOutOfBounds(market, r.price, m.minPrice, m.maxPrice);
    }

    function _oracleConfig(Market storage m) internal view returns (OracleConfig memory) {
        return ConfigLib.oracleConfigOf(m);
    }

    function _updateOpenInterest(Market storage m, int256 oldSize, int256 newSize, uint256 oldContribution, uint256 newContribution)
        internal
    {
        if (oldSize > 0 || newSize > 0) {
            m.longOpenInterest = uint128(m.longOpenInterest - FP.abs(oldSize) + FP.abs(newSize));
        } else {
            m.shortOpenInterest = uint128(m.shortOpenInterest - FP.abs(oldSize) + FP.abs(newSize));
        }
        totalOpenNotional = totalOpenNotional - oldContribution + newContribution;
    }

    function _removeAccount(Market storage m, MarketId market, uint32 index) internal {
        uint256 last = m.accounts.length - 1;
        if (index - 1 != last) {
            address moved = m.accounts[last];
            m.accounts[index - 1] = moved;
            _positions[market][moved].index = index;
        }
        m.accounts.pop();
    }

    /// @dev Covers a shortfall from the insurance fund first, then the pool, in the running settlement.
    function _coverShortfall(Settlement memory s, address account, MarketId market, uint256 badDebt, uint256 keeperTopUp)
        internal
    {
        if (!s.insuranceLoaded) {
            s.insuranceAvailable += _insurance.balance();
            s.insuranceLoaded = true;
        }
        uint256 amount = badDebt + keeperTopUp;
        uint256 fromInsurance = FP.min(amount, s.insuranceAvailable);
        s.insuranceAvailable -= fromInsurance;
        s.toInsurance -= int256(fromInsurance);
        s.toPool -= int256(amount - fromInsurance);
        emit ShortfallCovered(account, market, badDebt, keeperTopUp, fromInsurance, amount - fromInsurance);
    }

    /// @dev Executes the netted flows: receive first, then pay.
    function _settle(Settlement memory s) internal {
        if (s.toInsurance < 0) _insurance.payEngine(uint256(-s.toInsurance));
        if (s.toPool < 0) _pool.payEngine(uint256(-s.toPool));
        if (s.toPool > 0) _token.safeTransfer(address(_pool), uint256(s.toPool));
        if (s.toInsurance > 0) _token.safeTransfer(address(_insurance), uint256(s.toInsurance));
    }

    function _toUint128(uint256 x) internal pure returns (uint128) {
        require(x <= type(uint128).max, PerpParameterOutOfBounds("uint128", x, 0, type(uint128).max));
        return uint128(x);
    }
}
