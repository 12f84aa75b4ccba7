// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @notice Identifier of a listed market, chosen by governance at listing (e.g. bytes32("ETH-USD")).
type MarketId is bytes32;

using {eq as ==} for MarketId global;

function eq(MarketId a, MarketId b) pure returns (bool) {
    return MarketId.unwrap(a) == MarketId.unwrap(b);
}
