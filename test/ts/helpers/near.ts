import { expect } from "chai";

/**
 * |actual − expected| ≤ tolerance, for fractional numbers. chai's `closeTo` cannot be used once the Hardhat chai
 * matchers are loaded (any test that connects to a network loads them): they take over `closeTo` for bigints and
 * reject a fractional number.
 */
export function near(actual: number, expected: number, tolerance: number, what = "") {
  expect(Math.abs(actual - expected) <= tolerance, `${what ? `${what}: ` : ""}${actual} within ${tolerance} of ${expected}`).to.equal(true);
}
