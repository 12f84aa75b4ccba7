// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

import {IInsuranceFund} from "../interfaces/IInsuranceFund.sol";
import {EngineBound} from "./EngineBound.sol";

/// @title InsuranceFund
/// @notice See IInsuranceFund. Holds collateral tokens; its balance is its token balance.
contract InsuranceFund is IInsuranceFund, EngineBound {
    using SafeERC20 for IERC20;

    IERC20 private immutable _asset;

    constructor(IERC20 asset_) {
        _asset = asset_;
    }

    /// @inheritdoc IInsuranceFund
    function asset() external view returns (address) {
        return address(_asset);
    }

    /// @inheritdoc IInsuranceFund
    function balance() public view returns (uint256) {
        return _asset.balanceOf(address(this));
    }

    /// @inheritdoc IInsuranceFund
    function payEngine(uint256 amount) external onlyEngine {
        uint256 held = balance();
        require(amount <= held, VaultInsufficientBalance(held, amount));
        _asset.safeTransfer(msg.sender, amount);
        emit PaidToEngine(amount);
    }

    function _boundAsset() internal view override returns (address) {
        return address(_asset);
    }
}
