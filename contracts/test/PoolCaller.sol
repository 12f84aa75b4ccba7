// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC4626} from "@openzeppelin/contracts/interfaces/IERC4626.sol";

/// @notice Test helper: deposits into the pool and reads its NAV in the same transaction, to show the pool's per-call
/// valuation cache does not outlive the call that set it.
contract PoolCaller {
    uint256 public navAfterDeposit;

    function depositThenReadNav(IERC4626 pool, uint256 assets) external {
        IERC20(pool.asset()).approve(address(pool), assets);
        pool.deposit(assets, address(this));
        navAfterDeposit = pool.totalAssets();
    }
}
