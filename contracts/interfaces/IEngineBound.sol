// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title IEngineBound
/// @notice A vault that only the engine may pay out of, bound to the engine once at deployment.
interface IEngineBound {
    /// @notice Thrown when a caller other than the engine asks for a payout.
    error VaultOnlyEngine(address caller);
    /// @notice Thrown when someone other than the deployer binds the engine.
    error VaultOnlyDeployer(address caller);
    /// @notice Thrown when the engine is already bound.
    error VaultEngineAlreadyBound(address engine);
    /// @notice Thrown when the engine to bind is the zero address or settles in another token.
    error VaultInvalidEngine(address engine);
    /// @notice Thrown when a payout exceeds what the vault holds.
    error VaultInsufficientBalance(uint256 balance, uint256 required);

    /// @notice Emitted once, when the deployer binds the engine.
    event EngineBound(address indexed engine);

    /// @notice The engine allowed to draw payouts.
    function engine() external view returns (address);

    /// @notice Binds the engine. Deployer only, once; the engine must settle in this vault's token.
    function bindEngine(address engine) external;
}
