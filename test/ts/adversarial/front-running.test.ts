/**
 * The three attacks a review found against immediate execution, replayed against two-step orders and ERC-7540 LP
 * requests. Each records the attacker's, the pool's and the insurance fund's balances before and after.
 *
 * Against the old flow (everything executed at once at the on-chain Chainlink price) they took, on the local network:
 *  1. a trader who opened 100 ETH just before a visible +1% update and closed after: +2,698.50 USD, paid by the pool;
 *  2. an LP who deposited 5M USD just before a -1% update and redeemed after: +14,997.75 USD from the incumbent LP;
 *  3. a flash loan deposited into the pool, a position opened against the inflated pool and the deposit redeemed in one
 *     transaction: a 24M USD long against a 5M USD pool, 9.6 times the cap.
 * Here the price a request executes at is the first Pyth update published at least minDelay after it, which already
 * carries the move the attacker saw coming; so the attacker pays fees and gains nothing the next price did not pay
 * anyone, and no deposit counts in the pool before a later block.
 */
import { expect } from "chai";
import { network } from "hardhat";

import { ETH, ETH_PYTH_ID, EXPOSURE_PARAMS, PYTH_UPDATE_FEE, answer, deployProtocol, usd, wad } from "../helpers/fixture.js";
import { takerFee } from "../helpers/engine-helpers.js";
import { encodeUpdate, toPyth } from "../helpers/pyth.js";

const { ethers, networkHelpers } = await network.create();
const { time } = networkHelpers;

type F = Awaited<ReturnType<typeof deployProtocol>>;
type Signer = F["alice"];

const MIN_DELAY = 2n;
const at = (t: bigint) => time.setNextBlockTimestamp(t);
const latest = async () => BigInt(await time.latest());

/** The first ETH update at or after `publishTime` (its previous one a second earlier), at WAD `price`. */
const ethUpdate = (price: bigint, publishTime: bigint) => encodeUpdate(ETH_PYTH_ID, toPyth(price), publishTime, publishTime - 1n);

async function fixture() {
  const f = await deployProtocol(ethers);
  const fee: bigint = await f.engine.requiredExecutionFee();
  return { ...f, fee };
}

/** Requests an order at `t` and has the keeper execute it at the first Pyth update after it, at `pythPrice`. */
async function order(f: F, who: Signer, sizeDelta: bigint, collateral: bigint, pythPrice: bigint, t: bigint, close = false) {
  const fee = await f.engine.requiredExecutionFee();
  await at(t);
  if (close) await f.engine.connect(who).requestClose(ETH, 0n, fee);
  else await f.engine.connect(who).requestOrder(ETH, sizeDelta, collateral, sizeDelta > 0n ? ethers.MaxUint256 : 0n, fee);
  const id = await f.engine.orderCount();
  await at(t + MIN_DELAY);
  await f.engine.connect(f.keeper).executeOrder(id, [ethUpdate(pythPrice, t + MIN_DELAY)], { value: PYTH_UPDATE_FEE });
  return id;
}

/** Requests a deposit (or redemption) at `t`, fulfilled by the keeper at the first Pyth update after it, claimed. */
async function lp(f: F, who: Signer, amount: bigint, pythPrice: bigint, t: bigint, redeem = false) {
  const { pool } = f;
  await at(t);
  if (redeem) await pool.connect(who).requestRedeem(amount, who.address, who.address);
  else await pool.connect(who).requestDeposit(amount, who.address, who.address);
  const [long, short] = await f.engine.openInterest(ETH);
  const updates = long + short === 0n ? [] : [ethUpdate(pythPrice, t + MIN_DELAY)];
  await at(t + MIN_DELAY);
  const value = PYTH_UPDATE_FEE * BigInt(updates.length);
  if (redeem) await pool.connect(f.keeper).fulfillRedeem(who.address, updates, { value });
  else await pool.connect(f.keeper).fulfillDeposit(who.address, updates, { value });
  if (redeem) await pool.connect(who).withdraw(await pool.maxWithdraw(who.address), who.address, who.address);
  else await pool.connect(who)["mint(uint256,address,address)"](await pool.maxMint(who.address), who.address, who.address);
}

/** What `who` holds: tokens in its wallet plus its free balance in the engine (token units). */
async function holdings(f: F, who: Signer) {
  return (await f.token.balanceOf(who.address)) + (await f.engine.freeBalance(who.address));
}

async function balances(f: F, who: Signer) {
  return {
    attacker: await holdings(f, who),
    pool: await f.token.balanceOf(await f.pool.getAddress()),
    insurance: await f.insurance.balance(),
    keeper: await holdings(f, f.keeper),
  };
}

describe("Adversarial: front-running a visible price update gains nothing", function () {
  it("a trader who opens 100 ETH just before a +1% update and closes after pays the fees and earns nothing", async function () {
    const f = await networkHelpers.loadFixture(fixture);
    const { engine, ethFeed, alice, fee } = f;
    await engine.connect(alice).deposit(usd(100_000));
    const before = await balances(f, alice);

    // At t0 the +1% move is public: Pyth already publishes 3,030, the Chainlink update to 3,030 is in the mempool.
    // The attacker requests at once, while the chain still reads 3,000.
    const t0 = (await latest()) + 10n;
    await order(f, alice, wad(100), usd(30_000), wad(3_030), t0);
    const opened = await engine.getPosition(alice.address, ETH);
    expect(opened.entryPrice).to.equal(wad(3_030)); // the price after the move, not the 3,000 the attacker saw
    await ethFeed.updateAnswer(answer(3_030)); // the update lands
    await order(f, alice, 0n, 0n, wad(3_030), t0 + 20n, true);
    expect((await engine.getPosition(alice.address, ETH)).size).to.equal(0n);

    const after = await balances(f, alice);
    const fees = 2n * takerFee(wad(100), wad(3_030)); // 151.50 USD each way
    expect(fees).to.equal(usd("303"));
    // The attacker lost exactly its fees (taker fees to the pool, execution fees to the keeper); no price gain.
    expect(after.attacker - before.attacker).to.equal(-(fees + 2n * fee));
    expect(after.pool - before.pool).to.equal(fees);
    expect(after.insurance - before.insurance).to.equal(0n);
    expect(after.keeper - before.keeper).to.equal(2n * fee);
  });

  it("an LP who deposits 5M USD just before a -1% update and redeems after gets only its share of later prices", async function () {
    const f = await networkHelpers.loadFixture(fixture);
    const { engine, pool, ethFeed, bob, carol, lp: incumbent, fee } = f;
    // A trader long 1,000 ETH (3M USD): a -1% move is a 30,000 USD gain for the pool.
    await engine.connect(bob).deposit(usd(500_000));
    const t = (await latest()) + 10n;
    await order(f, bob, wad(1_000), usd(400_000), wad(3_000), t);
    const incumbentShares = await pool.balanceOf(incumbent.address);

    // Reference: the same move without the attacker. The incumbent's shares are then worth `reference`.
    const t0 = t + 20n;
    const snap = await networkHelpers.takeSnapshot();
    await at(t0);
    await ethFeed.updateAnswer(answer(2_970));
    const reference = await pool.convertToAssets(incumbentShares);
    await snap.restore();

    const before = await balances(f, carol);
    // At t0 Pyth publishes 2,970 and the Chainlink update to 2,970 is visible; the attacker requests a deposit.
    await lp(f, carol, usd(5_000_000) + fee, wad(2_970), t0);
    await ethFeed.updateAnswer(answer(2_970)); // the update lands
    const shares = await pool.balanceOf(carol.address);
    await lp(f, carol, shares, wad(2_970), t0 + 20n, true);

    const after = await balances(f, carol);
    // The attacker got back at most what it put in, less the two execution fees (paid to the keeper): the pool's gain
    // from the move was already in the NAV its deposit was priced at.
    const attackerGain = after.attacker - before.attacker;
    expect(attackerGain <= -2n * fee).to.equal(true);
    expect(attackerGain >= -2n * fee - 2n).to.equal(true); // and lost nothing but the fees and rounding (< 2 units)
    // The incumbent keeps its whole share of the move (rounding in its favour).
    expect(await pool.convertToAssets(incumbentShares) >= reference).to.equal(true);
    expect(after.pool - before.pool).to.equal(-(attackerGain + 2n * fee));
    expect(after.insurance).to.equal(before.insurance);
  });

  it("an LP who redeems just before a +1% update bears the move like the LPs who stay", async function () {
    const f = await networkHelpers.loadFixture(fixture);
    const { engine, pool, ethFeed, bob, lp: leaver, carol: stayer, fee } = f;
    await lp(f, stayer, usd(5_000_000) + fee, wad(3_000), (await latest()) + 10n);
    await engine.connect(bob).deposit(usd(500_000));
    const t = (await latest()) + 10n;
    await order(f, bob, wad(1_000), usd(400_000), wad(3_000), t);
    const leaverShares = await pool.balanceOf(leaver.address);
    const stayerShares = await pool.balanceOf(stayer.address);

    // At t0 Pyth publishes 3,030 (a 30,000 USD loss for the pool) and the Chainlink update is visible; the leaver
    // requests its redemption at once.
    const t0 = t + 20n;
    const before = await balances(f, leaver);
    await lp(f, leaver, leaverShares, wad(3_030), t0, true);
    await ethFeed.updateAnswer(answer(3_030));

    // The leaver was paid at the post-move NAV: per share, what the stayer's shares are worth now.
    const paid = (await balances(f, leaver)).attacker - before.attacker;
    const stayerValue = await pool.convertToAssets(stayerShares);
    // Equal shares: the leaver got (within rounding) what the stayer holds, not the pre-move value.
    expect(leaverShares - stayerShares < 10n ** 6n).to.equal(true); // both hold ~5M USD of shares
    expect(paid <= stayerValue + 1n).to.equal(true);
    expect(paid < usd(5_000_000) - usd(14_000)).to.equal(true); // it bore its ~15,000 USD half of the loss
  });
});

describe("Adversarial: open-interest caps cannot be bypassed with borrowed pool depth", function () {
  /** Caps at half the pool per side: with the 5M USD pool, 2.5M USD of longs. */
  async function cappedFixture() {
    const f = await fixture();
    await f.engine.setExposureParams(ETH, { ...EXPOSURE_PARAMS, maxLongOpenInterestRatio: wad("0.5"), maxShortOpenInterestRatio: wad("0.5") });
    const attacker = await ethers.deployContract("FlashDepositAttacker");
    // The lender holds 43M USD and approves the attacker for the loan; the attacker holds 1.2M USD of collateral.
    await f.token.mint(f.deployer.address, usd(43_000_000));
    await f.token.connect(f.deployer).approve(attacker, usd(43_000_000));
    await f.token.mint(await attacker.getAddress(), usd(1_200_000));
    return { ...f, attacker };
  }

  it("in one transaction: the borrowed deposit cannot be fulfilled, so nothing can be opened against it", async function () {
    const f = await networkHelpers.loadFixture(cappedFixture);
    const { engine, pool, token, insurance, attacker, deployer } = f;
    const before = {
      attacker: await token.balanceOf(await attacker.getAddress()),
      lender: await token.balanceOf(deployer.address),
      pool: await token.balanceOf(await pool.getAddress()),
      insurance: await insurance.balance(),
    };
    // 8,000 ETH = 24M USD against a pool inflated to 48M USD: exactly its cap, 9.6 times the real pool's.
    await expect(
      attacker.attack(pool, engine, token, deployer.address, usd(43_000_000), ETH, wad(8_000), usd(1_190_000)),
    )
      .to.be.revertedWithCustomError(pool, "VaultRequestNotReady")
      .withArgs(await attacker.getAddress(), (await latest()) + 1n + MIN_DELAY);
    expect(await token.balanceOf(await attacker.getAddress())).to.equal(before.attacker);
    expect(await token.balanceOf(deployer.address)).to.equal(before.lender);
    expect(await token.balanceOf(await pool.getAddress())).to.equal(before.pool);
    expect(await insurance.balance()).to.equal(before.insurance);
    expect(await engine.openInterest(ETH)).to.deep.equal([0n, 0n]);
  });

  it("a pending deposit adds nothing to the cap; an order sized to it is cancelled for the cap", async function () {
    const f = await networkHelpers.loadFixture(cappedFixture);
    const { engine, pool, token, deployer, alice, keeper, fee } = f;
    await token.connect(deployer).approve(pool, usd(43_000_000));
    await pool.connect(deployer).requestDeposit(usd(43_000_000), deployer.address, deployer.address);
    expect(await pool.capacity()).to.equal(usd(5_000_000));
    await engine.connect(alice).deposit(usd(1_200_000));
    const t = (await latest()) + 10n;
    await at(t);
    await engine.connect(alice).requestOrder(ETH, wad(8_000), usd(1_190_000), ethers.MaxUint256, fee);
    const id = await engine.orderCount();
    await at(t + MIN_DELAY);
    const tx = await engine.connect(keeper).executeOrder(id, [ethUpdate(wad(3_000), t + MIN_DELAY)], { value: PYTH_UPDATE_FEE });
    const reason = engine.interface.encodeErrorResult("PerpOpenInterestCapExceeded", [ETH, true, wad(24_000_000), wad(2_500_000)]);
    await expect(tx).to.emit(engine, "OrderCancelled").withArgs(id, alice.address, ETH, keeper.address, keeper.address, reason);
    expect(await engine.openInterest(ETH)).to.deep.equal([0n, 0n]);
    expect(await engine.freeBalance(alice.address)).to.equal(usd(1_200_000) - fee);
  });

  it("with real capital held across blocks: the position fits the larger pool, and the deposit cannot leave it behind", async function () {
    const f = await networkHelpers.loadFixture(cappedFixture);
    const { engine, pool, token, insurance, ethFeed, deployer, alice, fee } = f;
    await token.mint(deployer.address, fee);
    await token.connect(deployer).approve(pool, usd(43_000_000) + fee);
    await lp(f, deployer, usd(43_000_000) + fee, wad(3_000), (await latest()) + 10n);
    expect(await pool.capacity()).to.equal(usd(48_000_000));
    await engine.connect(alice).deposit(usd(1_200_000));
    const poolBefore = await token.balanceOf(await pool.getAddress());
    const insuranceBefore = await insurance.balance();
    await order(f, alice, wad(8_000), usd(1_199_000), wad(3_000), (await latest()) + 10n);
    expect((await engine.getPosition(alice.address, ETH)).size).to.equal(wad(8_000));
    expect(await engine.requiredPoolCapacity()).to.equal(usd(48_000_000));

    // The depositor asks for everything back: the redemption would leave a 5M USD pool under a 24M USD long.
    const shares = await pool.balanceOf(deployer.address);
    const t = (await latest()) + 10n;
    await at(t);
    await pool.connect(deployer).requestRedeem(shares, deployer.address, deployer.address);
    await at(t + MIN_DELAY);
    await expect(pool.connect(f.keeper).fulfillRedeem(deployer.address, [ethUpdate(wad(3_000), t + MIN_DELAY)], { value: PYTH_UPDATE_FEE }))
      .to.be.revertedWithCustomError(pool, "VaultCapacityBelowOpenInterest");

    // After a +25% move the pool still pays the winner in full: its NAV stays positive and closing works.
    await ethFeed.updateAnswer(answer(3_750));
    expect((await pool.totalAssets()) > 0n).to.equal(true);
    await time.increase(400); // the redemption request expires; it is cancelled and the shares return
    await pool.cancelRedeemRequest(deployer.address);
    const tc = (await latest()) + 10n;
    await order(f, alice, 0n, 0n, wad(3_750), tc, true);
    expect((await engine.getPosition(alice.address, ETH)).size).to.equal(0n);
    const profit = 8_000n * usd(750); // 6M USD to the trader, paid by the pool
    const fees = takerFee(wad(8_000), wad(3_000)) + takerFee(wad(8_000), wad(3_750));
    expect((await token.balanceOf(await pool.getAddress())) - poolBefore).to.equal(-profit + fees);
    expect(await insurance.balance()).to.equal(insuranceBefore);
  });
});
