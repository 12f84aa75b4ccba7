import { expect } from "chai";
import { network } from "hardhat";

import { deployProtocol, ETH, BTC, usd, wad, answer } from "./helpers/fixture.js";
import {
  averageEntry,
  equity36,
  healthFactor,
  initialMarginWad,
  maintenance36,
  openNotional,
  realizedPnl,
  snapshot,
  takerFee,
} from "./helpers/engine-helpers.js";

const { ethers, networkHelpers } = await network.create();

const UNKNOWN = ethers.encodeBytes32String("DOGE-USD");

async function protocolFixture() {
  return deployProtocol(ethers);
}

/** Alice: 10,000 USD deposited, long 10 ETH at 3,000 with 1,000 USD collateral (985 after the 15 USD fee). */
async function aliceLongFixture() {
  const f = await deployProtocol(ethers);
  await f.engine.connect(f.alice).deposit(usd(10_000));
  await f.engine.connect(f.alice).modifyPosition(ETH, wad(10), usd(1_000), wad(3_000));
  return f;
}

/** Bob: 10,000 USD deposited, short 10 ETH at 3,000 with 1,000 USD collateral (985 after the fee). */
async function bobShortFixture() {
  const f = await deployProtocol(ethers);
  await f.engine.connect(f.bob).deposit(usd(10_000));
  await f.engine.connect(f.bob).modifyPosition(ETH, -wad(10), usd(1_000), wad(3_000));
  return f;
}

/** Alice: 1,000 USD deposited, long 10 ETH at 3,000 at the initial-margin limit (collateral 315 after the fee). */
async function thinLongFixture() {
  const f = await deployProtocol(ethers);
  await f.engine.connect(f.alice).deposit(usd(1_000));
  await f.engine.connect(f.alice).modifyPosition(ETH, wad(10), usd(330), wad(3_000));
  return f;
}

/** Alice, Bob and Carol each long 1 ETH, opened in that order; Alice also long 0.1 BTC. */
async function threeLongsFixture() {
  const f = await deployProtocol(ethers);
  for (const s of [f.alice, f.bob, f.carol]) {
    await f.engine.connect(s).deposit(usd(1_000));
    await f.engine.connect(s).modifyPosition(ETH, wad(1), usd(100), wad(3_000));
  }
  await f.engine.connect(f.alice).modifyPosition(BTC, wad("0.1"), usd(100), wad(60_000));
  return f;
}

type Fixture = Awaited<ReturnType<typeof protocolFixture>>;

const posOf = async (f: Fixture, who: { address: string }, market = ETH) => {
  const p = await f.engine.getPosition(who.address, market);
  return { size: p.size, collateral: p.collateral, entryPrice: p.entryPrice, index: p.index };
};

const accountsOf = async (f: Fixture, market: string) => {
  const n = await f.engine.openPositionCount(market);
  const out: string[] = [];
  for (let i = 0n; i < n; i++) out.push(await f.engine.openPositionAt(market, i));
  return out;
};

describe("TidemarkEngine: trading", function () {
  describe("open", function () {
    it("opens a long: fee from collateral to the pool, position, open interest and enumeration", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      const { engine, token, pool, alice } = f;
      await engine.connect(alice).deposit(usd(10_000));

      // 10 ETH * 3,000 * 5 bp = 15 USD.
      expect(takerFee(wad(10), wad(3_000))).to.equal(usd(15));
      const tx = engine.connect(alice).modifyPosition(ETH, wad(10), usd(1_000), wad(3_000));
      await expect(tx)
        .to.emit(engine, "PositionModified")
        .withArgs(alice.address, ETH, wad(10), usd(1_000), wad(3_000), usd(15), 0n, wad(10), usd(985), wad(3_000), wad(3_000), 0n);
      await expect(tx).to.changeTokenBalances(ethers, token, [engine, pool, alice], [-usd(15), usd(15), 0n]);

      expect(await engine.freeBalance(alice.address)).to.equal(usd(9_000));
      expect(await posOf(f, alice)).to.deep.equal({ size: wad(10), collateral: usd(985), entryPrice: wad(3_000), index: 1n });
      expect(await engine.openInterest(ETH)).to.deep.equal([wad(10), 0n]);
      expect(await engine.openInterest(BTC)).to.deep.equal([0n, 0n]);
      expect(await engine.openPositionCount(ETH)).to.equal(1n);
      expect(await engine.openPositionAt(ETH, 0)).to.equal(alice.address);
      expect(await engine.totalOpenNotional()).to.equal(wad(30_000));
      // 20% of 30,000 USD.
      expect(await engine.reservedAssets()).to.equal(usd(6_000));
    });

    it("opens a short next to a long: short open interest and a second enumerated account", async function () {
      const f = await networkHelpers.loadFixture(aliceLongFixture);
      const { engine, token, pool, bob, alice } = f;
      await engine.connect(bob).deposit(usd(1_000));

      const tx = engine.connect(bob).modifyPosition(ETH, -wad(4), usd(500), wad(3_000));
      await expect(tx)
        .to.emit(engine, "PositionModified")
        .withArgs(bob.address, ETH, -wad(4), usd(500), wad(3_000), usd(6), 0n, -wad(4), usd(494), wad(3_000), wad(3_000), 0n);
      await expect(tx).to.changeTokenBalances(ethers, token, [engine, pool], [-usd(6), usd(6)]);

      expect(await engine.freeBalance(bob.address)).to.equal(usd(500));
      expect(await posOf(f, bob)).to.deep.equal({ size: -wad(4), collateral: usd(494), entryPrice: wad(3_000), index: 2n });
      expect(await engine.openInterest(ETH)).to.deep.equal([wad(10), wad(4)]);
      expect(await accountsOf(f, ETH)).to.deep.equal([alice.address, bob.address]);
      expect(await engine.totalOpenNotional()).to.equal(wad(42_000));
    });

    it("rounds the taker fee up to a whole token unit", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      const { engine, alice, ethFeed } = f;
      await ethFeed.updateAnswer(answer("3000.12345678"));
      const price = wad("3000.12345678");
      await engine.connect(alice).deposit(usd(100));
      // 0.333 * 3000.12345678 * 0.0005 = 0.49952055555... USD -> 499,521 units.
      expect(takerFee(wad("0.333"), price)).to.equal(499_521n);
      await expect(engine.connect(alice).modifyPosition(ETH, wad("0.333"), usd(50), price))
        .to.emit(engine, "PositionModified")
        .withArgs(alice.address, ETH, wad("0.333"), usd(50), price, 499_521n, 0n, wad("0.333"), usd(50) - 499_521n, price, price, 0n);
    });
  });

  describe("increase", function () {
    it("averages a long's entry price rounding up and charges the fee on the added size", async function () {
      const f = await networkHelpers.loadFixture(aliceLongFixture);
      const { engine, token, pool, alice, ethFeed } = f;
      await ethFeed.updateAnswer(answer(3_100));

      // (10 * 3000 + 5 * 3100) / 15 = 3033.333... -> rounded up for a long.
      const entry = 3_033_333_333_333_333_333_334n;
      expect(averageEntry(wad(10), wad(3_000), wad(5), wad(3_100))).to.equal(entry);
      const fee = usd("7.75");
      expect(takerFee(wad(5), wad(3_100))).to.equal(fee);

      const tx = engine.connect(alice).modifyPosition(ETH, wad(5), usd(200), wad(3_100));
      await expect(tx)
        .to.emit(engine, "PositionModified")
        .withArgs(alice.address, ETH, wad(5), usd(200), wad(3_100), fee, 0n, wad(15), usd(985 + 200) - fee, entry, wad(3_100), 0n);
      await expect(tx).to.changeTokenBalances(ethers, token, [engine, pool], [-fee, fee]);

      expect(await posOf(f, alice)).to.deep.equal({
        size: wad(15),
        collateral: usd(1_185) - fee,
        entryPrice: entry,
        index: 1n,
      });
      expect(await engine.freeBalance(alice.address)).to.equal(usd(8_800));
      expect(await engine.openInterest(ETH)).to.deep.equal([wad(15), 0n]);
      expect(await engine.openPositionCount(ETH)).to.equal(1n);
      // |size| * entry rounded up: 15 * 3033.333...334.
      expect(await engine.totalOpenNotional()).to.equal(45_500_000_000_000_000_000_010n);
      expect(await engine.totalOpenNotional()).to.equal(openNotional(wad(15), entry));
    });

    it("averages a short's entry price rounding down", async function () {
      const f = await networkHelpers.loadFixture(bobShortFixture);
      const { engine, bob, ethFeed } = f;
      await ethFeed.updateAnswer(answer(2_900));

      // (10 * 3000 + 5 * 2900) / 15 = 2966.666... -> rounded down for a short.
      const entry = 2_966_666_666_666_666_666_666n;
      expect(averageEntry(-wad(10), wad(3_000), -wad(5), wad(2_900))).to.equal(entry);
      expect(averageEntry(wad(10), wad(3_000), wad(5), wad(2_900))).to.equal(entry + 1n);
      await expect(engine.connect(bob).modifyPosition(ETH, -wad(5), 0, wad(2_900)))
        .to.emit(engine, "PositionModified")
        .withArgs(bob.address, ETH, -wad(5), 0n, wad(2_900), usd("7.25"), 0n, -wad(15), usd(985) - usd("7.25"), entry, wad(2_900), 0n);
      expect(await engine.openInterest(ETH)).to.deep.equal([0n, wad(15)]);
      // 15 * 2966.666...666 = 44,499.99...99 rounded up.
      expect(await engine.totalOpenNotional()).to.equal(44_499_999_999_999_999_999_990n);
      expect(await engine.totalOpenNotional()).to.equal(openNotional(wad(15), entry));
    });

    it("reverts PerpInsufficientMargin(account, market, equity, required) when the increase exceeds the tiered IM", async function () {
      const f = await networkHelpers.loadFixture(aliceLongFixture);
      const { engine, alice } = f;
      // 110 ETH * 3000 = 330k notional: IM = 50k*1% + 200k*2% + 80k*2.5% = 6,500 USD.
      expect(initialMarginWad(wad(110), wad(3_000))).to.equal(wad(6_500));
      // Collateral 985 - 150 fee = 835, less the 165 USD closing fee on 110 ETH = 670 USD equity.
      const before = await snapshot(f, [alice], [ETH]);
      await expect(engine.connect(alice).modifyPosition(ETH, wad(100), 0, wad(3_000)))
        .to.be.revertedWithCustomError(engine, "PerpInsufficientMargin")
        .withArgs(alice.address, ETH, wad(670), wad(6_500));
      expect(await snapshot(f, [alice], [ETH])).to.deep.equal(before);
    });
  });

  describe("decrease", function () {
    it("long decrease with profit: realised PnL into collateral, paid by the pool", async function () {
      const f = await networkHelpers.loadFixture(aliceLongFixture);
      const { engine, token, pool, alice, ethFeed } = f;
      await ethFeed.updateAnswer(answer(3_300));

      // 4 * (3300 - 3000) = 1,200 USD profit; fee 4 * 3300 * 5 bp = 6.6 USD.
      expect(realizedPnl(-wad(4), wad(3_300), wad(3_000))).to.equal(usd(1_200));
      const tx = engine.connect(alice).modifyPosition(ETH, -wad(4), 0, wad(3_300));
      await expect(tx)
        .to.emit(engine, "PositionModified")
        .withArgs(alice.address, ETH, -wad(4), 0n, wad(3_300), usd("6.6"), usd(1_200), wad(6), usd("2178.4"), wad(3_000), wad(3_300), 0n);
      await expect(tx).to.changeTokenBalances(ethers, token, [engine, pool, alice], [usd("1193.4"), -usd("1193.4"), 0n]);

      expect(await posOf(f, alice)).to.deep.equal({ size: wad(6), collateral: usd("2178.4"), entryPrice: wad(3_000), index: 1n });
      expect(await engine.freeBalance(alice.address)).to.equal(usd(9_000));
      expect(await engine.openInterest(ETH)).to.deep.equal([wad(6), 0n]);
      expect(await engine.totalOpenNotional()).to.equal(wad(18_000));
    });

    it("long decrease with a loss: PnL rounds towards -infinity, the pool receives loss plus fee", async function () {
      const f = await networkHelpers.loadFixture(aliceLongFixture);
      const { engine, token, pool, alice, ethFeed } = f;
      const price = wad("2999.87654322");
      await ethFeed.updateAnswer(answer("2999.87654322"));

      // 0.333 * -0.12345678 = -0.04111110774 USD -> floor = -41,112 units (not -41,111).
      const pnl = -41_112n;
      expect(realizedPnl(-wad("0.333"), price, wad(3_000))).to.equal(pnl);
      // 0.333 * 2999.87654322 * 5 bp = 0.499479444... -> 499,480 units.
      const fee = 499_480n;
      expect(takerFee(wad("0.333"), price)).to.equal(fee);

      const tx = engine.connect(alice).modifyPosition(ETH, -wad("0.333"), 0, price);
      await expect(tx)
        .to.emit(engine, "PositionModified")
        .withArgs(alice.address, ETH, -wad("0.333"), 0n, price, fee, pnl, wad("9.667"), usd(985) + pnl - fee, wad(3_000), price, 0n);
      await expect(tx).to.changeTokenBalances(ethers, token, [engine, pool], [-(fee - pnl), fee - pnl]);
      expect((await posOf(f, alice)).collateral).to.equal(984_459_408n);
    });

    it("long decrease with a fractional profit rounds the PnL down", async function () {
      const f = await networkHelpers.loadFixture(aliceLongFixture);
      const { engine, token, pool, alice, ethFeed } = f;
      const price = wad("3000.12345678");
      await ethFeed.updateAnswer(answer("3000.12345678"));
      // 0.04111110774 USD -> 41,111 units.
      expect(realizedPnl(-wad("0.333"), price, wad(3_000))).to.equal(41_111n);
      const tx = engine.connect(alice).modifyPosition(ETH, -wad("0.333"), 0, price);
      await expect(tx)
        .to.emit(engine, "PositionModified")
        .withArgs(alice.address, ETH, -wad("0.333"), 0n, price, 499_521n, 41_111n, wad("9.667"), usd(985) + 41_111n - 499_521n, wad(3_000), price, 0n);
      // Fee 499,521 exceeds the profit: the pool nets +458,410.
      await expect(tx).to.changeTokenBalances(ethers, token, [engine, pool], [-458_410n, 458_410n]);
    });

    it("short decrease with profit and with loss", async function () {
      const f = await networkHelpers.loadFixture(bobShortFixture);
      const { engine, token, pool, bob, ethFeed } = f;

      // Profit: price falls to 2,900; buy back 4 ETH: +400 USD, fee 5.8 USD.
      await ethFeed.updateAnswer(answer(2_900));
      expect(realizedPnl(wad(4), wad(2_900), wad(3_000))).to.equal(usd(400));
      let tx = engine.connect(bob).modifyPosition(ETH, wad(4), 0, wad(2_900));
      await expect(tx)
        .to.emit(engine, "PositionModified")
        .withArgs(bob.address, ETH, wad(4), 0n, wad(2_900), usd("5.8"), usd(400), -wad(6), usd("1379.2"), wad(3_000), wad(2_900), 0n);
      await expect(tx).to.changeTokenBalances(ethers, token, [engine, pool], [usd("394.2"), -usd("394.2")]);

      // Loss: price rises to 3,100; buy back 2 ETH: -200 USD, fee 3.1 USD.
      await ethFeed.updateAnswer(answer(3_100));
      tx = engine.connect(bob).modifyPosition(ETH, wad(2), 0, wad(3_100));
      await expect(tx)
        .to.emit(engine, "PositionModified")
        .withArgs(bob.address, ETH, wad(2), 0n, wad(3_100), usd("3.1"), -usd(200), -wad(4), usd("1176.1"), wad(3_000), wad(3_100), 0n);
      await expect(tx).to.changeTokenBalances(ethers, token, [engine, pool], [-usd("203.1"), usd("203.1")]);

      expect(await engine.openInterest(ETH)).to.deep.equal([0n, wad(4)]);
      expect(await engine.totalOpenNotional()).to.equal(wad(12_000));
      expect(await engine.freeBalance(bob.address)).to.equal(usd(9_000));
    });

    it("a decrease with a negative collateral delta pays out to the free balance, subject to IM", async function () {
      const f = await networkHelpers.loadFixture(aliceLongFixture);
      const { engine, alice } = f;
      // After selling 5 ETH: collateral 985 - 7.5 fee - X; IM on 15,000 USD = 150; closing fee 7.5.
      // equity = 970 - X >= 150  <=>  X <= 820 USD.
      const before = await snapshot(f, [alice], [ETH]);
      await expect(engine.connect(alice).modifyPosition(ETH, -wad(5), -(usd(820) + 1n), 0))
        .to.be.revertedWithCustomError(engine, "PerpInsufficientMargin")
        .withArgs(alice.address, ETH, wad(150) - 10n ** 12n, wad(150));
      expect(await snapshot(f, [alice], [ETH])).to.deep.equal(before);

      await expect(engine.connect(alice).modifyPosition(ETH, -wad(5), -usd(820), 0))
        .to.emit(engine, "PositionModified")
        .withArgs(alice.address, ETH, -wad(5), -usd(820), wad(3_000), usd("7.5"), 0n, wad(5), usd("157.5"), wad(3_000), wad(3_000), 0n);
      expect(await engine.freeBalance(alice.address)).to.equal(usd(9_820));
    });

    it("reverts PerpPositionTooSmall when the remainder is below the minimum notional", async function () {
      const f = await networkHelpers.loadFixture(aliceLongFixture);
      const { engine, alice } = f;
      const before = await snapshot(f, [alice], [ETH]);
      // Leaves 0.003 ETH = 9 USD < 10 USD.
      await expect(engine.connect(alice).modifyPosition(ETH, -(wad(10) - wad("0.003")), 0, 0))
        .to.be.revertedWithCustomError(engine, "PerpPositionTooSmall")
        .withArgs(wad(9), wad(10));
      expect(await snapshot(f, [alice], [ETH])).to.deep.equal(before);
    });
  });

  describe("close", function () {
    it("returns collateral + PnL - fee to the free balance and deletes the position", async function () {
      const f = await networkHelpers.loadFixture(aliceLongFixture);
      const { engine, token, pool, alice, ethFeed } = f;
      await ethFeed.updateAnswer(answer(3_300));
      // PnL 10 * 300 = 3,000; fee 10 * 3300 * 5 bp = 16.5; 985 + 3000 - 16.5 = 3,968.5.
      const tx = engine.connect(alice).closePosition(ETH, wad(3_300));
      await expect(tx)
        .to.emit(engine, "PositionModified")
        .withArgs(alice.address, ETH, -wad(10), 0n, wad(3_300), usd("16.5"), usd(3_000), 0n, 0n, 0n, wad(3_300), 0n);
      await expect(tx).to.changeTokenBalances(ethers, token, [engine, pool], [usd("2983.5"), -usd("2983.5")]);
      await expect(tx).not.to.emit(engine, "ShortfallCovered");

      expect(await engine.freeBalance(alice.address)).to.equal(usd(9_000) + usd("3968.5"));
      expect(await posOf(f, alice)).to.deep.equal({ size: 0n, collateral: 0n, entryPrice: 0n, index: 0n });
      expect(await engine.openInterest(ETH)).to.deep.equal([0n, 0n]);
      expect(await engine.openPositionCount(ETH)).to.equal(0n);
      expect(await engine.totalOpenNotional()).to.equal(0n);
      expect(await engine.reservedAssets()).to.equal(0n);

      // Everything can be withdrawn: 10,000 deposited + 3,000 profit - 15 - 16.5 fees.
      await expect(engine.connect(alice).withdraw(usd("12968.5"))).to.changeTokenBalance(
        ethers,
        token,
        alice,
        usd("12968.5"),
      );
      expect(await token.balanceOf(await engine.getAddress())).to.equal(0n);
    });

    it("closes a short at a loss through modifyPosition(-size) with the same accounting", async function () {
      const f = await networkHelpers.loadFixture(bobShortFixture);
      const { engine, token, pool, bob, ethFeed } = f;
      await ethFeed.updateAnswer(answer(3_050));
      // PnL -500; fee 15.25; 985 - 500 - 15.25 = 469.75.
      const tx = engine.connect(bob).modifyPosition(ETH, wad(10), 0, wad(3_050));
      await expect(tx)
        .to.emit(engine, "PositionModified")
        .withArgs(bob.address, ETH, wad(10), 0n, wad(3_050), usd("15.25"), -usd(500), 0n, 0n, 0n, wad(3_050), 0n);
      await expect(tx).to.changeTokenBalances(ethers, token, [engine, pool], [-usd("515.25"), usd("515.25")]);
      expect(await engine.freeBalance(bob.address)).to.equal(usd("9469.75"));
      expect(await engine.openInterest(ETH)).to.deep.equal([0n, 0n]);
      expect(await engine.openPositionCount(ETH)).to.equal(0n);
    });

    it("swap-and-pops the enumeration when a middle position closes, keeping indexes consistent", async function () {
      const f = await networkHelpers.loadFixture(threeLongsFixture);
      const { engine, alice, bob, carol } = f;
      expect(await accountsOf(f, ETH)).to.deep.equal([alice.address, bob.address, carol.address]);

      await engine.connect(bob).closePosition(ETH, 0);
      expect(await accountsOf(f, ETH)).to.deep.equal([alice.address, carol.address]);
      expect((await posOf(f, carol)).index).to.equal(2n);
      expect((await posOf(f, alice)).index).to.equal(1n);
      expect(await engine.openInterest(ETH)).to.deep.equal([wad(2), 0n]);
      // The other market's list is untouched.
      expect(await accountsOf(f, BTC)).to.deep.equal([alice.address]);

      // Carol (moved) closes from her new slot, then Alice.
      await engine.connect(carol).closePosition(ETH, 0);
      expect(await accountsOf(f, ETH)).to.deep.equal([alice.address]);
      await engine.connect(alice).closePosition(ETH, 0);
      expect(await accountsOf(f, ETH)).to.deep.equal([]);
      expect(await accountsOf(f, BTC)).to.deep.equal([alice.address]);
      expect(await engine.totalOpenNotional()).to.equal(wad(6_000));
    });

    it("moves the last account into the first slot when the first position closes", async function () {
      const f = await networkHelpers.loadFixture(threeLongsFixture);
      const { engine, alice, bob, carol } = f;
      await engine.connect(alice).closePosition(ETH, 0);
      expect(await accountsOf(f, ETH)).to.deep.equal([carol.address, bob.address]);
      expect((await posOf(f, carol)).index).to.equal(1n);
      expect((await posOf(f, bob)).index).to.equal(2n);

      // A fresh open appends at the end.
      await engine.connect(alice).modifyPosition(ETH, wad(1), usd(100), wad(3_000));
      expect(await accountsOf(f, ETH)).to.deep.equal([carol.address, bob.address, alice.address]);
      expect((await posOf(f, alice)).index).to.equal(3n);

      await engine.connect(bob).closePosition(ETH, 0);
      expect(await accountsOf(f, ETH)).to.deep.equal([carol.address, alice.address]);
      expect((await posOf(f, alice)).index).to.equal(2n);
    });

    it("covers a loss beyond collateral from insurance first (ShortfallCovered)", async function () {
      const f = await networkHelpers.loadFixture(thinLongFixture);
      const { engine, token, pool, insurance, alice, ethFeed } = f;
      await ethFeed.updateAnswer(answer(2_900));
      // 315 - 1,000 - 14.5 = -699.5 USD of bad debt.
      const tx = engine.connect(alice).closePosition(ETH, 0);
      await expect(tx)
        .to.emit(engine, "PositionModified")
        .withArgs(alice.address, ETH, -wad(10), 0n, wad(2_900), usd("14.5"), -usd(1_000), 0n, 0n, 0n, wad(2_900), 0n);
      await expect(tx)
        .to.emit(engine, "ShortfallCovered")
        .withArgs(alice.address, ETH, usd("699.5"), 0n, usd("699.5"), 0n);
      await expect(tx).to.changeTokenBalances(
        ethers,
        token,
        [engine, pool, insurance],
        [-usd(315), usd("1014.5"), -usd("699.5")],
      );
      // The free balance outside the position is untouched: nothing is clawed back.
      expect(await engine.freeBalance(alice.address)).to.equal(usd(670));
      expect(await engine.openPositionCount(ETH)).to.equal(0n);
    });

    it("covers the part of a shortfall beyond the insurance balance from the pool", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      const { engine, token, pool, insurance, alice, ethFeed } = f;
      await engine.connect(alice).deposit(usd(200_000));
      // 1,000 ETH = 3M notional: IM = 500 + 4,000 + 18,750 + 100,000 = 123,250 USD.
      expect(initialMarginWad(wad(1_000), wad(3_000))).to.equal(wad(123_250));
      await engine.connect(alice).modifyPosition(ETH, wad(1_000), usd(130_000), wad(3_000));
      await ethFeed.updateAnswer(answer(2_000));
      // 128,500 - 1,000,000 - 1,000 = -872,500; insurance holds 100,000.
      const tx = engine.connect(alice).closePosition(ETH, 0);
      await expect(tx)
        .to.emit(engine, "ShortfallCovered")
        .withArgs(alice.address, ETH, usd(872_500), 0n, usd(100_000), usd(772_500));
      await expect(tx).to.changeTokenBalances(
        ethers,
        token,
        [engine, pool, insurance],
        [-usd(128_500), usd(228_500), -usd(100_000)],
      );
      expect(await engine.freeBalance(alice.address)).to.equal(usd(70_000));
      expect(await token.balanceOf(await insurance.getAddress())).to.equal(0n);
    });
  });

  describe("collateral", function () {
    it("addCollateral moves the free balance into the position and emits CollateralModified", async function () {
      const f = await networkHelpers.loadFixture(aliceLongFixture);
      const { engine, token, pool, alice } = f;
      const tx = engine.connect(alice).addCollateral(ETH, usd(100));
      await expect(tx).to.emit(engine, "CollateralModified").withArgs(alice.address, ETH, usd(100), usd(1_085));
      await expect(tx).to.changeTokenBalances(ethers, token, [engine, pool, alice], [0n, 0n, 0n]);
      expect(await engine.freeBalance(alice.address)).to.equal(usd(8_900));
      expect(await posOf(f, alice)).to.deep.equal({ size: wad(10), collateral: usd(1_085), entryPrice: wad(3_000), index: 1n });
    });

    it("addCollateral rejects zero, no position, unknown market and more than the free balance", async function () {
      const f = await networkHelpers.loadFixture(aliceLongFixture);
      const { engine, alice, bob } = f;
      const before = await snapshot(f, [alice, bob], [ETH, BTC]);
      await expect(engine.connect(alice).addCollateral(ETH, 0)).to.be.revertedWithCustomError(engine, "PerpZeroAmount");
      await engine.connect(bob).deposit(usd(10));
      const afterDeposit = await snapshot(f, [alice, bob], [ETH, BTC]);
      await expect(engine.connect(bob).addCollateral(ETH, usd(10)))
        .to.be.revertedWithCustomError(engine, "PerpNoPosition")
        .withArgs(bob.address, ETH);
      await expect(engine.connect(alice).addCollateral(BTC, usd(10)))
        .to.be.revertedWithCustomError(engine, "PerpNoPosition")
        .withArgs(alice.address, BTC);
      await expect(engine.connect(alice).addCollateral(UNKNOWN, usd(10)))
        .to.be.revertedWithCustomError(engine, "PerpUnknownMarket")
        .withArgs(UNKNOWN);
      await expect(engine.connect(alice).addCollateral(ETH, usd(9_000) + 1n))
        .to.be.revertedWithCustomError(engine, "PerpInsufficientFreeBalance")
        .withArgs(alice.address, usd(9_000), usd(9_000) + 1n);
      expect(await snapshot(f, [alice, bob], [ETH, BTC])).to.deep.equal(afterDeposit);
      expect(afterDeposit[`pos:${alice.address}:${ETH}`]).to.deep.equal(before[`pos:${alice.address}:${ETH}`]);
    });

    it("removeCollateral pays out down to exactly the initial margin", async function () {
      const f = await networkHelpers.loadFixture(aliceLongFixture);
      const { engine, alice } = f;
      // Equity 985 - 15 closing fee = 970; IM 300: at most 670 USD can leave.
      const tx = engine.connect(alice).removeCollateral(ETH, usd(670));
      await expect(tx).to.emit(engine, "CollateralModified").withArgs(alice.address, ETH, -usd(670), usd(315));
      await expect(tx).to.changeTokenBalances(ethers, f.token, [engine, alice], [0n, 0n]);
      expect(await engine.freeBalance(alice.address)).to.equal(usd(9_670));
      expect((await posOf(f, alice)).collateral).to.equal(usd(315));
    });

    it("removeCollateral reverts PerpInsufficientMargin one unit past the IM, and PerpInsufficientCollateral above the collateral", async function () {
      const f = await networkHelpers.loadFixture(aliceLongFixture);
      const { engine, alice, bob } = f;
      const before = await snapshot(f, [alice, bob], [ETH]);
      await expect(engine.connect(alice).removeCollateral(ETH, usd(670) + 1n))
        .to.be.revertedWithCustomError(engine, "PerpInsufficientMargin")
        .withArgs(alice.address, ETH, wad(300) - 10n ** 12n, wad(300));
      await expect(engine.connect(alice).removeCollateral(ETH, usd(985) + 1n))
        .to.be.revertedWithCustomError(engine, "PerpInsufficientCollateral")
        .withArgs(usd(985), usd(985) + 1n);
      await expect(engine.connect(alice).removeCollateral(ETH, 0)).to.be.revertedWithCustomError(engine, "PerpZeroAmount");
      await expect(engine.connect(bob).removeCollateral(ETH, 1n))
        .to.be.revertedWithCustomError(engine, "PerpNoPosition")
        .withArgs(bob.address, ETH);
      await expect(engine.connect(alice).removeCollateral(UNKNOWN, 1n))
        .to.be.revertedWithCustomError(engine, "PerpUnknownMarket")
        .withArgs(UNKNOWN);
      expect(await snapshot(f, [alice, bob], [ETH])).to.deep.equal(before);
    });
  });

  describe("bad inputs", function () {
    it("sizeDelta 0 reverts PerpZeroAmount", async function () {
      const f = await networkHelpers.loadFixture(aliceLongFixture);
      const before = await snapshot(f, [f.alice], [ETH]);
      await expect(f.engine.connect(f.alice).modifyPosition(ETH, 0, usd(10), wad(3_000))).to.be.revertedWithCustomError(
        f.engine,
        "PerpZeroAmount",
      );
      expect(await snapshot(f, [f.alice], [ETH])).to.deep.equal(before);
    });

    it("an unknown market reverts PerpUnknownMarket(market)", async function () {
      const f = await networkHelpers.loadFixture(aliceLongFixture);
      const before = await snapshot(f, [f.alice], [ETH]);
      await expect(f.engine.connect(f.alice).modifyPosition(UNKNOWN, wad(1), usd(100), wad(3_000)))
        .to.be.revertedWithCustomError(f.engine, "PerpUnknownMarket")
        .withArgs(UNKNOWN);
      expect(await snapshot(f, [f.alice], [ETH])).to.deep.equal(before);
    });

    it("a position below the minimum notional reverts PerpPositionTooSmall(notional, min); the exact minimum passes", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      const { engine, alice } = f;
      await engine.connect(alice).deposit(usd(100));
      const before = await snapshot(f, [alice], [ETH]);
      await expect(engine.connect(alice).modifyPosition(ETH, wad("0.003"), usd(10), wad(3_000)))
        .to.be.revertedWithCustomError(engine, "PerpPositionTooSmall")
        .withArgs(wad(9), wad(10));
      // Notional is rounded down: 3333333333333333 wei * 3000 = 9.999999999999999 USD.
      await expect(engine.connect(alice).modifyPosition(ETH, 3_333_333_333_333_333n, usd(10), wad(3_000)))
        .to.be.revertedWithCustomError(engine, "PerpPositionTooSmall")
        .withArgs(9_999_999_999_999_999_000n, wad(10));
      expect(await snapshot(f, [alice], [ETH])).to.deep.equal(before);

      await expect(engine.connect(alice).modifyPosition(ETH, 3_333_333_333_333_334n, usd(10), wad(3_000))).to.emit(
        engine,
        "PositionModified",
      );
    });

    it("leverage beyond the IMR reverts PerpInsufficientMargin with exact equity and requirement", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      const { engine, alice } = f;
      await engine.connect(alice).deposit(usd(10_000));
      const before = await snapshot(f, [alice], [ETH]);

      // 10 ETH: IM 300; collateral = delta - 15 fee; equity = collateral - 15 closing fee. Boundary at 330 USD.
      await expect(engine.connect(alice).modifyPosition(ETH, wad(10), usd(330) - 1n, wad(3_000)))
        .to.be.revertedWithCustomError(engine, "PerpInsufficientMargin")
        .withArgs(alice.address, ETH, wad(300) - 10n ** 12n, wad(300));
      // 100 ETH = 300k notional crosses three tiers: IM = 500 + 4,000 + 1,250 = 5,750; fees 150 + 150.
      expect(initialMarginWad(wad(100), wad(3_000))).to.equal(wad(5_750));
      await expect(engine.connect(alice).modifyPosition(ETH, wad(100), usd(6_050) - 1n, wad(3_000)))
        .to.be.revertedWithCustomError(engine, "PerpInsufficientMargin")
        .withArgs(alice.address, ETH, wad(5_750) - 10n ** 12n, wad(5_750));
      // Without collateral the fee alone makes collateral negative: reported as equity = -15 USD, required 0.
      await expect(engine.connect(alice).modifyPosition(ETH, wad(10), 0, wad(3_000)))
        .to.be.revertedWithCustomError(engine, "PerpInsufficientMargin")
        .withArgs(alice.address, ETH, -wad(15), 0n);
      // Collateral delta above the free balance.
      await expect(engine.connect(alice).modifyPosition(ETH, wad(10), usd(10_000) + 1n, wad(3_000)))
        .to.be.revertedWithCustomError(engine, "PerpInsufficientFreeBalance")
        .withArgs(alice.address, usd(10_000), usd(10_000) + 1n);
      expect(await snapshot(f, [alice], [ETH])).to.deep.equal(before);

      // Exactly at the boundary both succeed.
      await expect(engine.connect(alice).modifyPosition(ETH, wad(10), usd(330), wad(3_000)))
        .to.emit(engine, "PositionModified")
        .withArgs(alice.address, ETH, wad(10), usd(330), wad(3_000), usd(15), 0n, wad(10), usd(315), wad(3_000), wad(3_000), 0n);
      await expect(engine.connect(alice).modifyPosition(BTC, wad(5), usd(6_050), wad(60_000)))
        .to.emit(engine, "PositionModified")
        .withArgs(alice.address, BTC, wad(5), usd(6_050), wad(60_000), usd(150), 0n, wad(5), usd(5_900), wad(60_000), wad(60_000), 0n);
    });

    it("a size above MAX_POSITION_SIZE reverts PerpPositionTooLarge", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      const { engine, token, alice, ethFeed } = f;
      await ethFeed.updateAnswer(answer(1));
      const max = 10n ** 30n;
      // Fee on 1e30 + 1 units at 1 USD is 5e14 + 1 token units.
      await token.mint(alice.address, 10n ** 15n);
      await engine.connect(alice).deposit(10n ** 15n);
      const before = await snapshot(f, [alice], [ETH]);
      await expect(engine.connect(alice).modifyPosition(ETH, max + 1n, 6n * 10n ** 14n, wad(1)))
        .to.be.revertedWithCustomError(engine, "PerpPositionTooLarge")
        .withArgs(max + 1n, max);
      expect(await snapshot(f, [alice], [ETH])).to.deep.equal(before);
    });

    it("absurd deltas revert with specific errors before any arithmetic can overflow", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      const { engine, alice } = f;
      await engine.connect(alice).deposit(usd(1_000));
      const before = await snapshot(f, [alice], [ETH]);
      const huge = 2n ** 200n;
      await expect(engine.connect(alice).modifyPosition(ETH, huge, usd(100), ethers.MaxUint256))
        .to.be.revertedWithCustomError(engine, "PerpPositionTooLarge")
        .withArgs(huge, 10n ** 30n);
      await expect(engine.connect(alice).modifyPosition(ETH, -huge, usd(100), 0))
        .to.be.revertedWithCustomError(engine, "PerpPositionTooLarge")
        .withArgs(huge, 10n ** 30n);
      const minInt = -(2n ** 255n);
      await expect(engine.connect(alice).modifyPosition(ETH, wad(1), minInt, wad(3_100)))
        .to.be.revertedWithCustomError(engine, "PerpInsufficientCollateral")
        .withArgs(0n, 2n ** 255n);
      expect(await snapshot(f, [alice], [ETH])).to.deep.equal(before);
    });

    it("flipping sides in one call reverts PerpPositionFlip(size, sizeDelta)", async function () {
      const f = await networkHelpers.loadFixture(aliceLongFixture);
      const { engine, alice, bob } = f;
      await engine.connect(bob).deposit(usd(1_000));
      await engine.connect(bob).modifyPosition(ETH, -wad(4), usd(500), wad(3_000));
      const before = await snapshot(f, [alice, bob], [ETH]);
      await expect(engine.connect(alice).modifyPosition(ETH, -wad(11), 0, 0))
        .to.be.revertedWithCustomError(engine, "PerpPositionFlip")
        .withArgs(wad(10), -wad(11));
      await expect(engine.connect(bob).modifyPosition(ETH, wad(4) + 1n, 0, wad(3_000)))
        .to.be.revertedWithCustomError(engine, "PerpPositionFlip")
        .withArgs(-wad(4), wad(4) + 1n);
      expect(await snapshot(f, [alice, bob], [ETH])).to.deep.equal(before);
    });

    it("slippage reverts PerpSlippage(executionPrice, acceptablePrice) for buys and sells; the exact bound passes", async function () {
      const f = await networkHelpers.loadFixture(aliceLongFixture);
      const { engine, alice, bob } = f;
      await engine.connect(bob).deposit(usd(1_000));
      const before = await snapshot(f, [alice, bob], [ETH]);
      const p = wad(3_000);
      // Buys: execution price must be <= acceptable.
      await expect(engine.connect(bob).modifyPosition(ETH, wad(1), usd(100), p - 1n))
        .to.be.revertedWithCustomError(engine, "PerpSlippage")
        .withArgs(p, p - 1n);
      await expect(engine.connect(alice).modifyPosition(ETH, wad(1), 0, p - 1n))
        .to.be.revertedWithCustomError(engine, "PerpSlippage")
        .withArgs(p, p - 1n);
      // Sells: execution price must be >= acceptable.
      await expect(engine.connect(bob).modifyPosition(ETH, -wad(1), usd(100), p + 1n))
        .to.be.revertedWithCustomError(engine, "PerpSlippage")
        .withArgs(p, p + 1n);
      await expect(engine.connect(alice).modifyPosition(ETH, -wad(1), 0, p + 1n))
        .to.be.revertedWithCustomError(engine, "PerpSlippage")
        .withArgs(p, p + 1n);
      await expect(engine.connect(alice).closePosition(ETH, p + 1n))
        .to.be.revertedWithCustomError(engine, "PerpSlippage")
        .withArgs(p, p + 1n);
      expect(await snapshot(f, [alice, bob], [ETH])).to.deep.equal(before);

      await expect(engine.connect(bob).modifyPosition(ETH, -wad(1), usd(100), p)).to.emit(engine, "PositionModified");
      // Closing a short is a buy: an acceptable price below the mark fails.
      await expect(engine.connect(bob).closePosition(ETH, p - 1n))
        .to.be.revertedWithCustomError(engine, "PerpSlippage")
        .withArgs(p, p - 1n);
      await expect(engine.connect(bob).closePosition(ETH, p)).to.emit(engine, "PositionModified");
      await expect(engine.connect(alice).closePosition(ETH, p)).to.emit(engine, "PositionModified");
    });

    it("a collateral delta on a full close reverts PerpCollateralDeltaOnClose", async function () {
      const f = await networkHelpers.loadFixture(aliceLongFixture);
      const { engine, alice } = f;
      const before = await snapshot(f, [alice], [ETH]);
      await expect(engine.connect(alice).modifyPosition(ETH, -wad(10), 1n, 0))
        .to.be.revertedWithCustomError(engine, "PerpCollateralDeltaOnClose")
        .withArgs(1n);
      await expect(engine.connect(alice).modifyPosition(ETH, -wad(10), -usd(1), 0))
        .to.be.revertedWithCustomError(engine, "PerpCollateralDeltaOnClose")
        .withArgs(-usd(1));
      expect(await snapshot(f, [alice], [ETH])).to.deep.equal(before);
    });

    it("closing without a position reverts PerpNoPosition(account, market)", async function () {
      const f = await networkHelpers.loadFixture(aliceLongFixture);
      const { engine, alice, bob } = f;
      const before = await snapshot(f, [alice, bob], [ETH, BTC]);
      await expect(engine.connect(bob).closePosition(ETH, 0))
        .to.be.revertedWithCustomError(engine, "PerpNoPosition")
        .withArgs(bob.address, ETH);
      await expect(engine.connect(alice).closePosition(BTC, 0))
        .to.be.revertedWithCustomError(engine, "PerpNoPosition")
        .withArgs(alice.address, BTC);
      expect(await snapshot(f, [alice, bob], [ETH, BTC])).to.deep.equal(before);
      await engine.connect(alice).closePosition(ETH, 0);
      await expect(engine.connect(alice).closePosition(ETH, 0))
        .to.be.revertedWithCustomError(engine, "PerpNoPosition")
        .withArgs(alice.address, ETH);
    });
  });

  describe("pause", function () {
    it("a paused market blocks opening and increasing only on that market", async function () {
      const f = await networkHelpers.loadFixture(aliceLongFixture);
      const { engine, alice, bob, guardian } = f;
      await engine.connect(bob).deposit(usd(2_000));
      await engine.connect(guardian).setMarketPaused(ETH, true);
      const before = await snapshot(f, [alice, bob], [ETH, BTC]);

      await expect(engine.connect(bob).modifyPosition(ETH, wad(1), usd(100), wad(3_000)))
        .to.be.revertedWithCustomError(engine, "PerpMarketPaused")
        .withArgs(ETH);
      await expect(engine.connect(bob).modifyPosition(ETH, -wad(1), usd(100), 0))
        .to.be.revertedWithCustomError(engine, "PerpMarketPaused")
        .withArgs(ETH);
      await expect(engine.connect(alice).modifyPosition(ETH, wad(1), 0, wad(3_000)))
        .to.be.revertedWithCustomError(engine, "PerpMarketPaused")
        .withArgs(ETH);
      expect(await snapshot(f, [alice, bob], [ETH, BTC])).to.deep.equal(before);

      // Other markets still open.
      await expect(engine.connect(bob).modifyPosition(BTC, wad("0.1"), usd(100), wad(60_000))).to.emit(engine, "PositionModified");
      // Risk-reducing actions on the paused market still work.
      await expect(engine.connect(alice).modifyPosition(ETH, -wad(2), 0, 0))
        .to.emit(engine, "PositionModified")
        .withArgs(alice.address, ETH, -wad(2), 0n, wad(3_000), usd(3), 0n, wad(8), usd(982), wad(3_000), wad(3_000), 0n);
      await expect(engine.connect(alice).addCollateral(ETH, usd(18)))
        .to.emit(engine, "CollateralModified")
        .withArgs(alice.address, ETH, usd(18), usd(1_000));
      await expect(engine.connect(alice).removeCollateral(ETH, usd(100)))
        .to.emit(engine, "CollateralModified")
        .withArgs(alice.address, ETH, -usd(100), usd(900));
      await expect(engine.connect(alice).closePosition(ETH, 0))
        .to.emit(engine, "PositionModified")
        .withArgs(alice.address, ETH, -wad(8), 0n, wad(3_000), usd(12), 0n, 0n, 0n, 0n, wad(3_000), 0n);

      // Unpausing restores opening.
      await engine.connect(guardian).setMarketPaused(ETH, false);
      await expect(engine.connect(bob).modifyPosition(ETH, wad(1), usd(100), wad(3_000))).to.emit(engine, "PositionModified");
    });

    it("the global pause blocks opening and increasing on every market but allows decreasing and collateral moves", async function () {
      const f = await networkHelpers.loadFixture(aliceLongFixture);
      const { engine, alice, bob, guardian } = f;
      await engine.connect(bob).deposit(usd(2_000));
      await engine.connect(guardian).setGlobalPaused(true);
      const before = await snapshot(f, [alice, bob], [ETH, BTC]);

      await expect(engine.connect(bob).modifyPosition(BTC, wad("0.1"), usd(100), wad(60_000)))
        .to.be.revertedWithCustomError(engine, "PerpMarketPaused")
        .withArgs(BTC);
      await expect(engine.connect(bob).modifyPosition(ETH, wad(1), usd(100), wad(3_000)))
        .to.be.revertedWithCustomError(engine, "PerpMarketPaused")
        .withArgs(ETH);
      await expect(engine.connect(alice).modifyPosition(ETH, wad(1), 0, wad(3_000)))
        .to.be.revertedWithCustomError(engine, "PerpMarketPaused")
        .withArgs(ETH);
      expect(await snapshot(f, [alice, bob], [ETH, BTC])).to.deep.equal(before);

      await expect(engine.connect(alice).modifyPosition(ETH, -wad(2), 0, 0)).to.emit(engine, "PositionModified");
      await expect(engine.connect(alice).addCollateral(ETH, usd(18))).to.emit(engine, "CollateralModified");
      await expect(engine.connect(alice).removeCollateral(ETH, usd(100))).to.emit(engine, "CollateralModified");
      await expect(engine.connect(alice).closePosition(ETH, 0)).to.emit(engine, "PositionModified");
      // 9,000 - 18 added + 100 removed + (900 - 12 closing fee) returned.
      expect(await engine.freeBalance(alice.address)).to.equal(usd(9_970));

      await engine.connect(guardian).setGlobalPaused(false);
      await expect(engine.connect(bob).modifyPosition(BTC, wad("0.1"), usd(100), wad(60_000))).to.emit(engine, "PositionModified");
    });
  });

  describe("health of a liquidatable position", function () {
    // Thin long: 10 ETH at 3,000 with 315 collateral. At 2,984: equity 315 - 160 - 14.92 = 140.08 < MM 149.2.
    async function liquidatableFixture() {
      const f = await thinLongFixture();
      await f.ethFeed.updateAnswer(answer(2_984));
      return f;
    }

    it("a tiny decrease whose rounding lowers the health factor reverts PerpHealthWorsened(before, after)", async function () {
      const f = await networkHelpers.loadFixture(liquidatableFixture);
      const { engine, alice } = f;
      const price = wad(2_984);
      expect(await engine.isLiquidatable(alice.address, ETH)).to.equal(true);

      const pos0 = { size: wad(10), entryPrice: wad(3_000), collateral: usd(315) };
      const hf0 = healthFactor(equity36(pos0, price), maintenance36(pos0, price));
      // Selling 1 wei: PnL floors to -1 unit and the fee rounds up to 1 unit, for ~1e-14 USD less maintenance.
      expect(realizedPnl(-1n, price, wad(3_000))).to.equal(-1n);
      expect(takerFee(-1n, price)).to.equal(1n);
      const pos1 = { size: wad(10) - 1n, entryPrice: wad(3_000), collateral: usd(315) - 2n };
      const hf1 = healthFactor(equity36(pos1, price), maintenance36(pos1, price));
      expect(hf0 < wad(1)).to.equal(true);
      expect(hf1 < hf0).to.equal(true);

      const before = await snapshot(f, [alice], [ETH]);
      await expect(engine.connect(alice).modifyPosition(ETH, -1n, 0, 0))
        .to.be.revertedWithCustomError(engine, "PerpHealthWorsened")
        .withArgs(hf0, hf1);
      expect(await snapshot(f, [alice], [ETH])).to.deep.equal(before);
    });

    it("a decrease that raises the health factor succeeds, even if the position stays liquidatable", async function () {
      const f = await networkHelpers.loadFixture(liquidatableFixture);
      const { engine, alice } = f;
      // Sell 0.1 ETH: equity falls by at most rounding, maintenance by 1.492 USD; still below 1.
      await expect(engine.connect(alice).modifyPosition(ETH, -wad("0.1"), 0, 0)).to.emit(engine, "PositionModified");
      expect(await engine.isLiquidatable(alice.address, ETH)).to.equal(true);
      // Sell 5 ETH: 140.08 equity against 74.6 maintenance: healthy again.
      // PnL 5 * -16 = -80; fee 7.46; collateral = 315 - 1.6 - 0.1492 - 80 - 7.46.
      await expect(engine.connect(alice).modifyPosition(ETH, -wad(5), 0, 0))
        .to.emit(engine, "PositionModified")
        .withArgs(
          alice.address,
          ETH,
          -wad(5),
          0n,
          wad(2_984),
          usd("7.46"),
          -usd(80),
          wad("4.9"),
          usd(315) - usd("1.6") - usd("0.1492") - usd(80) - usd("7.46"),
          wad(3_000), wad(2_984), 0n,
        );
      expect(await engine.isLiquidatable(alice.address, ETH)).to.equal(false);
    });
  });
});
