// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title FixedPointMathLib
/// @notice WAD (1e18) fixed-point helpers. Every helper names its rounding direction; callers pick the direction
/// that favours the protocol and say so in a comment (see docs/invariants.md).
library FixedPointMathLib {
    uint256 internal constant WAD = 1e18;

    /// @dev floor(x * y / WAD).
    function mulWadDown(uint256 x, uint256 y) internal pure returns (uint256) {
        return x * y / WAD;
    }

    /// @dev ceil(x * y / WAD).
    function mulWadUp(uint256 x, uint256 y) internal pure returns (uint256) {
        return divUp(x * y, WAD);
    }

    /// @dev floor(x * WAD / y).
    function divWadDown(uint256 x, uint256 y) internal pure returns (uint256) {
        return x * WAD / y;
    }

    /// @dev ceil(x * WAD / y).
    function divWadUp(uint256 x, uint256 y) internal pure returns (uint256) {
        return divUp(x * WAD, y);
    }

    /// @dev ceil(x / y) for y > 0.
    function divUp(uint256 x, uint256 y) internal pure returns (uint256 z) {
        z = x / y;
        // A remainder means the true quotient lies strictly above z.
        if (z * y != x) ++z;
    }

    /// @dev floor(x / y) towards negative infinity, for y > 0.
    function sDivDown(int256 x, uint256 y) internal pure returns (int256 z) {
        // y fits in int256: callers pass scale factors of at most 1e36.
        int256 d = int256(y);
        z = x / d;
        if (x < 0 && z * d != x) --z;
    }

    /// @dev |x| as an unsigned integer.
    function abs(int256 x) internal pure returns (uint256) {
        // Two's complement negation of type(int256).min is exactly 2**255, which fits in uint256.
        unchecked {
            return x >= 0 ? uint256(x) : uint256(-(x + 1)) + 1;
        }
    }

    function min(uint256 a, uint256 b) internal pure returns (uint256) {
        return a < b ? a : b;
    }

    function max(uint256 a, uint256 b) internal pure returns (uint256) {
        return a > b ? a : b;
    }
}
