/**
 * First-depositor share inflation (docs/security.md, "Pool share inflation"). The attacker is the first LP of a freshly
 * deployed, engine-bound pool: it deposits 1 wei (one token unit above the execution fee), donates D straight to the
 * pool, and waits for a victim's deposit V, hoping the victim's shares round down to (nearly) nothing. Deposits and
 * redemptions are ERC-7540 requests, fulfilled at the NAV of their fulfilment (here by the requester itself, so the
 * execution fee comes back to it): the donation may land between the victim's request and its fulfilment, which is
 * what the attacker would do. The pool uses OpenZeppelin's virtual shares and assets with a decimals offset of 6: 10^6
 * virtual shares and 1 virtual asset, at fulfilment
 *   shares for assets = floor(assets * (supply + 1e6) / (NAV + 1)),
 *   assets for shares = floor(shares * (NAV + 1) / (supply + 1e6)).
 * The attacker's 1 wei buys 1e6 shares, as many as the virtual ones, so half of the donation belongs to the virtual
 * shares and is lost to the attacker. Every number below is computed with those formulas and checked against the
 * chain. (pool.test.ts has the 1M USD donation against a 10k USD deposit on a second pool.)
 */
import { expect } from "chai";
import { network } from "hardhat";

import { TOKEN_DECIMALS, deployProtocolOn, usd } from "../helpers/fixture.js";
import { fulfil, lpDeposit, lpRedeem } from "../helpers/flows.js";

const { ethers, networkHelpers } = await network.create();

const VIRTUAL_SHARES = 10n ** 6n;
const VIRTUAL_ASSETS = 1n;
const toShares = (assets: bigint, supply: bigint, total: bigint) => (assets * (supply + VIRTUAL_SHARES)) / (total + VIRTUAL_ASSETS);
const toAssets = (shares: bigint, supply: bigint, total: bigint) => (shares * (total + VIRTUAL_ASSETS)) / (supply + VIRTUAL_SHARES);
const ceilDiv = (a: bigint, b: bigint) => (a + b - 1n) / b;

/** The protocol with an empty pool (bound to the engine, markets listed, no positions). */
async function freshPoolFixture() {
  const token = await ethers.deployContract("MockERC20", ["USD Coin", "USDC", TOKEN_DECIMALS]);
  const f = await deployProtocolOn(ethers, token, { seedPool: false });
  await token.mint(f.alice.address, usd(200_000_000));
  return f;
}

type F = Awaited<ReturnType<typeof freshPoolFixture>>;

/**
 * Runs the attack: attacker deposits 1 unit, donates `donation`, victim deposits `victimDeposit`; then both redeem
 * everything, the attacker first when `attackerExitsFirst`. Returns every amount, checked against the formulas on the way.
 */
async function attack(f: F, donation: bigint, victimDeposit: bigint, attackerExitsFirst: boolean) {
  const { pool, engine, token, alice: attacker, bob: victim } = f;
  const poolAddress = await pool.getAddress();
  const [attackerStart, victimStart] = [await token.balanceOf(attacker.address), await token.balanceOf(victim.address)];
  const fee: bigint = await engine.requiredExecutionFee();

  expect(await lpDeposit(ethers, pool, engine, attacker, 1n)).to.equal(toShares(1n, 0n, 0n));
  const attackerShares = toShares(1n, 0n, 0n);
  expect(await pool.balanceOf(attacker.address)).to.equal(attackerShares);

  // The victim's request is public; the donation lands before its fulfilment.
  await pool.connect(victim).requestDeposit(victimDeposit + fee, victim.address, victim.address);
  await token.connect(attacker).transfer(poolAddress, donation);
  let total = 1n + donation;
  expect(await pool.totalAssets()).to.equal(total); // the pending deposit is not in NAV
  expect(await pool.liquidBalance()).to.equal(total);

  const victimShares = toShares(victimDeposit, attackerShares, total);
  await fulfil(ethers, pool, engine, victim, victim.address, false);
  expect(await pool.maxMint(victim.address)).to.equal(victimShares);
  // Claimed by assets: a deposit rounded to zero shares is still claimed (and the claim cleared).
  await pool.connect(victim)["deposit(uint256,address,address)"](victimDeposit, victim.address, victim.address);
  expect(await pool.balanceOf(victim.address)).to.equal(victimShares);
  expect(await pool.maxDeposit(victim.address)).to.equal(0n);
  total += victimDeposit;
  let supply = attackerShares + victimShares;

  const exit = async (who: typeof attacker, shares: bigint) => {
    const out = toAssets(shares, supply, total);
    if (shares !== 0n) expect(await lpRedeem(ethers, pool, engine, who, shares)).to.equal(out);
    (total -= out), (supply -= shares);
    return out;
  };
  let attackerOut: bigint;
  let victimOut: bigint;
  if (attackerExitsFirst) {
    attackerOut = await exit(attacker, attackerShares);
    victimOut = await exit(victim, victimShares);
  } else {
    victimOut = await exit(victim, victimShares);
    attackerOut = await exit(attacker, attackerShares);
  }
  expect((await token.balanceOf(attacker.address)) - attackerStart).to.equal(attackerOut - 1n - donation);
  expect((await token.balanceOf(victim.address)) - victimStart).to.equal(victimOut - victimDeposit);
  // What neither gets back stays in the pool, owned by the virtual shares.
  expect(await token.balanceOf(poolAddress)).to.equal(total);
  return {
    victimShares,
    victimLoss: victimDeposit - victimOut,
    attackerProfit: attackerOut - 1n - donation,
    leftInPool: total,
  };
}

describe("Adversarial pool share inflation (first depositor)", function () {
  // [donation, victim deposit] in USD
  const cases: [number, number][] = [
    [1_000, 10_000],
    [1_000_000, 10_000],
    [1_000_000, 100],
    [100_000_000, 10_000],
  ];
  for (const [d, v] of cases) {
    for (const attackerExitsFirst of [true, false]) {
      it(`1 wei + ${d.toLocaleString("en")} USD donation vs a ${v.toLocaleString("en")} USD deposit (${attackerExitsFirst ? "attacker" : "victim"} exits first): the victim loses at most one share's worth, the attacker loses about half the donation`, async function () {
        const f = await networkHelpers.loadFixture(freshPoolFixture);
        const donation = usd(d);
        const deposit = usd(v);
        const r = await attack(f, donation, deposit, attackerExitsFirst);
        // The victim's loss is the rounding of its share count (at most one share, worth (D + V + 2) / 2e6 units) plus
        // one unit of rounding on redemption.
        expect(r.victimShares).to.be.greaterThan(0n);
        expect(r.victimLoss).to.be.greaterThanOrEqual(0n);
        expect(r.victimLoss).to.be.lessThanOrEqual(ceilDiv(donation + deposit + 2n, 2n * VIRTUAL_SHARES) + 1n);
        // The attacker loses at least half the donation less what it could take from the victim, and far more than the
        // victim loses: the attack only destroys value.
        expect(r.attackerProfit).to.be.lessThan(0n);
        expect(-r.attackerProfit).to.be.greaterThanOrEqual(donation / 2n - r.victimLoss);
        expect(-r.attackerProfit).to.be.greaterThan(1_000n * r.victimLoss);
      });
    }
  }

  it("exact figures: 1 wei + 1,000,000 USD donated, 10,000 USD deposited, victim exits first", async function () {
    const f = await networkHelpers.loadFixture(freshPoolFixture);
    const r = await attack(f, usd(1_000_000), usd(10_000), false);
    // Victim: floor(1e10 * 2e6 / (1e12 + 2)) = 19,999 shares instead of 20,000; redeemed at
    // floor(19,999 * (1e12 + 1e10 + 2) / (2e6 + 19,999)) = 9,999,504,950 units: a loss of 0.49505 USD (0.005%).
    expect(r.victimShares).to.equal(19_999n);
    expect(r.victimLoss).to.equal(495_050n);
    // Attacker: redeems 1e6 of 2e6 (with the virtual ones) shares of the 1,000,000.495051 USD left, plus the virtual
    // unit: 500,000.247526 USD back for 1,000,000.000001 put in.
    expect(r.attackerProfit).to.equal(-499_999_752_475n);
    expect(r.leftInPool).to.equal(500_000_247_525n);
  });

  it("the worst case for the victim: a donation of 2e6 times the deposit rounds it to zero shares, at a cost of 1e6 times what it takes", async function () {
    const f = await networkHelpers.loadFixture(freshPoolFixture);
    // 1 USD = 1e6 units; shares = floor(1e6 * 2e6 / (2e12 + 2)) = 0.
    const r = await attack(f, usd(2_000_000), usd(1), true);
    expect(r.victimShares).to.equal(0n);
    expect(r.victimLoss).to.equal(usd(1));
    // The attacker gets half of everything back: floor(1e6 * (2e12 + 1e6 + 2) / 2e6) = 1,000,000,500,001 units.
    expect(r.attackerProfit).to.equal(1_000_000_500_001n - 1n - usd(2_000_000));
    expect(-r.attackerProfit).to.be.greaterThan(999_999n * r.victimLoss);
  });
});
