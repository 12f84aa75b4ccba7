// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

import {FixedPointMathLib as FP} from "../../../contracts/libraries/FixedPointMathLib.sol";

import {Test} from "../utils/Test.sol";

/// @notice Rounding directions of FixedPointMathLib against exact 512-bit references (OpenZeppelin Math.mulDiv).
contract FixedPointMathLibTest is Test {
    uint256 internal constant WAD = 1e18;

    /// @dev Keeps x * y below 2**256 (the library does not use 512-bit products): y <= max / x.
    function _boundProduct(uint256 x, uint256 y) internal pure returns (uint256, uint256) {
        x = bound(x, 0, type(uint128).max * uint256(1e9));
        y = x == 0 ? y : bound(y, 0, type(uint256).max / x);
        return (x, y);
    }

    function testFuzz_mulWad_upAboveExactAboveDown(uint256 x, uint256 y) public pure {
        (x, y) = _boundProduct(x, y);
        uint256 down = FP.mulWadDown(x, y);
        uint256 up = FP.mulWadUp(x, y);
        // down = floor(x*y/WAD), up = ceil(x*y/WAD): down * WAD <= x * y <= up * WAD.
        assertEq(down, Math.mulDiv(x, y, WAD), "mulWadDown != floor");
        assertEq(up, Math.mulDiv(x, y, WAD, Math.Rounding.Ceil), "mulWadUp != ceil");
        assertLe(down * WAD, x * y, "mulWadDown above exact");
        assertGe(up, down, "up < down");
        assertEq(up - down, (x * y) % WAD == 0 ? 0 : 1, "up - down must be 1 exactly when inexact");
    }

    function testFuzz_divWad_upAboveExactAboveDown(uint256 x, uint256 y) public pure {
        x = bound(x, 0, type(uint256).max / WAD);
        y = bound(y, 1, type(uint256).max);
        uint256 down = FP.divWadDown(x, y);
        uint256 up = FP.divWadUp(x, y);
        assertEq(down, Math.mulDiv(x, WAD, y), "divWadDown != floor");
        assertEq(up, Math.mulDiv(x, WAD, y, Math.Rounding.Ceil), "divWadUp != ceil");
        assertEq(up - down, (x * WAD) % y == 0 ? 0 : 1, "up - down must be 1 exactly when inexact");
    }

    function testFuzz_divUp_isCeil(uint256 x, uint256 y) public pure {
        y = bound(y, 1, type(uint256).max);
        uint256 z = FP.divUp(x, y);
        assertEq(z, Math.ceilDiv(x, y), "divUp != ceil");
        assertGe(z, x / y, "divUp below floor");
    }

    /// @dev sDivDown floors towards negative infinity: z * y <= x < (z + 1) * y, for divisors up to 1e36 (the scale
    /// factors callers pass).
    function testFuzz_sDivDown_floors(int256 x, uint256 y) public pure {
        y = bound(y, 1, 1e36);
        x = bound(x, -1e58, 1e58); // |x| * 1 and (|z| + 1) * y stay far below 2**255
        int256 z = FP.sDivDown(x, y);
        int256 d = int256(y);
        assertLe(z * d, x, "sDivDown above exact");
        assertGt((z + 1) * d, x, "sDivDown more than one below exact");
        if (x >= 0) assertEq(z, x / d, "non-negative: plain division");
        else assertLe(z, x / d, "negative: at or below truncation");
    }

    function testFuzz_sDivDown_extremes(uint256 y) public pure {
        y = bound(y, 1, 1e36);
        int256 d = int256(y);
        int256 zMin = FP.sDivDown(type(int256).min, y);
        // For int256.min the floor equals the truncated quotient, minus one if inexact.
        int256 t = type(int256).min / d;
        assertEq(zMin, t * d == type(int256).min ? t : t - 1, "sDivDown(int256.min)");
        assertEq(FP.sDivDown(type(int256).max, y), type(int256).max / d, "sDivDown(int256.max)");
        assertEq(FP.sDivDown(-1, y), -1, "sDivDown(-1) == -1");
        assertEq(FP.sDivDown(0, y), 0, "sDivDown(0)");
    }

    function testFuzz_abs(int256 x) public pure {
        uint256 a = FP.abs(x);
        if (x == type(int256).min) assertEq(a, 2 ** 255, "abs(int256.min)");
        else assertEq(a, x >= 0 ? uint256(x) : uint256(-x), "abs");
    }

    function testFuzz_minMax(uint256 a, uint256 b) public pure {
        assertEq(FP.min(a, b), a < b ? a : b, "min");
        assertEq(FP.max(a, b), a < b ? b : a, "max");
        assertLe(FP.min(a, b), FP.max(a, b), "min > max");
    }
}
