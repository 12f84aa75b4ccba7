// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Vm} from "./Vm.sol";

/// @notice Minimal forge-std replacement (forge-std is not installable here): the cheatcode handle, assertion helpers
/// and `bound`. Handlers use this; test contracts use `Test`, which adds the invariant target getters.
/// @dev A failed assertion reverts with a message, which fails the test (or breaks the invariant) in the runner.
abstract contract TestUtils {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    /* ------------------------------------------------------------------ assertions */

    function fail(string memory reason) internal pure {
        revert(string.concat("assertion failed: ", reason));
    }

    function assertTrue(bool c, string memory reason) internal pure {
        if (!c) fail(reason);
    }

    function assertTrue(bool c) internal pure {
        assertTrue(c, "expected true");
    }

    function assertFalse(bool c, string memory reason) internal pure {
        if (c) fail(reason);
    }

    function assertFalse(bool c) internal pure {
        assertFalse(c, "expected false");
    }

    function assertEq(uint256 a, uint256 b, string memory reason) internal pure {
        if (a != b) fail(string.concat(reason, ": ", _u(a), " != ", _u(b)));
    }

    function assertEq(uint256 a, uint256 b) internal pure {
        assertEq(a, b, "a == b");
    }

    function assertEq(int256 a, int256 b, string memory reason) internal pure {
        if (a != b) fail(string.concat(reason, ": ", _i(a), " != ", _i(b)));
    }

    function assertEq(int256 a, int256 b) internal pure {
        assertEq(a, b, "a == b");
    }

    function assertEq(address a, address b, string memory reason) internal pure {
        if (a != b) fail(reason);
    }

    function assertEq(bool a, bool b, string memory reason) internal pure {
        if (a != b) fail(string.concat(reason, a ? ": true != false" : ": false != true"));
    }

    function assertEq(bytes32 a, bytes32 b, string memory reason) internal pure {
        if (a != b) fail(reason);
    }

    function assertGe(uint256 a, uint256 b, string memory reason) internal pure {
        if (a < b) fail(string.concat(reason, ": ", _u(a), " < ", _u(b)));
    }

    function assertGe(uint256 a, uint256 b) internal pure {
        assertGe(a, b, "a >= b");
    }

    function assertGe(int256 a, int256 b, string memory reason) internal pure {
        if (a < b) fail(string.concat(reason, ": ", _i(a), " < ", _i(b)));
    }

    function assertGt(uint256 a, uint256 b, string memory reason) internal pure {
        if (a <= b) fail(string.concat(reason, ": ", _u(a), " <= ", _u(b)));
    }

    function assertGt(int256 a, int256 b, string memory reason) internal pure {
        if (a <= b) fail(string.concat(reason, ": ", _i(a), " <= ", _i(b)));
    }

    function assertLe(uint256 a, uint256 b, string memory reason) internal pure {
        if (a > b) fail(string.concat(reason, ": ", _u(a), " > ", _u(b)));
    }

    function assertLe(uint256 a, uint256 b) internal pure {
        assertLe(a, b, "a <= b");
    }

    function assertLe(int256 a, int256 b, string memory reason) internal pure {
        if (a > b) fail(string.concat(reason, ": ", _i(a), " > ", _i(b)));
    }

    function assertLt(uint256 a, uint256 b, string memory reason) internal pure {
        if (a >= b) fail(string.concat(reason, ": ", _u(a), " >= ", _u(b)));
    }

    function assertLt(uint256 a, uint256 b) internal pure {
        assertLt(a, b, "a < b");
    }

    function assertLt(int256 a, int256 b, string memory reason) internal pure {
        if (a >= b) fail(string.concat(reason, ": ", _i(a), " >= ", _i(b)));
    }

    /* ----------------------------------------------------------------------- bound */

    /// @dev Maps `x` into [min, max], keeping in-range values unchanged and small values near the edges (forge-std's
    /// behaviour: 0..3 map to min..min+3 and max-3..max map to the top, so edge cases stay reachable).
    function bound(uint256 x, uint256 min, uint256 max) internal pure returns (uint256) {
        require(min <= max, "bound: min > max");
        if (x >= min && x <= max) return x;
        uint256 size = max - min + 1; // max - min < 2**256 - 1 here, or x would be in range
        if (x <= 3 && size > x) return min + x;
        if (x >= type(uint256).max - 3 && size > type(uint256).max - x) return max - (type(uint256).max - x);
        if (x > max) {
            uint256 rem = (x - max) % size;
            return rem == 0 ? max : min + rem - 1;
        }
        uint256 r = (min - x) % size;
        return r == 0 ? min : max - r + 1;
    }

    /// @dev Signed bound over the same mapping, shifted to unsigned space.
    function bound(int256 x, int256 min, int256 max) internal pure returns (int256) {
        require(min <= max, "bound: min > max");
        uint256 ux = _shift(x);
        uint256 r = bound(ux, _shift(min), _shift(max));
        unchecked {
            return int256(r - 2 ** 255); // wraps back to the signed value
        }
    }

    function _shift(int256 x) private pure returns (uint256) {
        unchecked {
            return uint256(x) + 2 ** 255;
        }
    }

    /* ------------------------------------------------------------------- formatting */

    function _u(uint256 v) internal pure returns (string memory) {
        if (v == 0) return "0";
        uint256 len;
        for (uint256 t = v; t != 0; t /= 10) ++len;
        bytes memory b = new bytes(len);
        for (; v != 0; v /= 10) b[--len] = bytes1(uint8(48 + v % 10));
        return string(b);
    }

    function _i(int256 v) internal pure returns (string memory) {
        if (v >= 0) return _u(uint256(v));
        unchecked {
            return string.concat("-", _u(uint256(-(v + 1)) + 1));
        }
    }
}

/// @notice Test base: TestUtils plus forge-std's StdInvariant target/exclude getters, which the invariant runner calls
/// on the test contract after setUp() (targetContracts(), targetSelectors(), ...; same names and return types).
abstract contract Test is TestUtils {
    bool public IS_TEST = true;

    /* ------------------------------------------------------------ invariant targets */

    struct FuzzSelector {
        address addr;
        bytes4[] selectors;
    }

    struct FuzzArtifactSelector {
        string artifact;
        bytes4[] selectors;
    }

    struct FuzzInterface {
        address addr;
        string[] artifacts;
    }

    address[] private _targetedContracts;
    address[] private _excludedContracts;
    address[] private _targetedSenders;
    address[] private _excludedSenders;
    string[] private _targetedArtifacts;
    string[] private _excludedArtifacts;
    FuzzSelector[] private _targetedSelectors;
    FuzzSelector[] private _excludedSelectors;
    FuzzArtifactSelector[] private _targetedArtifactSelectors;
    FuzzInterface[] private _targetedInterfaces;

    function targetContract(address target) internal {
        _targetedContracts.push(target);
    }

    function excludeContract(address target) internal {
        _excludedContracts.push(target);
    }

    function targetSender(address sender) internal {
        _targetedSenders.push(sender);
    }

    function excludeSender(address sender) internal {
        _excludedSenders.push(sender);
    }

    function targetSelector(FuzzSelector memory selector) internal {
        _targetedSelectors.push(selector);
    }

    function excludeSelector(FuzzSelector memory selector) internal {
        _excludedSelectors.push(selector);
    }

    function targetContracts() public view returns (address[] memory) {
        return _targetedContracts;
    }

    function excludeContracts() public view returns (address[] memory) {
        return _excludedContracts;
    }

    function targetSenders() public view returns (address[] memory) {
        return _targetedSenders;
    }

    function excludeSenders() public view returns (address[] memory) {
        return _excludedSenders;
    }

    function targetArtifacts() public view returns (string[] memory) {
        return _targetedArtifacts;
    }

    function excludeArtifacts() public view returns (string[] memory) {
        return _excludedArtifacts;
    }

    function targetSelectors() public view returns (FuzzSelector[] memory) {
        return _targetedSelectors;
    }

    function excludeSelectors() public view returns (FuzzSelector[] memory) {
        return _excludedSelectors;
    }

    function targetArtifactSelectors() public view returns (FuzzArtifactSelector[] memory) {
        return _targetedArtifactSelectors;
    }

    function targetInterfaces() public view returns (FuzzInterface[] memory) {
        return _targetedInterfaces;
    }
}
