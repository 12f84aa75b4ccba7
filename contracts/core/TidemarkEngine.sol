// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IPyth} from "@pythnetwork/pyth-sdk-solidity/IPyth.sol";

import {IInsuranceFund} from "../interfaces/IInsuranceFund.sol";
import {ILiquidityPool} from "../interfaces/ILiquidityPool.sol";
import {IOrders} from "../interfaces/IOrders.sol";
import {ITidemarkEngine} from "../interfaces/ITidemarkEngine.sol";
import {ConfigLib} from "../libraries/ConfigLib.sol";
import {FixedPointMathLib as FP} from "../libraries/FixedPointMathLib.sol";
import {FundingLib} from "../libraries/FundingLib.sol";
import {TradeLib, TradeEnv} from "../libraries/TradeLib.sol";
import {LiquidationLib} from "../libraries/LiquidationLib.sol";
import {MarketLib} from "../libraries/MarketLib.sol";
import {OrderLib, OrderBook} from "../libraries/OrderLib.sol";
import {RiskLib} from "../libraries/RiskLib.sol";
import {OracleLib, OracleReading, SequencerConfig} from "../oracle/OracleLib.sol";
import {MarketId} from "../types/MarketId.sol";
import {
    Market,
    Tier,
    RiskParams,
    RiskContext,
    OracleConfig,
    OracleStatus,
    Order,
    OrderParams,
    Position,
    FundingParams,
    ExposureParams,
    Settlement
} from "../types/DataTypes.sol";

/// @title TidemarkEngine
/// @notice See ITidemarkEngine. Thin core: entry points, access control, reentrancy lock, token transfers and views.
/// The trade path is in TradeLib, liquidation in LiquidationLib, parameter rules in ConfigLib (all three linked
/// libraries running on the engine's storage), risk math in RiskLib, pricing in PricingLib, funding in FundingLib,
/// oracle rules in OracleLib, two-step orders in OrderLib (linked) and PythLib. Token flows with the pool and insurance
/// fund are netted per transaction and settled last.
contract TidemarkEngine is ITidemarkEngine, AccessControl, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;
    using FP for uint256;

    /// @notice Lists markets and sets every parameter. Held by the timelock in production.
    bytes32 public constant GOVERNOR_ROLE = keccak256("GOVERNOR_ROLE");
    /// @notice Pauses and unpauses opening and increasing. Cannot touch funds or parameters.
    bytes32 public constant GUARDIAN_ROLE = keccak256("GUARDIAN_ROLE");

    /// @dev Reserve factor at deployment: 20% of open entry notional stays in the pool.
    uint256 internal constant INITIAL_RESERVE_FACTOR = 0.2e18;

    IERC20 internal immutable _token;
    ILiquidityPool internal immutable _pool;
    IInsuranceFund internal immutable _insurance;
    /// @dev 10 ** (18 - token decimals): token units to WAD.
    uint256 internal immutable _scale;
    /// @dev Verifies the price updates orders and LP requests execute at.
    IPyth internal immutable _pyth;

    mapping(MarketId id => Market) internal _markets;
    MarketId[] internal _marketIds;
    mapping(MarketId id => mapping(address account => Position)) internal _positions;
    mapping(address account => uint256) internal _freeBalances;
    SequencerConfig internal _sequencer;
    /// @inheritdoc ITidemarkEngine
    uint256 public reserveFactor;
    /// @inheritdoc ITidemarkEngine
    bool public globalPaused;
    /// @dev Time of the last reserve factor change (0: none since deployment), for its cooldown (ConfigLib). Shares
    /// globalPaused's slot.
    uint32 internal _reserveFactorChangedAt;
    OrderBook internal _book;

    constructor(IERC20Metadata token, ILiquidityPool pool_, IInsuranceFund insurance_, IPyth pyth_, address admin) {
        require(admin != address(0) && address(pyth_) != address(0), PerpZeroAddress());
        uint8 decimals = token.decimals();
        require(decimals <= 18, PerpUnsupportedTokenDecimals(decimals));
        require(pool_.asset() == address(token), PerpAssetMismatch(address(pool_), pool_.asset()));
        require(insurance_.asset() == address(token), PerpAssetMismatch(address(insurance_), insurance_.asset()));
        _token = token;
        _pool = pool_;
        _insurance = insurance_;
        _scale = 10 ** (18 - decimals);
        _pyth = pyth_;
        reserveFactor = INITIAL_RESERVE_FACTOR;
        // Until governance tunes them: a price published at least 2 s after the request, at most 60 s old when used
        // and within 2% of Chainlink; expiry after 5 minutes; 0.50 USD to the executor.
        _book.params = OrderParams({minDelay: 2, maxDelay: 300, maxPriceAge: 60, maxDeviation: 0.02e18, executionFee: 0.5e18});
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
        MarketLib.debitFree(_freeBalances, msg.sender, amount);
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
        MarketLib.debitFree(_freeBalances, msg.sender, amount);
        uint256 newCollateral = pos.collateral + amount;
        pos.collateral = MarketLib.toUint128(newCollateral);
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
        RiskContext memory ctx = MarketLib.context(m, pos, _scale, FP.abs(pos.size) * price); // evaluated at price only
        ctx.collateral -= amount;
        MarketLib.requireInitialMargin(msg.sender, market, ctx, price);
        pos.collateral = uint128(ctx.collateral); // decreased from a uint128
        _freeBalances[msg.sender] += amount;
        emit CollateralModified(msg.sender, market, -int256(amount), ctx.collateral);
    }

    /// @dev Open, increase, decrease or close `msg.sender`'s position (TradeLib, linked), then settle token flows.
    function _trade(MarketId market, int256 sizeDelta, int256 collateralDelta, uint256 acceptablePrice) internal {
        Market storage m = _requireListed(market);
        TradeEnv memory env = TradeEnv(address(_pool), _insurance, _scale, globalPaused, msg.sender, 0, 0, false);
        _settle(
            TradeLib.trade(
                m, _positions[market], _freeBalances, _sequencer, env, market, sizeDelta, collateralDelta, acceptablePrice
            )
        );
    }

    /* ================================================================== orders */

    /// @inheritdoc IOrders
    function requestOrder(
        MarketId market,
        int256 sizeDelta,
        int256 collateralDelta,
        uint256 acceptablePrice,
        uint256 executionFee
    ) external nonReentrant returns (uint256) {
        return _request(market, sizeDelta, collateralDelta, acceptablePrice, executionFee, false);
    }

    /// @inheritdoc IOrders
    function requestClose(MarketId market, uint256 acceptablePrice, uint256 executionFee)
        external
        nonReentrant
        returns (uint256)
    {
        return _request(market, 0, 0, acceptablePrice, executionFee, true);
    }

    /// @inheritdoc IOrders
    function executeOrder(uint256 orderId, bytes[] calldata priceUpdate) external payable nonReentrant {
        OrderLib.execute(_book, _markets, _freeBalances, _sequencer, _pyth, orderId, priceUpdate, msg.value, globalPaused);
    }

    /// @inheritdoc IOrders
    function executeOrders(uint256[] calldata orderIds, bytes[][] calldata priceUpdates)
        external
        payable
        nonReentrant
        returns (uint256)
    {
        return OrderLib.executeBatch(
            _book, _markets, _freeBalances, _sequencer, _pyth, orderIds, priceUpdates, msg.value, globalPaused
        );
    }

    /// @inheritdoc IOrders
    function poolMarkToMarketAt(bytes[] calldata priceUpdate, uint256 earliest)
        external
        payable
        nonReentrant
        returns (int256)
    {
        require(msg.sender == address(_pool), OrderOnlyPool(msg.sender));
        return OrderLib.poolMarkToMarketAt(
            _book, _markets, _marketIds, _sequencer, _pyth, priceUpdate, earliest, msg.value, _scale
        );
    }

    /// @inheritdoc IOrders
    function cancelOrder(uint256 orderId) external nonReentrant {
        OrderLib.cancelExpired(_book, _freeBalances, orderId);
    }

    /// @inheritdoc IOrders
    function executeOrderCallback(uint256 orderId, uint256 price, uint256 referencePrice) external {
        require(msg.sender == address(this), OrderOnlySelf(msg.sender));
        Order memory o = _book.orders[orderId];
        // The escrowed collateral returns to the free balance, from which the trade moves it into the position.
        uint256 collateral = OrderLib.escrowedCollateral(o.collateralDelta);
        if (collateral != 0) _freeBalances[o.account] += collateral;
        TradeEnv memory env =
            TradeEnv(address(_pool), _insurance, _scale, globalPaused, o.account, price, referencePrice, o.reduceOnly);
        _settle(
            TradeLib.trade(
                _markets[o.market],
                _positions[o.market],
                _freeBalances,
                _sequencer,
                env,
                o.market,
                o.sizeDelta,
                o.collateralDelta,
                o.acceptablePrice
            )
        );
    }

    function _request(
        MarketId market,
        int256 sizeDelta,
        int256 collateralDelta,
        uint256 acceptablePrice,
        uint256 executionFee,
        bool close
    ) internal returns (uint256) {
        return OrderLib.request(
            _book,
            _markets[market],
            _positions[market],
            _freeBalances,
            market,
            sizeDelta,
            collateralDelta,
            acceptablePrice,
            executionFee,
            _scale,
            globalPaused,
            close
        );
    }

    /* ============================================================= liquidation */

    /// @inheritdoc ITidemarkEngine
    function liquidate(address account, MarketId market) external nonReentrant {
        Market storage m = _requireListed(market);
        uint256 price = _price(market, m, false);
        FundingLib.accrue(m, price);
        Settlement memory s;
        (s,) = _liquidate(s, account, market, m, price, true);
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
            if (price == 0) continue;
            bool done;
            (s, done) = _liquidate(s, accounts[i], id, _markets[id], price, false);
            if (done) ++liquidated;
        }
        require(liquidated != 0, PerpNothingLiquidated());
        _finishLiquidation(s);
    }

    /// @dev Liquidates one position into the running settlement (LiquidationLib, linked). With `strict`, reverts
    /// instead of skipping.
    function _liquidate(Settlement memory s, address account, MarketId market, Market storage m, uint256 price, bool strict)
        internal
        returns (Settlement memory, bool)
    {
        return LiquidationLib.liquidate(s, m, _positions[market], _freeBalances, _insurance, account, market, price, _scale, strict);
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
        _marketIds.push(market);
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
    function setExposureParams(MarketId market, ExposureParams calldata params) external onlyRole(GOVERNOR_ROLE) {
        ConfigLib.setExposureParams(_requireListed(market), market, params);
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
        ConfigLib.validateReserveFactor(reserveFactor, reserveFactor_, _reserveFactorChangedAt);
        require(reserveFactor_ != reserveFactor, PerpParameterUnchanged());
        reserveFactor = reserveFactor_;
        _reserveFactorChangedAt = uint32(block.timestamp);
        emit ReserveFactorSet(reserveFactor_);
    }

    /// @inheritdoc IOrders
    function setOrderParams(OrderParams calldata params) external onlyRole(GOVERNOR_ROLE) {
        OrderLib.setParams(_book, params);
    }

    /// @inheritdoc IOrders
    function setPythPriceId(MarketId market, bytes32 priceId) external onlyRole(GOVERNOR_ROLE) {
        Market storage m = _requireListed(market);
        require(priceId != 0, PerpZeroAmount());
        require(priceId != m.pythPriceId, PerpParameterUnchanged());
        m.pythPriceId = priceId;
        emit PythPriceIdSet(market, priceId);
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

    /// @inheritdoc IOrders
    function pyth() external view returns (address) {
        return address(_pyth);
    }

    /// @inheritdoc IOrders
    function pythPriceId(MarketId market) external view returns (bytes32) {
        return _markets[market].pythPriceId;
    }

    /// @inheritdoc IOrders
    function orderParams() external view returns (OrderParams memory) {
        return _book.params;
    }

    /// @inheritdoc IOrders
    function requiredExecutionFee() external view returns (uint256) {
        return OrderLib.executionFeeOf(_book.params, _scale);
    }

    /// @inheritdoc IOrders
    function getOrder(uint256 orderId) external view returns (Order memory) {
        return _book.orders[orderId];
    }

    /// @inheritdoc IOrders
    function pendingOrderId(address account, MarketId market) external view returns (uint256) {
        return _book.pending[market][account];
    }

    /// @inheritdoc IOrders
    function orderCount() external view returns (uint256) {
        return _book.count;
    }

    /// @inheritdoc IOrders
    function totalOrderEscrow() external view returns (uint256) {
        return _book.escrow;
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
    function exposureParams(MarketId market) external view returns (ExposureParams memory) {
        return _markets[market].exposure;
    }

    /// @inheritdoc ITidemarkEngine
    function listedMarkets() external view returns (MarketId[] memory) {
        return _marketIds;
    }

    /// @inheritdoc ITidemarkEngine
    function poolMarkToMarket() external view returns (int256 value, bool fresh) {
        // Mid-transaction the books are half settled (a trade's PnL is booked, its tokens not yet moved): a pool
        // deposit or withdrawal priced now, from a token's transfer hook, would trade against a wrong NAV.
        if (_reentrancyGuardEntered()) revert ReentrancyGuardReentrantCall();
        fresh = true;
        int256 total; // WAD^2 USD, exact
        uint256 n = _marketIds.length;
        for (uint256 i; i < n; ++i) {
            (int256 v, bool ok) = MarketLib.poolValue(_markets[_marketIds[i]], _sequencer);
            total += v;
            fresh = fresh && ok;
        }
        // NAV rounds down.
        value = FP.sDivDown(total, RiskLib.WAD * _scale);
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
    function totalOpenNotional() public view returns (uint256 total) {
        uint256 n = _marketIds.length;
        for (uint256 i; i < n; ++i) {
            total += MarketLib.openNotional(_markets[_marketIds[i]]);
        }
    }

    /// @inheritdoc IOrders
    function requiredPoolCapacity() external view returns (uint256) {
        return OrderLib.requiredPoolCapacity(_markets, _marketIds, _sequencer, _scale);
    }

    /// @inheritdoc ITidemarkEngine
    function reservedAssets() external view returns (uint256) {
        // Reserve is a requirement: rounded up, then up again to token units.
        return FP.divUp(totalOpenNotional().mulWadUp(reserveFactor), _scale);
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

    /// @dev With every tier: views evaluate the context at any price (liquidation price).
    function _context(Market storage m, Position memory pos) internal view returns (RiskContext memory) {
        return MarketLib.context(m, pos, _scale, type(uint256).max);
    }

    function _read(Market storage m) internal view returns (OracleReading memory) {
        return OracleLib.read(_oracleConfig(m), _sequencer);
    }

    /// @dev Fresh price or the specific oracle error. `allowGrace`: the sequencer grace period is acceptable.
    function _price(MarketId market, Market storage m, bool allowGrace) internal view returns (uint256) {
        return MarketLib.requirePrice(m, _sequencer, market, allowGrace);
    }

    function _oracleConfig(Market storage m) internal view returns (OracleConfig memory) {
        return ConfigLib.oracleConfigOf(m);
    }

    /// @dev Executes the netted flows: receive first, then pay.
    function _settle(Settlement memory s) internal {
        if (s.toInsurance < 0) _insurance.payEngine(uint256(-s.toInsurance));
        if (s.toPool < 0) _pool.payEngine(uint256(-s.toPool));
        if (s.toPool > 0) _token.safeTransfer(address(_pool), uint256(s.toPool));
        if (s.toInsurance > 0) _token.safeTransfer(address(_insurance), uint256(s.toInsurance));
    }
}
