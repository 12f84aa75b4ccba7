// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {MockERC20} from "./MockERC20.sol";

/// @notice Receives HookERC20's transfer callbacks.
interface ITransferHook {
    /// @notice Called by the token during a transfer of `amount` from `from` to `to`: before the balances move when
    /// `beforeMove`, after they moved otherwise.
    function onTokenTransfer(address from, address to, uint256 amount, bool beforeMove) external;
}

/// @notice Test collateral token (6 decimals, open minting) that hands control to a hook contract during transfers,
/// to show that no token-moving entry point of the protocol can be re-entered. Two scopes:
/// - `Parties`: ERC-777's rule. The hook is called before the move when it is the sender (`tokensToSend`) and after
///   the move when it is the recipient (`tokensReceived`); an attacker registers itself and gets control only in
///   transfers to or from itself.
/// - `Every`: a hostile token. The hook is called on every transfer (minting and burning excepted), in the phases
///   enabled, including transfers between the engine, the pool and the insurance fund.
/// Not for production.
contract HookERC20 is MockERC20 {
    enum Scope {
        Parties,
        Every
    }

    ITransferHook public hook;
    Scope public scope;
    bool public callBefore;
    bool public callAfter;

    constructor() MockERC20("Hook USD", "hUSD", 6) {}

    /// @notice Sets the hook (zero: none), its scope and, for `Every`, the phases it is called in.
    function setHook(ITransferHook hook_, Scope scope_, bool callBefore_, bool callAfter_) external {
        (hook, scope, callBefore, callAfter) = (hook_, scope_, callBefore_, callAfter_);
    }

    function _update(address from, address to, uint256 value) internal override {
        address h = address(hook);
        bool live = h != address(0) && from != address(0) && to != address(0);
        bool every = scope == Scope.Every;
        if (live && (every ? callBefore : from == h)) hook.onTokenTransfer(from, to, value, true);
        super._update(from, to, value);
        if (live && (every ? callAfter : to == h)) hook.onTokenTransfer(from, to, value, false);
    }
}
