// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IPyth} from "@pythnetwork/pyth-sdk-solidity/IPyth.sol";
import {PythStructs} from "@pythnetwork/pyth-sdk-solidity/PythStructs.sol";

import {IOrders} from "../interfaces/IOrders.sol";
import {MarketId} from "../types/MarketId.sol";

/// @title PythLib
/// @notice The execution price of a two-step request: the first Pyth update of a feed published at or after a given
/// time, verified on-chain, fresh, and close to the Chainlink reference.
/// @dev "First" is Pyth's uniqueness check (`parsePriceFeedUpdatesWithConfig` with `checkUniqueness`): the update's
/// previous publish time lies before the earliest time, so exactly one update qualifies per feed and time, and whoever
/// executes cannot pick a better one among several published since. The updates are also stored in Pyth when fresher
/// than what it holds. On failure the update is parsed again without the range to name the problem.
library PythLib {
    uint256 internal constant WAD = 1e18;

    /// @notice The WAD price and publish time of feed `priceId` in `update`: the first update published at or after
    /// `earliest`, at most `maxAge` seconds old now. Pays `fee` wei to Pyth. Reverts OrderPriceTooEarly,
    /// OrderPriceFromFuture, OrderPriceNotFirst, OrderPriceStale, OrderPriceInvalid or OrderPriceUpdateInvalid.
    function verifiedPrice(
        IPyth pyth,
        bytes[] calldata update,
        bytes32 priceId,
        uint256 earliest,
        uint256 fee,
        uint256 maxAge
    ) internal returns (uint256 price, uint256 publishTime) {
        bytes32[] memory ids = new bytes32[](1);
        ids[0] = priceId;
        (uint256[] memory prices, uint256[] memory times) = verifiedPrices(pyth, update, ids, earliest, fee, maxAge);
        return (prices[0], times[0]);
    }

    /// @notice verifiedPrice for several feeds in one verification: each the first update of its feed published at
    /// or after `earliest`.
    function verifiedPrices(
        IPyth pyth,
        bytes[] calldata update,
        bytes32[] memory ids,
        uint256 earliest,
        uint256 fee,
        uint256 maxAge
    ) internal returns (uint256[] memory prices, uint256[] memory publishTimes) {
        PythStructs.PriceFeed[] memory feeds;
        try pyth.parsePriceFeedUpdatesWithConfig{value: fee}(
            update, ids, uint64(earliest), uint64(block.timestamp), true, false, true
        ) returns (PythStructs.PriceFeed[] memory parsed, uint64[] memory) {
            feeds = parsed;
        } catch {
            _explain(pyth, update, ids, earliest, fee);
        }
        uint256 n = ids.length;
        prices = new uint256[](n);
        publishTimes = new uint256[](n);
        for (uint256 i; i < n; ++i) {
            PythStructs.Price memory p = feeds[i].price;
            uint256 t = p.publishTime;
            // t <= block.timestamp: the parse's upper bound.
            require(block.timestamp - t <= maxAge, IOrders.OrderPriceStale(t, maxAge));
            prices[i] = toWad(ids[i], p.price, p.expo);
            publishTimes[i] = t;
        }
    }

    /// @notice A Pyth price (`price` * 10**`expo`) in WAD. Exponents from -36 to 0; digits beyond 18 decimals round
    /// down (a mark, not a payout). Reverts OrderPriceInvalid for a non-positive price, an exponent out of range, or a
    /// price that rounds to 0.
    function toWad(bytes32 priceId, int64 price, int32 expo) internal pure returns (uint256 wad) {
        require(price > 0 && expo <= 0 && expo >= -36, IOrders.OrderPriceInvalid(priceId, price, expo));
        uint256 p = uint256(uint64(price));
        wad = expo >= -18 ? p * 10 ** uint256(int256(18 + expo)) : p / 10 ** uint256(int256(-18 - expo));
        require(wad != 0, IOrders.OrderPriceInvalid(priceId, price, expo));
    }

    /// @notice Reverts OrderPriceDeviation unless |price - chainlinkPrice| <= maxDeviation * chainlinkPrice (exact).
    function requireWithinDeviation(MarketId market, uint256 price, uint256 chainlinkPrice, uint256 maxDeviation)
        internal
        pure
    {
        uint256 diff = price > chainlinkPrice ? price - chainlinkPrice : chainlinkPrice - price;
        require(
            diff * WAD <= maxDeviation * chainlinkPrice,
            IOrders.OrderPriceDeviation(market, price, chainlinkPrice, maxDeviation)
        );
    }

    /// @dev Always reverts, with the error that says why the ranged, unique parse failed: the first feed whose update
    /// is too early, from the future, or not the first after `earliest`; OrderPriceUpdateInvalid when the data does
    /// not even parse.
    function _explain(IPyth pyth, bytes[] calldata update, bytes32[] memory ids, uint256 earliest, uint256 fee)
        private
    {
        PythStructs.PriceFeed[] memory feeds;
        try pyth.parsePriceFeedUpdatesWithConfig{value: fee}(update, ids, 0, type(uint64).max, false, false, false)
        returns (PythStructs.PriceFeed[] memory parsed, uint64[] memory) {
            feeds = parsed;
        } catch {
            revert IOrders.OrderPriceUpdateInvalid(ids[0]);
        }
        for (uint256 i; i < feeds.length; ++i) {
            uint256 t = feeds[i].price.publishTime;
            if (t < earliest) revert IOrders.OrderPriceTooEarly(t, earliest);
            if (t > block.timestamp) revert IOrders.OrderPriceFromFuture(t, block.timestamp);
        }
        revert IOrders.OrderPriceNotFirst(feeds[0].price.publishTime, earliest);
    }
}
