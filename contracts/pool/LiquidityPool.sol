// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC4626} from "@openzeppelin/contracts/token/ERC20/extensions/ERC4626.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import {IERC4626} from "@openzeppelin/contracts/interfaces/IERC4626.sol";
import {ILiquidityPool} from "../interfaces/ILiquidityPool.sol";
import {ITidemarkEngine} from "../interfaces/ITidemarkEngine.sol";
import {EngineBound} from "./EngineBound.sol";

/// @title LiquidityPool
/// @notice ERC-4626 vault over the collateral token; see ILiquidityPool. Net asset value (totalAssets) is the token
/// balance plus the engine's mark to market of open positions (funding owed to the pool minus traders' unrealised
/// PnL), so shares price in settlements that have not happened yet.
/// @dev First-depositor inflation attack: OpenZeppelin's virtual shares and assets with a decimals offset of 6, so an
/// attacker must donate about 1e6 times the victim's deposit to round it to zero shares.
contract LiquidityPool is ILiquidityPool, ERC4626, EngineBound, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @dev Virtual share decimals added on top of the asset's (inflation-attack protection).
    uint8 internal constant DECIMALS_OFFSET = 6;

    // The valuation for the duration of one deposit, mint, withdraw or redeem: OpenZeppelin's ERC-4626 reads the max*
    // limit and totalAssets several times per call, and each read would ask the engine to price every market again.
    // Set and cleared by `valuedOnce` (nothing moves between those reads); `_navPlusOne` 0 means unset.
    uint256 private transient _navPlusOne;
    uint256 private transient _cachedBalance;
    bool private transient _cachedFresh;

    constructor(IERC20 asset_, string memory name_, string memory symbol_) ERC4626(asset_) ERC20(name_, symbol_) {}

    /// @notice Token balance plus the mark to market of open positions, floored at 0.
    function totalAssets() public view override(ERC4626, IERC4626) returns (uint256 nav) {
        (nav,,) = _valuation();
    }

    /// @inheritdoc ILiquidityPool
    function availableLiquidity() public view returns (uint256) {
        (uint256 nav, uint256 balance, bool fresh) = _valuation();
        if (!fresh) return 0;
        address e = engine();
        uint256 reserved = e == address(0) ? 0 : ITidemarkEngine(e).reservedAssets();
        // Only tokens held can leave, and only what the shares are worth.
        uint256 assets = nav < balance ? nav : balance;
        return assets > reserved ? assets - reserved : 0;
    }

    /// @notice Unlimited while every market with open interest has a fresh price and the pool is not insolvent
    /// (zero NAV with shares outstanding would mint unbounded shares); otherwise 0.
    function maxDeposit(address) public view override(ERC4626, IERC4626) returns (uint256) {
        return _depositsOpen() ? type(uint256).max : 0;
    }

    /// @notice As maxDeposit.
    function maxMint(address) public view override(ERC4626, IERC4626) returns (uint256) {
        return _depositsOpen() ? type(uint256).max : 0;
    }

    /// @notice At most the owner's assets and the liquidity above the reserve.
    function maxWithdraw(address owner) public view override(ERC4626, IERC4626) returns (uint256) {
        uint256 own = super.maxWithdraw(owner);
        uint256 available = availableLiquidity();
        return own < available ? own : available;
    }

    /// @notice At most the owner's shares and the shares of the liquidity above the reserve (rounded down).
    function maxRedeem(address owner) public view override(ERC4626, IERC4626) returns (uint256) {
        uint256 own = super.maxRedeem(owner);
        uint256 available = _convertToShares(availableLiquidity(), Math.Rounding.Floor);
        return own < available ? own : available;
    }

    /// @inheritdoc ILiquidityPool
    function payEngine(uint256 amount) external onlyEngine nonReentrant {
        uint256 held = IERC20(asset()).balanceOf(address(this));
        require(amount <= held, VaultInsufficientBalance(held, amount));
        IERC20(asset()).safeTransfer(msg.sender, amount);
        emit PaidToEngine(amount);
    }

    /// @inheritdoc IERC4626
    function deposit(uint256 assets, address receiver)
        public
        override(ERC4626, IERC4626)
        nonReentrant
        valuedOnce
        returns (uint256)
    {
        return super.deposit(assets, receiver);
    }

    /// @inheritdoc IERC4626
    function mint(uint256 shares, address receiver)
        public
        override(ERC4626, IERC4626)
        nonReentrant
        valuedOnce
        returns (uint256)
    {
        return super.mint(shares, receiver);
    }

    /// @inheritdoc IERC4626
    function withdraw(uint256 assets, address receiver, address owner)
        public
        override(ERC4626, IERC4626)
        nonReentrant
        valuedOnce
        returns (uint256)
    {
        return super.withdraw(assets, receiver, owner);
    }

    /// @inheritdoc IERC4626
    function redeem(uint256 shares, address receiver, address owner)
        public
        override(ERC4626, IERC4626)
        nonReentrant
        valuedOnce
        returns (uint256)
    {
        return super.redeem(shares, receiver, owner);
    }

    /// @dev OpenZeppelin's `_deposit` with the amount received checked: a fee-on-transfer or rebasing token would
    /// otherwise mint shares for assets the pool never got, at the other LPs' expense. The transfer still comes before
    /// the mint (OpenZeppelin's order, safe for ERC-777 `tokensToSend` hooks), and the entry points hold the reentrancy
    /// lock, so a deposit re-entered from a hook cannot add to the measured difference. A balance that fell during the
    /// transfer counts as nothing received.
    function _deposit(address caller, address receiver, uint256 assets, uint256 shares) internal override {
        IERC20 token = IERC20(asset());
        uint256 before = token.balanceOf(address(this));
        token.safeTransferFrom(caller, address(this), assets);
        uint256 held = token.balanceOf(address(this));
        uint256 received = held > before ? held - before : 0;
        require(received == assets, VaultTransferShortfall(assets, received));
        _mint(receiver, shares);
        emit Deposit(caller, receiver, assets, shares);
    }

    /// @dev Values the pool once for the whole call; the cache is cleared before returning, so a later call in the
    /// same transaction values afresh.
    modifier valuedOnce() {
        (uint256 nav, uint256 balance, bool fresh) = _computeValuation();
        (_navPlusOne, _cachedBalance, _cachedFresh) = (nav + 1, balance, fresh);
        _;
        (_navPlusOne, _cachedBalance, _cachedFresh) = (0, 0, false);
    }

    /// @dev NAV, token balance and whether the engine priced every market with open interest freshly.
    function _valuation() internal view returns (uint256 nav, uint256 balance, bool fresh) {
        uint256 cached = _navPlusOne;
        if (cached != 0) return (cached - 1, _cachedBalance, _cachedFresh);
        return _computeValuation();
    }

    function _computeValuation() internal view returns (uint256 nav, uint256 balance, bool fresh) {
        balance = IERC20(asset()).balanceOf(address(this));
        address e = engine();
        if (e == address(0)) return (balance, balance, true);
        (int256 value, bool ok) = ITidemarkEngine(e).poolMarkToMarket();
        int256 n = int256(balance) + value;
        return (n > 0 ? uint256(n) : 0, balance, ok);
    }

    function _depositsOpen() internal view returns (bool) {
        (uint256 nav,, bool fresh) = _valuation();
        return fresh && (nav != 0 || totalSupply() == 0);
    }

    function _decimalsOffset() internal pure override returns (uint8) {
        return DECIMALS_OFFSET;
    }

    function _boundAsset() internal view override returns (address) {
        return asset();
    }
}
