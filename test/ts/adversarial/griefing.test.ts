/**
 * Dust-position griefing (docs/security.md, "Dust positions"). An attacker would like many positions too small to be
 * worth liquidating. The minimum notional (minPositionNotional, 10 USD in the fixture) stops positions below it from
 * being opened, left by a decrease (engine.trading.test.ts covers both, PerpPositionTooSmall) or left by a partial
 * liquidation; and every position that can exist, however small its notional has become since, pays its keeper at
 * least minKeeperFee (5 USD), topped up by the insurance fund, then the pool. The last part of this file shows the cost
 * of that guarantee at the fixture's parameters: the top-up can be farmed by liquidating one's own minimum positions.
 */
import { expect } from "chai";
import { network } from "hardhat";

import { ETH, RISK_PARAMS, answer, deployProtocol, deployProtocolOn, oracleConfig, TIERS, TOKEN_DECIMALS, usd, wad } from "../helpers/fixture.js";
import { snapshot } from "../helpers/engine-helpers.js";
import { MAX_UINT, WAD, engineEvents, expectSolvent } from "../helpers/liquidation-helpers.js";

const { ethers, networkHelpers } = await network.create();

const SCALE = 10n ** 12n;
/** The smallest size whose notional at 3,000 USD (rounded down) reaches the 10 USD minimum. */
const MIN_SIZE = 3_333_333_333_333_334n;
/** Collateral that covers the initial margin of a minimum position at 100x plus the opening fee. */
const MIN_COLLATERAL = usd("0.111");
const MIN_KEEPER_FEE = RISK_PARAMS.minKeeperFee / SCALE; // 5 USD in token units

/** The fixture plus 12 more funded traders. */
async function dustFixture() {
  const f = await deployProtocol(ethers);
  const dust = (await ethers.getSigners()).slice(7, 19);
  for (const s of dust) {
    await f.token.mint(s.address, usd(1_000));
    await f.token.connect(s).approve(f.engine, ethers.MaxUint256);
  }
  return { ...f, dust };
}

/** The same with an empty insurance fund: top-ups come from the pool. */
async function emptyInsuranceFixture() {
  const token = await ethers.deployContract("MockERC20", ["USD Coin", "USDC", TOKEN_DECIMALS]);
  const f = await deployProtocolOn(ethers, token, { insuranceFunds: 0n });
  const dust = (await ethers.getSigners()).slice(7, 19);
  for (const s of dust) {
    await f.token.mint(s.address, usd(1_000));
    await f.token.connect(s).approve(f.engine, ethers.MaxUint256);
  }
  return { ...f, dust };
}

type F = Awaited<ReturnType<typeof dustFixture>>;

async function openMinimum(f: F, signer: any, size: bigint = MIN_SIZE) {
  await f.engine.connect(signer).deposit(MIN_COLLATERAL);
  await f.engine.connect(signer).modifyPosition(ETH, size, MIN_COLLATERAL, size > 0n ? MAX_UINT : 0n);
}

describe("Adversarial dust positions", function () {
  describe("the minimum notional", function () {
    it("a long or short one wei below the minimum size, or of one wei, cannot be opened; the minimum size can", async function () {
      const f = await networkHelpers.loadFixture(dustFixture);
      const [attacker] = f.dust;
      await f.engine.connect(attacker).deposit(usd(1));
      const before = await snapshot(f, [attacker.address], [ETH]);
      for (const size of [MIN_SIZE - 1n, -(MIN_SIZE - 1n), 1n, -1n]) {
        const notional = ((size < 0n ? -size : size) * wad(3_000)) / WAD;
        await expect(f.engine.connect(attacker).modifyPosition(ETH, size, usd(1), size > 0n ? MAX_UINT : 0n))
          .to.be.revertedWithCustomError(f.engine, "PerpPositionTooSmall")
          .withArgs(notional, RISK_PARAMS.minPositionNotional);
      }
      expect(await snapshot(f, [attacker.address], [ETH])).to.deep.equal(before);
      await expect(f.engine.connect(attacker).modifyPosition(ETH, -MIN_SIZE, usd(1), 0n)).to.emit(f.engine, "PositionModified");
    });

    it("once the price has shrunk a position towards the minimum, a decrease below it is refused; a close works", async function () {
      const f = await networkHelpers.loadFixture(dustFixture);
      const [attacker] = f.dust;
      await f.engine.connect(attacker).deposit(usd(10));
      await f.engine.connect(attacker).modifyPosition(ETH, -wad("0.004"), usd(10), 0n); // 12 USD short
      await f.ethFeed.updateAnswer(answer(2_600)); // 10.4 USD: still at least the minimum, and in profit
      const before = await snapshot(f, [attacker.address], [ETH]);
      // Keeping 0.0038 ETH = 9.88 USD is refused, even though it only reduces risk.
      await expect(f.engine.connect(attacker).modifyPosition(ETH, wad("0.0002"), 0n, MAX_UINT))
        .to.be.revertedWithCustomError(f.engine, "PerpPositionTooSmall")
        .withArgs(wad("9.88"), RISK_PARAMS.minPositionNotional);
      expect(await snapshot(f, [attacker.address], [ETH])).to.deep.equal(before);
      await expect(f.engine.connect(attacker).closePosition(ETH, MAX_UINT)).to.emit(f.engine, "PositionModified");
      expect((await f.engine.getPosition(attacker.address, ETH)).size).to.equal(0n);
    });

    it("with partial liquidation enabled for every size, no liquidation leaves a remainder below the minimum", async function () {
      const f = await networkHelpers.loadFixture(dustFixture);
      const { engine, keeper } = f;
      // fullLiquidationNotional 0: the engine tries a partial liquidation whatever the notional.
      await engine.setRiskParams(ETH, { ...RISK_PARAMS, fullLiquidationNotional: 0n });
      // 100x longs of 10.5 USD to 5,000 USD notional.
      const notionals = ["10.5", "12", "20", "100", "1000", "2000", "5000"];
      const traders = f.dust.slice(0, notionals.length);
      for (let i = 0; i < notionals.length; i++) {
        const size = (wad(notionals[i]) * WAD) / wad(3_000) + 1n;
        const collateral = (usd(notionals[i]) * 111n) / 10_000n + 1n; // 1.11%: IM plus both fees
        await f.token.mint(traders[i].address, collateral);
        await engine.connect(traders[i]).deposit(collateral);
        await engine.connect(traders[i]).modifyPosition(ETH, size, collateral, MAX_UINT);
      }
      await f.ethFeed.updateAnswer(answer(2_983)); // about 0.57% down: every one of them below HF 1
      let partial = 0;
      let full = 0;
      for (const t of traders) {
        expect(await engine.isLiquidatable(t.address, ETH)).to.equal(true);
        const tx = await engine.connect(keeper).liquidate(t.address, ETH);
        const [ev] = await engineEvents(engine, tx, "PositionLiquidated");
        const remaining: bigint = ev.args.remainingSize;
        if (remaining === 0n) {
          full++;
        } else {
          partial++;
          const notional = (remaining * wad(2_983)) / WAD;
          expect(notional).to.be.greaterThanOrEqual(RISK_PARAMS.minPositionNotional);
          expect(await engine.isLiquidatable(t.address, ETH)).to.equal(false);
        }
        expect(ev.args.keeperReward).to.be.greaterThanOrEqual(MIN_KEEPER_FEE);
      }
      // Both outcomes occur: the small ones cannot pay the 5 USD reward and stay above the target, so they close.
      expect(full).to.be.greaterThan(0);
      expect(partial).to.be.greaterThan(0);
      await expectSolvent(engine, f.token, traders.map((t) => t.address).concat(keeper.address), [ETH]);
    });
  });

  describe("the keeper is always paid", function () {
    it("twelve minimum positions crashed to half their notional pay 12 x minKeeperFee in one batch, the insurance fund covering", async function () {
      const f = await networkHelpers.loadFixture(dustFixture);
      const { engine, keeper, insurance, token } = f;
      for (const s of f.dust) await openMinimum(f, s);
      await f.ethFeed.updateAnswer(answer(1_500)); // notional 5 USD each, equity deeply negative
      const accounts = f.dust.map((s) => s.address);
      const insuranceBefore = await token.balanceOf(await insurance.getAddress());
      const freeBefore = await engine.freeBalance(keeper.address);

      // One position alone, then all twelve: the marginal gas of a dust position in a batch.
      const single = await networkHelpers.takeSnapshot();
      const one = await (await engine.connect(keeper).liquidateBatch([accounts[0]], [ETH])).wait();
      await single.restore();
      const tx = await engine.connect(keeper).liquidateBatch(accounts, Array(accounts.length).fill(ETH));
      const all = await tx.wait();

      const liquidated = await engineEvents(engine, tx, "PositionLiquidated");
      const covered = await engineEvents(engine, tx, "ShortfallCovered");
      expect(liquidated.length).to.equal(12);
      for (const ev of liquidated) expect(ev.args.keeperReward).to.equal(MIN_KEEPER_FEE);
      expect((await engine.freeBalance(keeper.address)) - freeBefore).to.equal(12n * MIN_KEEPER_FEE);
      // Each position's whole shortfall (bad debt plus the unpaid reward) came from the insurance fund.
      let drawn = 0n;
      for (const ev of covered) {
        expect(ev.args.keeperTopUp).to.equal(MIN_KEEPER_FEE); // nothing left in the position to pay any of it
        expect(ev.args.fromPool).to.equal(0n);
        drawn += ev.args.fromInsurance;
      }
      expect(insuranceBefore - (await token.balanceOf(await insurance.getAddress()))).to.equal(drawn);
      // The marginal gas per dust position (about 31,000 here): under 50,000, which costs 3 USD at 20 gwei and 3,000 USD
      // per ETH, below the 5 USD reward; on an L2 a small fraction of a cent.
      const perPosition = (all!.gasUsed - one!.gasUsed) / 11n;
      expect(perPosition).to.be.lessThan(50_000n);
      await expectSolvent(engine, token, accounts.concat(keeper.address), [ETH]);
    });

    it("with an empty insurance fund the pool pays the top-up, and the keeper still gets minKeeperFee", async function () {
      const f = await networkHelpers.loadFixture(emptyInsuranceFixture);
      const { engine, keeper, pool, token } = f;
      await openMinimum(f, f.dust[0]);
      await f.ethFeed.updateAnswer(answer(2_900));
      const poolBefore = await token.balanceOf(await pool.getAddress());
      const tx = await engine.connect(keeper).liquidate(f.dust[0].address, ETH);
      const [ev] = await engineEvents(engine, tx, "PositionLiquidated");
      const [cover] = await engineEvents(engine, tx, "ShortfallCovered");
      expect(ev.args.keeperReward).to.equal(MIN_KEEPER_FEE);
      expect(cover.args.fromInsurance).to.equal(0n);
      expect(cover.args.fromPool).to.equal(cover.args.badDebt + cover.args.keeperTopUp);
      expect(await engine.freeBalance(keeper.address)).to.equal(MIN_KEEPER_FEE);
      // Netted: the pool paid the shortfall and kept the position's realised loss, floor(-s * 100 / 1e12) = -333,334.
      expect(ev.args.realizedPnl).to.equal(-333_334n);
      expect(poolBefore - (await token.balanceOf(await pool.getAddress()))).to.equal(cover.args.fromPool - 333_334n);
    });
  });

  describe("the cost of the guarantee: farming the keeper top-up (residual risk)", function () {
    /**
     * An attacker holds a minimum long and a minimum short, waits for ETH to move about 0.5%, liquidates its own
     * losing side as the keeper and closes the winning side. Every figure is in token units:
     *   open: fee 5,001 each (10.000000000000002 USD at 5 bp, rounded up); collateral 111,000 - 5,001 = 105,999 each.
     *   at 2,984 the long is liquidatable: PnL floor(-s * 16 / 1e12) = -53,334, value 105,999 - 53,334 = 52,665;
     *   the 5 USD reward takes all of it and the insurance fund tops up 5,000,000 - 52,665 = 4,947,335.
     *   close the short: 105,999 + 53,333 PnL - 4,974 fee = 154,358.
     *   attacker: 5,000,000 + 154,358 - 2 x 111,000 = +4,932,358; pool: 3 fees 14,976 + net PnL 1 = +14,977.
     */
    async function farm(f: F, size: bigint, collateral: bigint) {
      const [longSide, shortSide] = f.dust;
      const attackers = [longSide.address, shortSide.address];
      const tokens = async () => (await f.token.balanceOf(attackers[0])) + (await f.token.balanceOf(attackers[1]));
      const start = await tokens();
      for (const [s, sz] of [
        [longSide, size],
        [shortSide, -size],
      ] as const) {
        await f.engine.connect(s).deposit(collateral);
        await f.engine.connect(s).modifyPosition(ETH, sz, collateral, sz > 0n ? MAX_UINT : 0n);
      }
      let price = 3_000n;
      while (!(await f.engine.isLiquidatable(longSide.address, ETH))) await f.ethFeed.updateAnswer(answer(String(--price)));
      const tx = await f.engine.connect(shortSide).liquidate(longSide.address, ETH);
      await f.engine.connect(shortSide).closePosition(ETH, MAX_UINT);
      for (const s of [longSide, shortSide]) {
        const free = await f.engine.freeBalance(s.address);
        if (free > 0n) await f.engine.connect(s).withdraw(free);
      }
      return { price, tx, net: (await tokens()) - start };
    }

    it("at the fixture's parameters (10 USD minimum, 5 USD minimum reward, 0.5% MMR) each round trip nets 4.93 USD from the insurance fund", async function () {
      const f = await networkHelpers.loadFixture(dustFixture);
      const insurance = await f.insurance.getAddress();
      const pool = await f.pool.getAddress();
      const [insuranceBefore, poolBefore] = [await f.token.balanceOf(insurance), await f.token.balanceOf(pool)];
      const { price, tx, net } = await farm(f, MIN_SIZE, MIN_COLLATERAL);
      expect(price).to.equal(2_984n);
      await expect(tx)
        .to.emit(f.engine, "ShortfallCovered")
        .withArgs(f.dust[0].address, ETH, 0n, 4_947_335n, 4_947_335n, 0n);
      expect(net).to.equal(4_932_358n);
      expect((await f.token.balanceOf(insurance)) - insuranceBefore).to.equal(-4_947_335n);
      expect((await f.token.balanceOf(pool)) - poolBefore).to.equal(14_977n);
    });

    it("with minPositionNotional at least minKeeperFee / MMR (1,000 USD), a prompt liquidation pays the reward from the position and the round trip loses", async function () {
      const f = await networkHelpers.loadFixture(dustFixture);
      await f.engine.setRiskParams(ETH, { ...RISK_PARAMS, minPositionNotional: wad(1_000) });
      const insurance = await f.insurance.getAddress();
      const insuranceBefore = await f.token.balanceOf(insurance);
      const size = (wad(1_000) * WAD) / wad(3_000) + 1n;
      const { tx, net } = await farm(f, size, usd("11.1"));
      await expect(tx).to.not.emit(f.engine, "ShortfallCovered");
      const [ev] = await engineEvents(f.engine, tx, "PositionLiquidated");
      expect(ev.args.keeperReward).to.equal(MIN_KEEPER_FEE);
      expect(net).to.be.lessThan(0n);
      expect(await f.token.balanceOf(insurance)).to.be.greaterThan(insuranceBefore); // it collected a penalty
    });

    // NEEDS AN ENGINE CHANGE (ConfigLib): the protocol accepts parameters under which the top-up can be farmed, as in
    // the test above. The fix is a listing and setRiskParams/setMarginTiers rule that a minimum position holds the
    // minimum reward at maintenance: minPositionNotional * (mmr of tier 0 + takerFeeRate) >= minKeeperFee (10 USD *
    // 0.55% = 0.055 USD < 5 USD here), reverting PerpParameterOutOfBounds. (Alternatively the engine could add
    // minKeeperFee to the maintenance requirement, so positions are liquidated while they can still pay it, a change to
    // RiskLib and the SDK's mirror of it.) The fixture's and the deployment parameters would then need a 1,000 USD
    // minimum notional or a lower minimum reward.
    it.skip("listing a market whose minimum position cannot pay the minimum keeper reward at maintenance is refused [needs ConfigLib change]", async function () {
      const f = await networkHelpers.loadFixture(dustFixture);
      const feed = await ethers.deployContract("MockV3Aggregator", [8, answer(3_000)]);
      const SOL = ethers.encodeBytes32String("SOL-USD");
      await expect(f.engine.listMarket(SOL, oracleConfig(await feed.getAddress()), RISK_PARAMS, TIERS)).to.be.revertedWithCustomError(
        f.engine,
        "PerpParameterOutOfBounds",
      );
    });
  });
});
