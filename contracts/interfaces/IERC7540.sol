// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title IERC7540Operator
/// @notice ERC-7540 operators (ERC-165 id 0xe3bc4e65): a controller lets another address manage its requests.
interface IERC7540Operator {
    /// @notice Emitted when `controller` approves or revokes `operator` to manage its requests.
    event OperatorSet(address indexed controller, address indexed operator, bool approved);

    /// @notice Approves or revokes `operator` to manage the caller's requests and claims.
    function setOperator(address operator, bool approved) external returns (bool);
    /// @notice Whether `operator` may manage `controller`'s requests and claims.
    function isOperator(address controller, address operator) external view returns (bool);
}

/// @title IERC7540Deposit
/// @notice ERC-7540 asynchronous deposits (ERC-165 id 0xce3bbe50): request, wait for fulfilment, claim.
interface IERC7540Deposit {
    /// @notice Emitted when `owner`'s `assets` enter a deposit request of `controller`.
    event DepositRequest(
        address indexed controller, address indexed owner, uint256 indexed requestId, address sender, uint256 assets
    );

    /// @notice Transfers `assets` from `owner` into a deposit request managed by `controller`.
    function requestDeposit(uint256 assets, address controller, address owner) external returns (uint256 requestId);
    /// @notice Assets of `controller`'s request that are not yet claimable.
    function pendingDepositRequest(uint256 requestId, address controller) external view returns (uint256 assets);
    /// @notice Assets of `controller`'s request that can be claimed (deposit or mint).
    function claimableDepositRequest(uint256 requestId, address controller) external view returns (uint256 assets);
    /// @notice Claims `assets` of `controller`'s claimable deposit as shares sent to `receiver`.
    function deposit(uint256 assets, address receiver, address controller) external returns (uint256 shares);
    /// @notice Claims `shares` of `controller`'s claimable deposit, sent to `receiver`.
    function mint(uint256 shares, address receiver, address controller) external returns (uint256 assets);
}

/// @title IERC7540Redeem
/// @notice ERC-7540 asynchronous redemptions (ERC-165 id 0x620ee8e4): request, wait for fulfilment, claim.
interface IERC7540Redeem {
    /// @notice Emitted when `owner`'s `shares` enter a redemption request of `controller`.
    event RedeemRequest(
        address indexed controller, address indexed owner, uint256 indexed requestId, address sender, uint256 shares
    );

    /// @notice Transfers `shares` from `owner` into a redemption request managed by `controller`.
    function requestRedeem(uint256 shares, address controller, address owner) external returns (uint256 requestId);
    /// @notice Shares of `controller`'s request that are not yet claimable.
    function pendingRedeemRequest(uint256 requestId, address controller) external view returns (uint256 shares);
    /// @notice Shares of `controller`'s request that can be claimed (redeem or withdraw).
    function claimableRedeemRequest(uint256 requestId, address controller) external view returns (uint256 shares);
}
