// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";
import {IERC4626} from "@openzeppelin/contracts/interfaces/IERC4626.sol";

import {IEngineBound} from "./IEngineBound.sol";
import {IERC7540Deposit, IERC7540Operator, IERC7540Redeem} from "./IERC7540.sol";

/// @title ILiquidityPool
/// @notice ERC-4626 vault of the collateral token with asynchronous deposits and redemptions (ERC-7540), counterparty
/// to every trade: it receives trader losses and taker fees and pays trader profits.
/// Entry and exit are requests: `requestDeposit` takes the assets, `requestRedeem` the shares; anyone (a keeper) then
/// fulfils the request at the net asset value of the first Pyth prices published at least `minDelay` after it
/// (ITidemarkEngine.poolMarkToMarketAt: the same rules as trader orders), taking the governed execution fee out of it,
/// and the controller claims with ERC-4626 `deposit`/`mint` or `redeem`/`withdraw`. No LP enters or leaves at a price
/// it could see when deciding, and no one can borrow pool depth for one transaction. A request not fulfilled within
/// `maxDelay` can be cancelled by anyone, returning its assets or shares to the controller.
/// Assets of pending deposits and of claimable redemptions are held but are not the pool's: they count neither in
/// NAV, nor in what the engine may draw, nor in the open-interest caps; those caps also leave out the share of the
/// pool that pending redemptions will take.
/// Request ids: every controller has one aggregated request per direction (requestId 0, ERC-7540's convention).
/// @dev Warning: NAV counts a bankrupt position's loss beyond its collateral as the pool's gain until it is
/// liquidated; the insurance fund covers such bad debt first. Prompt liquidation keeps the gap small.
interface ILiquidityPool is IERC4626, IERC7540Operator, IERC7540Deposit, IERC7540Redeem, IERC165, IEngineBound {
    /// @notice A controller's pending request: deposit assets or redeemed shares, the execution fee it pays and when
    /// it was made.
    struct Request {
        uint128 amount; // assets (deposit) or shares (redemption)
        uint96 fee; // token units, paid to the fulfiller
        uint32 requestedAt; // seconds
    }

    /// @notice What a controller can claim: `assets` for `shares`, at the fixed rate of its fulfilments.
    struct Claimable {
        uint128 assets;
        uint128 shares;
    }

    /// @notice Thrown when a deposit request receives a different number of tokens than asked (fee-on-transfer and
    /// rebasing tokens are not supported). Token units.
    error VaultTransferShortfall(uint256 expected, uint256 received);
    /// @notice Thrown when a request or claim amount is zero.
    error VaultZeroAmount();
    /// @notice Thrown when the caller may not act for `controller` (or `owner`): neither it nor its operator; also for
    /// a request made out to the zero address as controller, which could never be claimed or cancelled.
    error VaultNotAuthorized(address caller, address controller);
    /// @notice Thrown when `controller` already has a pending request in that direction.
    error VaultRequestPending(address controller);
    /// @notice Thrown when `controller` has no pending request in that direction.
    error VaultNoPendingRequest(address controller);
    /// @notice Thrown when a deposit request would not even cover its execution fee (token units).
    error VaultRequestTooSmall(uint256 assets, uint256 fee);
    /// @notice Thrown when fulfilling before the request's minimum delay has passed.
    error VaultRequestNotReady(address controller, uint256 readyAt);
    /// @notice Thrown when fulfilling a request after its expiry; it can only be cancelled.
    error VaultRequestExpired(address controller, uint256 expiredAt);
    /// @notice Thrown when cancelling a request before its expiry.
    error VaultRequestNotExpired(address controller, uint256 expiresAt);
    /// @notice Thrown when claiming more than is claimable (assets or shares, as asked).
    error VaultInsufficientClaimable(address controller, uint256 claimable, uint256 requested);
    /// @notice Thrown when a redemption would take more than the liquidity above the engine's reserve (token units).
    error VaultInsufficientLiquidity(uint256 available, uint256 required);
    /// @notice Thrown when a redemption would leave the pool's capacity below what open interest needs under the caps
    /// (ITidemarkEngine.requiredPoolCapacity). Token units.
    error VaultCapacityBelowOpenInterest(uint256 capacityAfter, uint256 required);
    /// @notice Thrown when a deposit is fulfilled while the pool's NAV is 0 with shares outstanding (it would mint
    /// unbounded shares).
    error VaultInsolvent();
    /// @notice Thrown by the ERC-4626 previews, which an asynchronous vault cannot answer (ERC-7540).
    error VaultAsyncFlow();
    /// @notice Thrown when a batch's controllers and price updates do not pair up.
    error VaultLengthMismatch(uint256 controllers, uint256 updates);
    /// @notice Thrown when the ETH sent differs from what Pyth charges for a batch's updates (wei).
    error VaultWrongUpdateFee(uint256 required, uint256 sent);

    /// @notice Emitted when a deposit request is fulfilled: `assets` requested, `shares` now claimable for
    /// `assets - fee`, `fee` paid to `fulfiller`, at `nav` (token units) before the deposit.
    event DepositFulfilled(
        address indexed controller, address indexed fulfiller, uint256 assets, uint256 shares, uint256 fee, uint256 nav
    );
    /// @notice Emitted when a redemption request is fulfilled: `shares` burnt for `assets`, of which `assets - fee`
    /// are claimable and `fee` paid to `fulfiller`, at `nav` (token units) before the redemption.
    event RedeemFulfilled(
        address indexed controller, address indexed fulfiller, uint256 shares, uint256 assets, uint256 fee, uint256 nav
    );
    /// @notice Emitted when an expired deposit request is cancelled and its assets returned to the controller.
    event DepositRequestCancelled(address indexed controller, address indexed caller, uint256 assets);
    /// @notice Emitted when an expired redemption request is cancelled and its shares returned to the controller.
    event RedeemRequestCancelled(address indexed controller, address indexed caller, uint256 shares);
    /// @notice Emitted when the pool pays `amount` collateral tokens to the engine.
    event PaidToEngine(uint256 amount);

    /// @notice Fulfils `controller`'s pending deposit at the NAV of the first Pyth prices published at least minDelay
    /// after it (`priceUpdate` must hold every market with open interest; msg.value pays Pyth). Anyone may call and
    /// receives the request's execution fee in tokens. Returns the shares made claimable.
    function fulfillDeposit(address controller, bytes[] calldata priceUpdate) external payable returns (uint256 shares);

    /// @notice Fulfils `controller`'s pending redemption like fulfillDeposit; the assets, less the execution fee, become
    /// claimable. Reverts VaultInsufficientLiquidity when they exceed the liquidity above the engine's reserve, and
    /// VaultCapacityBelowOpenInterest when the pool left would be too small for the open interest under the caps.
    function fulfillRedeem(address controller, bytes[] calldata priceUpdate) external payable returns (uint256 assets);

    /// @notice Fulfils several requests, each with its own price update; `isRedeem[i]` picks the direction.
    /// msg.value must equal Pyth's fee for all updates. Requests no longer pending are skipped and their update fee
    /// refunded; any other failure reverts the batch. Returns how many were fulfilled.
    function fulfillRequests(address[] calldata controllers, bool[] calldata isRedeem, bytes[][] calldata priceUpdates)
        external
        payable
        returns (uint256 fulfilled);

    /// @notice Cancels `controller`'s expired pending deposit and returns its assets to the controller. Anyone.
    function cancelDepositRequest(address controller) external;

    /// @notice Cancels `controller`'s expired pending redemption and returns its shares to the controller. Anyone.
    function cancelRedeemRequest(address controller) external;

    /// @notice `controller`'s pending deposit request (amount in assets).
    function depositRequest(address controller) external view returns (Request memory);
    /// @notice `controller`'s pending redemption request (amount in shares).
    function redeemRequest(address controller) external view returns (Request memory);
    /// @notice What `controller` can claim from fulfilled deposits (shares for assets).
    function claimableDeposit(address controller) external view returns (Claimable memory);
    /// @notice What `controller` can claim from fulfilled redemptions (assets for shares).
    function claimableRedeem(address controller) external view returns (Claimable memory);
    /// @notice Token units of pending deposit requests, held but not the pool's.
    function totalPendingDepositAssets() external view returns (uint256);
    /// @notice Shares of pending redemption requests, held by the pool until fulfilled or cancelled.
    function totalPendingRedeemShares() external view returns (uint256);
    /// @notice Token units of fulfilled redemptions not yet claimed, held but not the pool's.
    function totalClaimableRedeemAssets() external view returns (uint256);

    /// @notice The pool's own tokens: its balance less pending deposits and claimable redemptions.
    function liquidBalance() external view returns (uint256);

    /// @notice What the engine's open-interest caps are measured against (token units): the liquid balance times the
    /// share of the supply not pending redemption.
    function capacity() external view returns (uint256);

    /// @notice Assets a redemption could take now: min(NAV, liquid balance) less the engine's reserve, floored at 0;
    /// 0 while a market with open interest has no fresh price.
    function availableLiquidity() external view returns (uint256);

    /// @notice Pays `amount` collateral tokens to the engine (trader profit, bad debt share), out of the liquid
    /// balance. Engine only.
    function payEngine(uint256 amount) external;
}
