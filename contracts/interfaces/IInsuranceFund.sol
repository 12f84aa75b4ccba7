// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IEngineBound} from "./IEngineBound.sol";

/// @title IInsuranceFund
/// @notice Receives liquidation penalties and pays keeper top-ups and bad debt before the pool does. Anyone may fund it
/// with a plain transfer. No role can withdraw from it; only the engine draws, and only for the uses above.
interface IInsuranceFund is IEngineBound {
    /// @notice Emitted when the fund pays `amount` collateral tokens to the engine.
    event PaidToEngine(uint256 amount);

    /// @notice The collateral token held.
    function asset() external view returns (address);

    /// @notice Collateral tokens held.
    function balance() external view returns (uint256);

    /// @notice Pays `amount` to the engine. Engine only.
    function payEngine(uint256 amount) external;
}
