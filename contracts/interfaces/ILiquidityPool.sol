// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC4626} from "@openzeppelin/contracts/interfaces/IERC4626.sol";

import {IEngineBound} from "./IEngineBound.sol";

/// @title ILiquidityPool
/// @notice ERC-4626 vault of the collateral token, counterparty to every trade: it receives trader losses and taker
/// fees and pays trader profits. Withdrawals may not take assets below the reserve the engine requires for open
/// interest (`maxWithdraw` and `maxRedeem` enforce it, so ERC-4626 integrators see the limit).
/// @dev Warning: until the market-dynamics issue marks open positions to market, totalAssets() is the token balance
/// and does not include traders' unrealised PnL.
interface ILiquidityPool is IERC4626, IEngineBound {
    event PaidToEngine(uint256 amount);

    /// @notice Assets withdrawable now: total assets less the engine's reserve, floored at 0.
    function availableLiquidity() external view returns (uint256);

    /// @notice Pays `amount` collateral tokens to the engine (trader profit, bad debt share). Engine only.
    function payEngine(uint256 amount) external;
}
