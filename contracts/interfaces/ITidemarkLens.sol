// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {MarketId} from "../types/MarketId.sol";
import {PositionHealth} from "../types/DataTypes.sol";

/// @notice An (account, market) pair.
struct PositionKey {
    address account;
    MarketId market;
}

/// @title ITidemarkLens
/// @notice A trade quote; see ITidemarkLens.quoteTrade.
struct TradeQuote {
    uint256 oraclePrice; // WAD
    uint256 fillPrice; // WAD, after price impact
    int256 priceImpact; // token units paid by the trader (negative: received), rounded towards negative infinity
    uint256 fee; // token units, rounded up
}

/// @title ITidemarkLens
/// @notice View-only reads for keepers and frontends. Every number comes from RiskLib's exact functions applied to the
/// engine's `riskContext`: the same code the engine runs for its liquidation check, so `healthFactor < 1e18` here
/// exactly when the engine would liquidate at that price. Money in WAD USD, prices and sizes in WAD.
interface ITidemarkLens {
    /// @notice Thrown when a market's feed answer is zero or negative, or its price is above ConstantsLib.MAX_PRICE
    /// (out of bounds on every market, and beyond the range the risk math is sized for), so no price exists to
    /// evaluate at.
    error LensNoPrice(MarketId market);

    /// @notice The engine read from.
    function engine() external view returns (address);

    /// @notice Full risk state at the current oracle price, whatever the oracle status (reported in the result).
    function positionHealth(address account, MarketId market) external view returns (PositionHealth memory);

    /// @notice Full risk state at `price` (WAD).
    function positionHealthAt(address account, MarketId market, uint256 price)
        external
        view
        returns (PositionHealth memory);

    /// @notice positionHealth for many pairs in one call, reading each market's oracle once. Pairs on a market
    /// without a positive answer, or with a price above ConstantsLib.MAX_PRICE, come back with price 0, liquidatable
    /// false and the oracle status.
    function healthBatch(PositionKey[] calldata keys) external view returns (PositionHealth[] memory);

    /// @notice What a trade of `sizeDelta` (positive buys) would fill at now, with the engine's exact arithmetic:
    /// oracle price, fill price after impact, the impact cost and the taker fee in collateral token units (as in
    /// PositionModified). Reverts with LensNoPrice when the feed has no positive answer or a price above MAX_PRICE.
    /// Margin, caps and oracle status are checked by the engine when the trade is sent.
    function quoteTrade(MarketId market, int256 sizeDelta) external view returns (TradeQuote memory);

    /// @notice Accounts with an open position on `market`, `limit` from `offset`, and the total count.
    function openPositions(MarketId market, uint256 offset, uint256 limit)
        external
        view
        returns (address[] memory accounts, uint256 total);

    /// @notice Equity (rounded down) at the current oracle price.
    function equity(address account, MarketId market) external view returns (int256);
    /// @notice Maintenance margin (rounded up) at the current oracle price.
    function maintenanceMargin(address account, MarketId market) external view returns (uint256);
    /// @notice Initial margin (rounded up) at the current oracle price.
    function initialMargin(address account, MarketId market) external view returns (uint256);
    /// @notice Health factor (rounded down) at the current oracle price; < 1e18 exactly when liquidatable.
    function healthFactor(address account, MarketId market) external view returns (uint256);
    /// @notice Liquidation price: a long is liquidatable exactly below it (0: never), a short exactly above it
    /// (type(uint256).max: never up to the protocol's maximum price). Independent of the current price.
    function liquidationPrice(address account, MarketId market) external view returns (uint256);
}
