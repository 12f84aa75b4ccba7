// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";

/// @notice Test rebasing token built like Lido's stETH: accounts hold shares, a balance is
/// `shares * totalPooled / totalShares` rounded down, and a transfer of `amount` moves
/// `amount * totalShares / totalPooled` shares rounded down, so the recipient can be credited `amount - 1` (stETH's
/// documented "1-2 wei corner case"). `rebase` changes every balance at once (rewards or slashing); with
/// `rebaseOnTransferBps` set, each transfer first grows the pooled amount by that many basis points, like a token that
/// accrues yield when touched. 6 decimals, open minting. Not for production.
contract RebasingERC20 is IERC20, IERC20Metadata {
    mapping(address account => uint256) public sharesOf;
    mapping(address owner => mapping(address spender => uint256)) public allowance;
    uint256 public totalShares;
    uint256 public totalPooled;
    uint256 public rebaseOnTransferBps;

    error RebasingInsufficientBalance(address account, uint256 balance, uint256 needed);
    error RebasingInsufficientAllowance(address spender, uint256 allowance, uint256 needed);

    function name() external pure returns (string memory) {
        return "Rebasing USD";
    }

    function symbol() external pure returns (string memory) {
        return "rUSD";
    }

    function decimals() external pure returns (uint8) {
        return 6;
    }

    function totalSupply() external view returns (uint256) {
        return totalPooled;
    }

    function balanceOf(address account) public view returns (uint256) {
        return totalShares == 0 ? 0 : sharesOf[account] * totalPooled / totalShares;
    }

    /// @notice Shares worth `amount`, rounded down (stETH's getSharesByPooledEth).
    function sharesFor(uint256 amount) public view returns (uint256) {
        return totalPooled == 0 ? amount : amount * totalShares / totalPooled;
    }

    /// @notice Creates `amount` of balance for `to` at the current share price.
    function mint(address to, uint256 amount) external {
        uint256 shares = sharesFor(amount);
        sharesOf[to] += shares;
        totalShares += shares;
        totalPooled += amount;
        emit Transfer(address(0), to, amount);
    }

    /// @notice Sets the pooled amount: every balance scales by `newTotalPooled / totalPooled`.
    function rebase(uint256 newTotalPooled) external {
        totalPooled = newTotalPooled;
    }

    function setRebaseOnTransfer(uint256 bps) external {
        rebaseOnTransferBps = bps;
    }

    function approve(address spender, uint256 amount) external returns (bool) {
        allowance[msg.sender][spender] = amount;
        emit Approval(msg.sender, spender, amount);
        return true;
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        _transfer(msg.sender, to, amount);
        return true;
    }

    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        uint256 allowed = allowance[from][msg.sender];
        if (allowed != type(uint256).max) {
            require(allowed >= amount, RebasingInsufficientAllowance(msg.sender, allowed, amount));
            allowance[from][msg.sender] = allowed - amount;
        }
        _transfer(from, to, amount);
        return true;
    }

    function _transfer(address from, address to, uint256 amount) internal {
        if (rebaseOnTransferBps != 0) totalPooled += totalPooled * rebaseOnTransferBps / 10_000;
        uint256 balance = balanceOf(from);
        require(balance >= amount, RebasingInsufficientBalance(from, balance, amount));
        uint256 shares = sharesFor(amount);
        sharesOf[from] -= shares;
        sharesOf[to] += shares;
        emit Transfer(from, to, amount);
    }
}
