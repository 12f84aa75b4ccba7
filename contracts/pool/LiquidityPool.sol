// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC4626} from "@openzeppelin/contracts/token/ERC20/extensions/ERC4626.sol";
import {IERC4626} from "@openzeppelin/contracts/interfaces/IERC4626.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Address} from "@openzeppelin/contracts/utils/Address.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IPyth} from "@pythnetwork/pyth-sdk-solidity/IPyth.sol";

import {IERC7540Deposit, IERC7540Operator, IERC7540Redeem} from "../interfaces/IERC7540.sol";
import {ILiquidityPool} from "../interfaces/ILiquidityPool.sol";
import {ITidemarkEngine} from "../interfaces/ITidemarkEngine.sol";
import {OrderParams} from "../types/DataTypes.sol";
import {EngineBound} from "./EngineBound.sol";

/// @title LiquidityPool
/// @notice ERC-4626 vault over the collateral token with ERC-7540 asynchronous deposits and redemptions; see
/// ILiquidityPool. Net asset value (totalAssets) is the liquid balance plus the engine's mark to market of open
/// positions (funding owed to the pool minus traders' unrealised PnL), so shares price in settlements that have not
/// happened yet; requests are fulfilled at that NAV taken at Pyth prices published after them.
/// @dev Fulfilled deposits mint their shares to the pool, which hands them out on claim; redemption requests move
/// their shares to the pool, which burns them on fulfilment. So totalSupply always counts every share whose assets
/// are in NAV.
/// First-depositor inflation attack: OpenZeppelin's virtual shares and assets with a decimals offset of 6 (the same
/// formula at fulfilment), so an attacker must donate about 1e6 times the victim's deposit to round it to zero shares.
contract LiquidityPool is ILiquidityPool, ERC4626, EngineBound, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @dev Virtual share decimals added on top of the asset's (inflation-attack protection).
    uint8 internal constant DECIMALS_OFFSET = 6;
    /// @dev The aggregated request id of ERC-7540: one request per controller and direction.
    uint256 internal constant REQUEST_ID = 0;

    mapping(address controller => Request) internal _depositRequests;
    mapping(address controller => Request) internal _redeemRequests;
    mapping(address controller => Claimable) internal _claimableDeposits;
    mapping(address controller => Claimable) internal _claimableRedeems;
    mapping(address controller => mapping(address operator => bool)) internal _operators;
    uint128 internal _pendingDepositAssets;
    /// @dev Shares a slot with _pendingDepositAssets: both are read on every NAV and capacity read.
    uint128 internal _claimableRedeemAssets;
    /// @inheritdoc ILiquidityPool
    uint256 public totalPendingRedeemShares;

    constructor(IERC20 asset_, string memory name_, string memory symbol_) ERC4626(asset_) ERC20(name_, symbol_) {}

    /* ================================================================ requests */

    /// @inheritdoc IERC7540Deposit
    function requestDeposit(uint256 assets, address controller, address owner) external nonReentrant returns (uint256) {
        _requireAuthorized(owner);
        require(assets != 0, VaultZeroAmount());
        // A zero controller could never claim or cancel.
        require(controller != address(0), VaultNotAuthorized(msg.sender, controller));
        require(_depositRequests[controller].amount == 0, VaultRequestPending(controller));
        uint256 fee = _engine().requiredExecutionFee();
        require(assets > fee, VaultRequestTooSmall(assets, fee));
        IERC20 token = IERC20(asset());
        uint256 before = token.balanceOf(address(this));
        token.safeTransferFrom(owner, address(this), assets);
        uint256 held = token.balanceOf(address(this));
        uint256 received = held > before ? held - before : 0;
        require(received == assets, VaultTransferShortfall(assets, received));
        _depositRequests[controller] = Request(SafeCast.toUint128(assets), uint96(fee), uint32(block.timestamp));
        _pendingDepositAssets = SafeCast.toUint128(_pendingDepositAssets + assets);
        emit DepositRequest(controller, owner, REQUEST_ID, msg.sender, assets);
        return REQUEST_ID;
    }

    /// @inheritdoc IERC7540Redeem
    /// @dev An owner's shares may also be requested by anyone holding an ERC-20 allowance for them.
    function requestRedeem(uint256 shares, address controller, address owner) external nonReentrant returns (uint256) {
        require(shares != 0, VaultZeroAmount());
        require(controller != address(0), VaultNotAuthorized(msg.sender, controller));
        if (msg.sender != owner && !_operators[owner][msg.sender]) _spendAllowance(owner, msg.sender, shares);
        require(_redeemRequests[controller].amount == 0, VaultRequestPending(controller));
        uint256 fee = _engine().requiredExecutionFee();
        _transfer(owner, address(this), shares);
        _redeemRequests[controller] = Request(SafeCast.toUint128(shares), uint96(fee), uint32(block.timestamp));
        totalPendingRedeemShares += shares;
        emit RedeemRequest(controller, owner, REQUEST_ID, msg.sender, shares);
        return REQUEST_ID;
    }

    /// @inheritdoc ILiquidityPool
    function fulfillDeposit(address controller, bytes[] calldata priceUpdate)
        external
        payable
        nonReentrant
        returns (uint256 shares)
    {
        (shares,) = _fulfillDeposit(controller, priceUpdate, msg.value);
    }

    /// @inheritdoc ILiquidityPool
    function fulfillRedeem(address controller, bytes[] calldata priceUpdate)
        external
        payable
        nonReentrant
        returns (uint256 assets)
    {
        (assets,) = _fulfillRedeem(controller, priceUpdate, msg.value);
    }

    /// @inheritdoc ILiquidityPool
    function fulfillRequests(address[] calldata controllers, bool[] calldata isRedeem, bytes[][] calldata priceUpdates)
        external
        payable
        nonReentrant
        returns (uint256 fulfilled)
    {
        uint256 n = controllers.length;
        require(n == priceUpdates.length, VaultLengthMismatch(n, priceUpdates.length));
        require(n == isRedeem.length, VaultLengthMismatch(n, isRedeem.length));
        IPyth pyth = IPyth(_engine().pyth());
        uint256[] memory fees = new uint256[](n);
        uint256 total;
        for (uint256 i; i < n; ++i) {
            total += fees[i] = pyth.getUpdateFee(priceUpdates[i]);
        }
        require(msg.value == total, VaultWrongUpdateFee(total, msg.value));
        uint256 unspent;
        for (uint256 i; i < n; ++i) {
            address c = controllers[i];
            bool pending = (isRedeem[i] ? _redeemRequests[c].amount : _depositRequests[c].amount) != 0;
            if (!pending) {
                unspent += fees[i];
                continue;
            }
            if (isRedeem[i]) _fulfillRedeem(c, priceUpdates[i], fees[i]);
            else _fulfillDeposit(c, priceUpdates[i], fees[i]);
            ++fulfilled;
        }
        // The update fees of requests someone else fulfilled first go back to the caller, last.
        if (unspent != 0) Address.sendValue(payable(msg.sender), unspent);
    }

    /// @inheritdoc ILiquidityPool
    function cancelDepositRequest(address controller) external nonReentrant {
        Request memory r = _depositRequests[controller];
        require(r.amount != 0, VaultNoPendingRequest(controller));
        _requireExpired(controller, r);
        delete _depositRequests[controller];
        _pendingDepositAssets -= r.amount;
        emit DepositRequestCancelled(controller, msg.sender, r.amount);
        IERC20(asset()).safeTransfer(controller, r.amount);
    }

    /// @inheritdoc ILiquidityPool
    function cancelRedeemRequest(address controller) external nonReentrant {
        Request memory r = _redeemRequests[controller];
        require(r.amount != 0, VaultNoPendingRequest(controller));
        _requireExpired(controller, r);
        delete _redeemRequests[controller];
        totalPendingRedeemShares -= r.amount;
        _transfer(address(this), controller, r.amount);
        emit RedeemRequestCancelled(controller, msg.sender, r.amount);
    }

    /// @inheritdoc IERC7540Operator
    function setOperator(address operator, bool approved) external returns (bool) {
        _operators[msg.sender][operator] = approved;
        emit OperatorSet(msg.sender, operator, approved);
        return true;
    }

    /* ================================================================== claims */

    /// @inheritdoc IERC7540Deposit
    function deposit(uint256 assets, address receiver, address controller) public nonReentrant returns (uint256) {
        return _claimDeposit(assets, 0, receiver, controller);
    }

    /// @notice Claims `assets` of the caller's claimable deposit as shares sent to `receiver`.
    function deposit(uint256 assets, address receiver) public override(ERC4626, IERC4626) nonReentrant returns (uint256) {
        return _claimDeposit(assets, 0, receiver, msg.sender);
    }

    /// @inheritdoc IERC7540Deposit
    function mint(uint256 shares, address receiver, address controller) public nonReentrant returns (uint256) {
        return _claimDeposit(0, shares, receiver, controller);
    }

    /// @notice Claims `shares` of the caller's claimable deposit, sent to `receiver`.
    function mint(uint256 shares, address receiver) public override(ERC4626, IERC4626) nonReentrant returns (uint256) {
        return _claimDeposit(0, shares, receiver, msg.sender);
    }

    /// @notice Claims `assets` of `controller`'s claimable redemption, sent to `receiver` (ERC-7540: the third
    /// argument is the controller).
    function withdraw(uint256 assets, address receiver, address controller)
        public
        override(ERC4626, IERC4626)
        nonReentrant
        returns (uint256)
    {
        return _claimRedeem(assets, 0, receiver, controller);
    }

    /// @notice Claims `shares` of `controller`'s claimable redemption as assets sent to `receiver` (ERC-7540: the
    /// third argument is the controller).
    function redeem(uint256 shares, address receiver, address controller)
        public
        override(ERC4626, IERC4626)
        nonReentrant
        returns (uint256)
    {
        return _claimRedeem(0, shares, receiver, controller);
    }

    /* ==================================================================== engine */

    /// @inheritdoc ILiquidityPool
    function payEngine(uint256 amount) external onlyEngine nonReentrant {
        uint256 held = liquidBalance();
        require(amount <= held, VaultInsufficientBalance(held, amount));
        IERC20(asset()).safeTransfer(msg.sender, amount);
        emit PaidToEngine(amount);
    }

    /* ===================================================================== views */

    /// @notice Liquid balance plus the mark to market of open positions at Chainlink prices, floored at 0.
    function totalAssets() public view override(ERC4626, IERC4626) returns (uint256 nav) {
        (nav,,) = _valuation();
    }

    /// @inheritdoc ILiquidityPool
    function totalPendingDepositAssets() external view returns (uint256) {
        return _pendingDepositAssets;
    }

    /// @inheritdoc ILiquidityPool
    function totalClaimableRedeemAssets() external view returns (uint256) {
        return _claimableRedeemAssets;
    }

    /// @inheritdoc ILiquidityPool
    function liquidBalance() public view returns (uint256) {
        uint256 held = IERC20(asset()).balanceOf(address(this));
        uint256 owed = uint256(_pendingDepositAssets) + _claimableRedeemAssets;
        return held > owed ? held - owed : 0;
    }

    /// @inheritdoc ILiquidityPool
    function capacity() external view returns (uint256) {
        uint256 supply = totalSupply();
        if (supply == 0) return 0;
        return Math.mulDiv(liquidBalance(), supply - totalPendingRedeemShares, supply);
    }

    /// @inheritdoc ILiquidityPool
    function availableLiquidity() public view returns (uint256) {
        (uint256 nav, uint256 balance, bool fresh) = _valuation();
        if (!fresh) return 0;
        return _available(nav, balance);
    }

    /// @notice Claimable deposit assets of `controller` (ERC-7540).
    function maxDeposit(address controller) public view override(ERC4626, IERC4626) returns (uint256) {
        return _claimableDeposits[controller].assets;
    }

    /// @notice Claimable deposit shares of `controller` (ERC-7540).
    function maxMint(address controller) public view override(ERC4626, IERC4626) returns (uint256) {
        return _claimableDeposits[controller].shares;
    }

    /// @notice Claimable redemption assets of `controller` (ERC-7540).
    function maxWithdraw(address controller) public view override(ERC4626, IERC4626) returns (uint256) {
        return _claimableRedeems[controller].assets;
    }

    /// @notice Claimable redemption shares of `controller` (ERC-7540).
    function maxRedeem(address controller) public view override(ERC4626, IERC4626) returns (uint256) {
        return _claimableRedeems[controller].shares;
    }

    /// @notice Reverts VaultAsyncFlow: deposits are requests priced later (ERC-7540).
    function previewDeposit(uint256) public pure override(ERC4626, IERC4626) returns (uint256) {
        revert VaultAsyncFlow();
    }

    /// @notice Reverts VaultAsyncFlow (ERC-7540).
    function previewMint(uint256) public pure override(ERC4626, IERC4626) returns (uint256) {
        revert VaultAsyncFlow();
    }

    /// @notice Reverts VaultAsyncFlow (ERC-7540).
    function previewWithdraw(uint256) public pure override(ERC4626, IERC4626) returns (uint256) {
        revert VaultAsyncFlow();
    }

    /// @notice Reverts VaultAsyncFlow (ERC-7540).
    function previewRedeem(uint256) public pure override(ERC4626, IERC4626) returns (uint256) {
        revert VaultAsyncFlow();
    }

    /// @inheritdoc IERC7540Deposit
    function pendingDepositRequest(uint256 requestId, address controller) external view returns (uint256) {
        return requestId == REQUEST_ID ? _depositRequests[controller].amount : 0;
    }

    /// @inheritdoc IERC7540Deposit
    function claimableDepositRequest(uint256 requestId, address controller) external view returns (uint256) {
        return requestId == REQUEST_ID ? _claimableDeposits[controller].assets : 0;
    }

    /// @inheritdoc IERC7540Redeem
    function pendingRedeemRequest(uint256 requestId, address controller) external view returns (uint256) {
        return requestId == REQUEST_ID ? _redeemRequests[controller].amount : 0;
    }

    /// @inheritdoc IERC7540Redeem
    function claimableRedeemRequest(uint256 requestId, address controller) external view returns (uint256) {
        return requestId == REQUEST_ID ? _claimableRedeems[controller].shares : 0;
    }

    /// @inheritdoc ILiquidityPool
    function depositRequest(address controller) external view returns (Request memory) {
        return _depositRequests[controller];
    }

    /// @inheritdoc ILiquidityPool
    function redeemRequest(address controller) external view returns (Request memory) {
        return _redeemRequests[controller];
    }

    /// @inheritdoc ILiquidityPool
    function claimableDeposit(address controller) external view returns (Claimable memory) {
        return _claimableDeposits[controller];
    }

    /// @inheritdoc ILiquidityPool
    function claimableRedeem(address controller) external view returns (Claimable memory) {
        return _claimableRedeems[controller];
    }

    /// @inheritdoc IERC7540Operator
    function isOperator(address controller, address operator) public view returns (bool) {
        return _operators[controller][operator];
    }

    /// @inheritdoc IERC165
    function supportsInterface(bytes4 interfaceId) external pure returns (bool) {
        return interfaceId == type(IERC165).interfaceId || interfaceId == type(IERC7540Operator).interfaceId
            || interfaceId == type(IERC7540Deposit).interfaceId || interfaceId == type(IERC7540Redeem).interfaceId;
    }

    /* ================================================================== internal */

    /// @dev Prices the request at NAV of the first Pyth prices published minDelay after it, mints its shares to the
    /// pool for the controller to claim, and pays the fee to the caller. Returns the shares and the NAV.
    function _fulfillDeposit(address controller, bytes[] calldata priceUpdate, uint256 value)
        internal
        returns (uint256 shares, uint256 nav)
    {
        Request memory r = _depositRequests[controller];
        require(r.amount != 0, VaultNoPendingRequest(controller));
        nav = _navAt(controller, r, priceUpdate, value);
        uint256 supply = totalSupply();
        require(nav != 0 || supply == 0, VaultInsolvent());
        uint256 net = r.amount - r.fee; // > 0: requestDeposit requires assets > fee
        // Shares a deposit receives round down.
        shares = Math.mulDiv(net, supply + 10 ** DECIMALS_OFFSET, nav + 1);
        delete _depositRequests[controller];
        _pendingDepositAssets -= r.amount;
        Claimable storage c = _claimableDeposits[controller];
        c.assets = SafeCast.toUint128(c.assets + net);
        c.shares = SafeCast.toUint128(c.shares + shares);
        _mint(address(this), shares);
        emit DepositFulfilled(controller, msg.sender, r.amount, shares, r.fee, nav);
        if (r.fee != 0) IERC20(asset()).safeTransfer(msg.sender, r.fee);
    }

    /// @dev Prices the request like _fulfillDeposit, burns its shares and makes the assets, less the fee, claimable.
    function _fulfillRedeem(address controller, bytes[] calldata priceUpdate, uint256 value)
        internal
        returns (uint256 assets, uint256 nav)
    {
        Request memory r = _redeemRequests[controller];
        require(r.amount != 0, VaultNoPendingRequest(controller));
        nav = _navAt(controller, r, priceUpdate, value);
        // Assets a redemption receives round down.
        assets = Math.mulDiv(r.amount, nav + 1, totalSupply() + 10 ** DECIMALS_OFFSET);
        uint256 available = _available(nav, liquidBalance());
        require(assets <= available, VaultInsufficientLiquidity(available, assets));
        _requireCapacityAfter(assets, r.amount);
        uint256 fee = assets < r.fee ? assets : r.fee;
        uint256 claim = assets - fee;
        delete _redeemRequests[controller];
        totalPendingRedeemShares -= r.amount;
        _claimableRedeemAssets = SafeCast.toUint128(_claimableRedeemAssets + claim);
        Claimable storage c = _claimableRedeems[controller];
        c.assets = SafeCast.toUint128(c.assets + claim);
        c.shares = SafeCast.toUint128(c.shares + r.amount);
        _burn(address(this), r.amount);
        emit RedeemFulfilled(controller, msg.sender, r.amount, assets, fee, nav);
        if (fee != 0) IERC20(asset()).safeTransfer(msg.sender, fee);
    }

    /// @dev NAV for request `r`: the liquid balance plus the engine's mark to market at the first Pyth prices
    /// published at least minDelay after the request (ITidemarkEngine.poolMarkToMarketAt), floored at 0. Reverts
    /// unless the request is ready and not expired.
    function _navAt(address controller, Request memory r, bytes[] calldata priceUpdate, uint256 value)
        internal
        returns (uint256)
    {
        ITidemarkEngine e = _engine();
        OrderParams memory p = e.orderParams();
        uint256 readyAt = uint256(r.requestedAt) + p.minDelay;
        require(block.timestamp >= readyAt, VaultRequestNotReady(controller, readyAt));
        uint256 expiresAt = uint256(r.requestedAt) + p.maxDelay;
        require(block.timestamp <= expiresAt, VaultRequestExpired(controller, expiresAt));
        int256 mtm = e.poolMarkToMarketAt{value: value}(priceUpdate, readyAt);
        int256 nav = int256(liquidBalance()) + mtm;
        return nav > 0 ? uint256(nav) : 0;
    }

    /// @dev Claims from a fulfilled deposit: shares out for assets used.
    function _claimDeposit(uint256 assets, uint256 shares, address receiver, address controller)
        internal
        returns (uint256)
    {
        bool byShares = shares != 0;
        (assets, shares) = _takeClaimable(_claimableDeposits[controller], assets, shares, controller, true);
        _transfer(address(this), receiver, shares);
        emit Deposit(controller, receiver, assets, shares);
        return byShares ? assets : shares;
    }

    /// @dev Claims from a fulfilled redemption: assets out for shares used.
    function _claimRedeem(uint256 assets, uint256 shares, address receiver, address controller)
        internal
        returns (uint256)
    {
        bool byShares = shares != 0;
        (assets, shares) = _takeClaimable(_claimableRedeems[controller], assets, shares, controller, false);
        _claimableRedeemAssets -= uint128(assets); // assets <= the controller's claimable <= the total
        emit Withdraw(msg.sender, receiver, controller, assets, shares);
        IERC20(asset()).safeTransfer(receiver, assets);
        return byShares ? assets : shares;
    }

    /// @dev Takes a claim out of `c` for the caller acting for `controller`: exactly one of `assets` and `shares` is the
    /// amount asked (the other 0), the other follows at the claimable's fixed rate, rounded down for what the claimant
    /// receives (shares when `sharesOut`, else assets) and up for what it uses; claiming the whole remainder takes it
    /// exactly. Returns both amounts.
    function _takeClaimable(Claimable storage c, uint256 assets, uint256 shares, address controller, bool sharesOut)
        internal
        returns (uint256, uint256)
    {
        _requireAuthorized(controller);
        require(assets != 0 || shares != 0, VaultZeroAmount());
        (uint256 ca, uint256 cs) = (c.assets, c.shares);
        if (shares != 0) {
            require(shares <= cs, VaultInsufficientClaimable(controller, cs, shares));
            Math.Rounding r = sharesOut ? Math.Rounding.Ceil : Math.Rounding.Floor; // assets used, or received
            assets = shares == cs ? ca : Math.mulDiv(shares, ca, cs, r);
        } else {
            require(assets <= ca, VaultInsufficientClaimable(controller, ca, assets));
            Math.Rounding r = sharesOut ? Math.Rounding.Floor : Math.Rounding.Ceil; // shares received, or used
            shares = assets == ca ? cs : Math.mulDiv(assets, cs, ca, r);
        }
        (c.assets, c.shares) = (uint128(ca - assets), uint128(cs - shares));
        return (assets, shares);
    }

    /// @dev Reverts VaultCapacityBelowOpenInterest unless the capacity left after paying `assets` for `shares` (both
    /// leaving the pool; the shares are pending, so the share of supply not pending is unchanged in count) still covers
    /// what open interest needs.
    function _requireCapacityAfter(uint256 assets, uint256 shares) internal view {
        uint256 required = _engine().requiredPoolCapacity();
        if (required == 0) return;
        uint256 supplyAfter = totalSupply() - shares;
        uint256 liquidAfter = liquidBalance() - assets; // assets <= available <= liquid balance
        uint256 capacityAfter =
            supplyAfter == 0 ? 0 : Math.mulDiv(liquidAfter, supplyAfter - (totalPendingRedeemShares - shares), supplyAfter);
        require(capacityAfter >= required, VaultCapacityBelowOpenInterest(capacityAfter, required));
    }

    /// @dev min(NAV, liquid balance) less the engine's reserve, floored at 0: only tokens held can leave, and only
    /// what the shares are worth.
    function _available(uint256 nav, uint256 balance) internal view returns (uint256) {
        uint256 reserved = _engine().reservedAssets();
        uint256 assets = nav < balance ? nav : balance;
        return assets > reserved ? assets - reserved : 0;
    }

    /// @dev NAV at Chainlink prices, liquid balance, and whether every market with open interest was priced freshly.
    function _valuation() internal view returns (uint256 nav, uint256 balance, bool fresh) {
        balance = liquidBalance();
        address e = engine();
        if (e == address(0)) return (balance, balance, true);
        (int256 value, bool ok) = ITidemarkEngine(e).poolMarkToMarket();
        int256 n = int256(balance) + value;
        return (n > 0 ? uint256(n) : 0, balance, ok);
    }

    function _requireAuthorized(address controller) internal view {
        require(
            msg.sender == controller || _operators[controller][msg.sender], VaultNotAuthorized(msg.sender, controller)
        );
    }

    function _requireExpired(address controller, Request memory r) internal view {
        uint256 expiresAt = uint256(r.requestedAt) + _engine().orderParams().maxDelay;
        require(block.timestamp > expiresAt, VaultRequestNotExpired(controller, expiresAt));
    }

    function _engine() internal view returns (ITidemarkEngine) {
        return ITidemarkEngine(engine());
    }

    function _decimalsOffset() internal pure override returns (uint8) {
        return DECIMALS_OFFSET;
    }

    function _boundAsset() internal view override returns (address) {
        return asset();
    }
}
