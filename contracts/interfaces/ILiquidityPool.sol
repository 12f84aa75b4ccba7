// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC4626} from "@openzeppelin/contracts/interfaces/IERC4626.sol";

import {IEngineBound} from "./IEngineBound.sol";

/// @title ILiquidityPool
/// @notice ERC-4626 vault of the collateral token, counterparty to every trade: it receives trader losses and taker
/// fees and pays trader profits. Withdrawals may not take assets below the reserve the engine requires for open
/// interest (`maxWithdraw` and `maxRedeem` enforce it, so ERC-4626 integrators see the limit).
/// NAV (totalAssets) marks open positions to market through the engine, so an LP cannot enter before, or leave ahead
/// of, a known settlement at a stale share price. While a market with open interest has no fresh oracle price,
/// maxDeposit, maxMint, maxWithdraw and maxRedeem are 0 and the ERC-4626 entry points revert.
/// @dev Warning: NAV counts a bankrupt position's loss beyond its collateral as the pool's gain until it is
/// liquidated; the insurance fund covers such bad debt first. Prompt liquidation keeps the gap small.
interface ILiquidityPool is IERC4626, IEngineBound {
    /// @notice Thrown when a deposit or mint receives a different number of tokens than the assets it prices shares
    /// for (fee-on-transfer and rebasing tokens are not supported). Token units.
    error VaultTransferShortfall(uint256 expected, uint256 received);

    /// @notice Emitted when the pool pays `amount` collateral tokens to the engine.
    event PaidToEngine(uint256 amount);

    /// @notice Assets LPs can withdraw now: min(NAV, token balance) less the engine's reserve, floored at 0; 0 while a
    /// market with open interest has no fresh price.
    function availableLiquidity() external view returns (uint256);

    /// @notice Pays `amount` collateral tokens to the engine (trader profit, bad debt share). Engine only.
    function payEngine(uint256 amount) external;
}
