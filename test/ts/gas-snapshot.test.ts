import { readFile } from "node:fs/promises";

import { expect } from "chai";

const KEYS = [
  "deposit",
  "withdraw",
  "openPosition",
  "increasePosition",
  "decreasePosition",
  "closePosition",
  "addCollateral",
  "liquidateFull",
  "liquidatePartial",
  "liquidateBatchPerPosition",
  "requestOrder",
  "executeOpenOrder",
  "executeCloseOrder",
  "requestDeposit",
  "requestRedeem",
];

describe("gas-snapshot.json", function () {
  it("is a flat object with exactly the benchmark keys, each a positive integer", async function () {
    const snapshot = JSON.parse(await readFile(new URL("../../gas-snapshot.json", import.meta.url), "utf8"));
    expect(Object.keys(snapshot).sort()).to.deep.equal([...KEYS].sort());
    for (const key of KEYS) {
      expect(Number.isInteger(snapshot[key]), key).to.equal(true);
      // Every operation costs at least the 21,000 intrinsic gas, except the per-position share of a batch.
      expect(snapshot[key], key).to.be.greaterThan(key === "liquidateBatchPerPosition" ? 5_000 : 21_000);
    }
  });
});
