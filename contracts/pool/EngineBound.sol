// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IEngineBound} from "../interfaces/IEngineBound.sol";
import {ITidemarkEngine} from "../interfaces/ITidemarkEngine.sol";

/// @title EngineBound
/// @notice One-shot binding to the engine: the deployer binds once, then nobody can change it, so no role can redirect
/// payouts. (The engine's constructor needs the vault addresses, so the vaults are deployed first.)
abstract contract EngineBound is IEngineBound {
    address private immutable _deployer;
    address private _engine;

    constructor() {
        _deployer = msg.sender;
    }

    modifier onlyEngine() {
        require(msg.sender == _engine, VaultOnlyEngine(msg.sender));
        _;
    }

    /// @inheritdoc IEngineBound
    function engine() public view returns (address) {
        return _engine;
    }

    /// @inheritdoc IEngineBound
    function bindEngine(address engine_) external {
        require(msg.sender == _deployer, VaultOnlyDeployer(msg.sender));
        require(_engine == address(0), VaultEngineAlreadyBound(_engine));
        require(
            engine_.code.length != 0 && ITidemarkEngine(engine_).collateralToken() == _boundAsset(),
            VaultInvalidEngine(engine_)
        );
        _engine = engine_;
        emit EngineBound(engine_);
    }

    function _boundAsset() internal view virtual returns (address);
}
