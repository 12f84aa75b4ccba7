// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import {ILiquidityPool} from "../interfaces/ILiquidityPool.sol";
import {ITidemarkEngine} from "../interfaces/ITidemarkEngine.sol";
import {MarketId} from "../types/MarketId.sol";

/// @notice Test helper replaying the flash-loan attack on open-interest caps in one transaction: with borrowed tokens,
/// deposit into the pool, open a position sized to the inflated pool, redeem, repay. Each step is what the attacker
/// would need to happen atomically; against the asynchronous pool the deposit cannot be fulfilled in the transaction
/// that requested it, so the whole transaction reverts.
contract FlashDepositAttacker {
    function attack(
        ILiquidityPool pool,
        ITidemarkEngine engine,
        IERC20 token,
        address lender,
        uint256 loan,
        MarketId market,
        int256 size,
        uint256 collateral
    ) external {
        // The flash loan: borrowed from `lender` (who approved this contract), repaid before the end.
        token.transferFrom(lender, address(this), loan);
        token.approve(address(pool), loan);
        pool.requestDeposit(loan, address(this), address(this));
        pool.fulfillDeposit(address(this), new bytes[](0)); // VaultRequestNotReady: not in the same block
        pool.mint(pool.maxMint(address(this)), address(this), address(this));
        token.approve(address(engine), collateral);
        engine.deposit(collateral);
        engine.requestOrder(market, size, int256(collateral), type(uint256).max, engine.requiredExecutionFee());
        pool.requestRedeem(pool.balanceOf(address(this)), address(this), address(this));
        token.transfer(lender, loan);
    }
}
