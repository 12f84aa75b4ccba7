// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ITransferHook} from "./HookERC20.sol";

/// @notice Test attacker for HookERC20: acts as trader, keeper or LP through `execute`, and at the callback it was
/// armed for (the n-th from arming, counting every callback the token makes) makes one call: the re-entry. Its outcome
/// is recorded; with `bubble` a failed re-entry also reverts the transfer, and so the outer call. Not for production.
contract ReentrancyAttacker is ITransferHook {
    address public callee;
    bytes public payload;
    bool public bubble;
    bool public armed;
    /// @notice The callback (value of hookCalls) at which the armed call is made.
    uint256 public fireAt;
    /// @notice Whether the armed call was attempted, whether it succeeded, and what it returned or reverted with.
    bool public attempted;
    bool public succeeded;
    bytes public result;
    /// @notice Number of callbacks received from the token.
    uint256 public hookCalls;

    /// @notice Makes a call as this contract (trader, keeper or LP), bubbling up a revert.
    function execute(address to, bytes calldata data) external returns (bytes memory) {
        // An arbitrary call is what the attacker is for.
        // solhint-disable-next-line avoid-low-level-calls
        (bool ok, bytes memory ret) = to.call(data);
        if (!ok) _revert(ret);
        return ret;
    }

    /// @notice Arms one re-entry: at the `nth` callback from now (0: the next one), call `to` with `data`.
    function arm(address to, bytes calldata data, bool bubble_, uint256 nth) external {
        (callee, payload, bubble, armed, fireAt) = (to, data, bubble_, true, hookCalls + nth);
        (attempted, succeeded, result) = (false, false, "");
    }

    /// @inheritdoc ITransferHook
    function onTokenTransfer(address, address, uint256, bool) external {
        uint256 n = hookCalls++;
        if (!armed || n != fireAt) return;
        armed = false;
        attempted = true;
        // The re-entry: any entry point, its revert data kept for the test to read.
        // solhint-disable-next-line avoid-low-level-calls
        (bool ok, bytes memory ret) = callee.call(payload);
        (succeeded, result) = (ok, ret);
        if (!ok && bubble) _revert(ret);
    }

    /// @dev Re-raises the exact revert data; Solidity has no statement that reverts with raw bytes.
    function _revert(bytes memory data) private pure {
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            revert(add(data, 32), mload(data))
        }
    }
}
