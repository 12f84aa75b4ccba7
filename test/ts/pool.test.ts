import { expect } from "chai";
import { ZeroAddress } from "ethers";
import { network } from "hardhat";

import { ETH, TOKEN_DECIMALS, answer, deployProtocol, usd, wad } from "./helpers/fixture.js";
import { WAD, divUp, expectSolvent, openPosition } from "./helpers/liquidation-helpers.js";
import { governInSteps, mutatingFunctions } from "./helpers/engine-helpers.js";

const { ethers, networkHelpers } = await network.create();

/** OpenZeppelin ERC-4626 virtual offset used by the pool: 10 ** 6 virtual shares, 1 virtual asset. */
const VIRTUAL_SHARES = 10n ** 6n;
const toShares = (assets: bigint, supply: bigint, total: bigint, up = false) =>
  up ? divUp(assets * (supply + VIRTUAL_SHARES), total + 1n) : (assets * (supply + VIRTUAL_SHARES)) / (total + 1n);
const toAssets = (shares: bigint, supply: bigint, total: bigint, up = false) =>
  up ? divUp(shares * (total + 1n), supply + VIRTUAL_SHARES) : (shares * (total + 1n)) / (supply + VIRTUAL_SHARES);

async function protocolFixture() {
  return deployProtocol(ethers);
}

/** A pool of a fresh token with no deposits and no engine bound, for first-depositor scenarios. */
async function emptyPoolFixture() {
  const f = await deployProtocol(ethers);
  const token2 = await ethers.deployContract("MockERC20", ["Other USD", "oUSD", TOKEN_DECIMALS]);
  const pool2 = await ethers.deployContract("LiquidityPool", [token2, "Tidemark LP 2", "tmLP2"]);
  const insurance2 = await ethers.deployContract("InsuranceFund", [token2]);
  for (const s of [f.alice, f.bob]) {
    await token2.mint(s.address, usd(10_000_000));
    await token2.connect(s).approve(pool2, ethers.MaxUint256);
  }
  return { ...f, token2, pool2, insurance2 };
}

describe("LiquidityPool and InsuranceFund", function () {
  describe("ERC-4626 deposits and withdrawals", function () {
    it("the fixture LP holds shares with six virtual decimals", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      expect(await f.pool.asset()).to.equal(await f.token.getAddress());
      expect(await f.pool.decimals()).to.equal(12n);
      expect(await f.pool.totalAssets()).to.equal(usd(5_000_000));
      expect(await f.pool.balanceOf(f.lp.address)).to.equal(usd(5_000_000) * VIRTUAL_SHARES);
      expect(await f.pool.totalSupply()).to.equal(usd(5_000_000) * VIRTUAL_SHARES);
      expect(await f.pool.engine()).to.equal(await f.engine.getAddress());
    });

    it("deposit, withdraw and redeem move exact amounts", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      const { pool, token, alice } = f;
      // make the share price non-trivial: a trader pays a taker fee of 1.5 USD to the pool
      await openPosition(f.engine, f.bob, ETH, wad(1), usd(100));
      let total = await pool.totalAssets();
      let supply = await pool.totalSupply();
      expect(total).to.equal(usd(5_000_000) + usd("1.5"));

      const shares = toShares(usd(1000), supply, total);
      expect(await pool.previewDeposit(usd(1000))).to.equal(shares);
      await expect(pool.connect(alice).deposit(usd(1000), alice.address))
        .to.emit(pool, "Deposit")
        .withArgs(alice.address, alice.address, usd(1000), shares);
      expect(await pool.balanceOf(alice.address)).to.equal(shares);
      total += usd(1000);
      supply += shares;

      const burned = toShares(usd(400), supply, total, true);
      expect(await pool.previewWithdraw(usd(400))).to.equal(burned);
      const w = pool.connect(alice).withdraw(usd(400), alice.address, alice.address);
      await expect(w).to.emit(pool, "Withdraw").withArgs(alice.address, alice.address, alice.address, usd(400), burned);
      await expect(w).to.changeTokenBalances(ethers, token, [alice, pool], [usd(400), -usd(400)]);
      total -= usd(400);
      supply -= burned;

      const rest = shares - burned;
      const assets = toAssets(rest, supply, total);
      expect(await pool.previewRedeem(rest)).to.equal(assets);
      const r = pool.connect(alice).redeem(rest, alice.address, alice.address);
      await expect(r).to.emit(pool, "Withdraw").withArgs(alice.address, alice.address, alice.address, assets, rest);
      await expect(r).to.changeTokenBalances(ethers, token, [alice, pool], [assets, -assets]);
      expect(await pool.balanceOf(alice.address)).to.equal(0n);
      // rounding favours the vault: the round trip never returns more than was deposited
      expect(usd(400) + assets).to.be.lessThanOrEqual(usd(1000));
      expect(usd(400) + assets).to.be.greaterThanOrEqual(usd(1000) - 1n);
    });

    it("mint and redeem on behalf of another owner with allowance", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      const { pool, token, alice, bob } = f;
      const shares = 123_456_789_000n;
      const total = await pool.totalAssets();
      const supply = await pool.totalSupply();
      const cost = toAssets(shares, supply, total, true);
      await expect(pool.connect(alice).mint(shares, bob.address)).to.changeTokenBalances(
        ethers,
        token,
        [alice, pool],
        [-cost, cost],
      );
      expect(await pool.balanceOf(bob.address)).to.equal(shares);
      await expect(pool.connect(alice).redeem(shares, alice.address, bob.address))
        .to.be.revertedWithCustomError(pool, "ERC20InsufficientAllowance")
        .withArgs(alice.address, 0n, shares);
      await pool.connect(bob).approve(alice.address, shares);
      await pool.connect(alice).redeem(shares, alice.address, bob.address);
      expect(await pool.balanceOf(bob.address)).to.equal(0n);
    });

    it("taker fees add to the pool's assets and trader profits are paid out of them", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      const { pool, engine, token, alice } = f;
      await openPosition(engine, alice, ETH, wad(1), usd(100)); // fee 1.5
      await f.ethFeed.updateAnswer(answer(3100));
      // close: pnl +100, fee 1.55 -> the pool pays 98.45
      const tx = engine.connect(alice).closePosition(ETH, 0n);
      await expect(tx).to.emit(pool, "PaidToEngine").withArgs(usd("98.45"));
      await expect(tx).to.changeTokenBalances(ethers, token, [pool, engine], [-usd("98.45"), usd("98.45")]);
      expect(await pool.totalAssets()).to.equal(usd(5_000_000) + usd("1.5") - usd("98.45"));
      expect(await engine.freeBalance(alice.address)).to.equal(usd("98.5") + usd(100) - usd("1.55"));
      await expectSolvent(engine, token, [alice.address], [ETH]);
    });
  });

  describe("valuation within one call", function () {
    it("a deposit values the pool once, and a NAV read later in the same transaction sees the deposit", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      const { pool, engine, token, alice } = f;
      // An open position in profit: the NAV is the balance minus the trader's PnL.
      await openPosition(engine, alice, ETH, wad(10), usd(1_000));
      await f.ethFeed.updateAnswer(answer(3_100));
      const caller = await ethers.deployContract("PoolCaller");
      await token.mint(caller, usd(10_000));
      const navBefore = await pool.totalAssets();
      const shares = await pool.previewDeposit(usd(10_000));
      await caller.depositThenReadNav(pool, usd(10_000));
      expect(await pool.balanceOf(caller)).to.equal(shares);
      // The per-call cache was cleared on return: the read after the deposit is the fresh NAV, not the one before it.
      expect(await caller.navAfterDeposit()).to.equal(navBefore + usd(10_000));
      expect(await pool.totalAssets()).to.equal(navBefore + usd(10_000));
    });
  });

  describe("reserve", function () {
    it("reservedAssets = ceil(totalOpenNotional * reserveFactor) in token units", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      const { engine, alice, bob } = f;
      expect(await engine.reserveFactor()).to.equal(wad("0.2"));
      expect(await engine.reservedAssets()).to.equal(0n);
      const sizeA = wad("0.333333333333333333");
      await openPosition(engine, alice, ETH, sizeA, usd(100));
      // entry notional 999.999999999999999 USD; 20% of it is 199.9999999999999998 -> 200 USD (rounded up)
      expect(await engine.totalOpenNotional()).to.equal(divUp(sizeA * wad(3000), WAD));
      expect(await engine.totalOpenNotional()).to.equal(wad("999.999999999999999"));
      expect(await engine.reservedAssets()).to.equal(usd(200));

      await f.ethFeed.updateAnswer(answer(3100));
      const sizeB = wad("0.0123456789");
      await openPosition(engine, bob, ETH, -sizeB, usd(100));
      const ton = wad("999.999999999999999") + divUp(sizeB * wad(3100), WAD);
      expect(await engine.totalOpenNotional()).to.equal(ton);
      const expected = divUp(divUp(ton * wad("0.2"), WAD), 10n ** 12n);
      expect(await engine.reservedAssets()).to.equal(expected);
      expect(expected).to.equal(usd("207.654321")); // 1,038.27160459 * 0.2 = 207.654320918 -> up

      // The factor moves at most MAX_RESERVE_FACTOR_STEP per call: 20% to 50% in steps, a day apart. The pool's NAV
      // needs a fresh price after those two days (same answer).
      await governInSteps(engine, { reserveFactor: wad("0.5") });
      await f.ethFeed.updateAnswer(answer(3100));
      expect(await engine.reserveFactor()).to.equal(wad("0.5"));
      expect(await engine.reservedAssets()).to.equal(divUp(divUp(ton * wad("0.5"), WAD), 10n ** 12n));
      expect(await f.pool.availableLiquidity()).to.equal((await f.pool.totalAssets()) - (await engine.reservedAssets()));
    });

    it("maxWithdraw and maxRedeem stop at the reserve; exceeding them reverts", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      const { engine, pool, token, alice, bob, lp } = f;
      await openPosition(engine, alice, ETH, wad(100), usd(10_000)); // 300k notional, fee 150
      const total = await pool.totalAssets();
      expect(total).to.equal(usd(5_000_150));
      expect(await engine.reservedAssets()).to.equal(usd(60_000));
      const available = total - usd(60_000);
      expect(await pool.availableLiquidity()).to.equal(available);
      // the LP owns more than is available
      const own = toAssets(await pool.balanceOf(lp.address), await pool.totalSupply(), total);
      expect(own).to.be.greaterThan(available);
      expect(await pool.maxWithdraw(lp.address)).to.equal(available);
      const maxShares = toShares(available, await pool.totalSupply(), total);
      expect(await pool.maxRedeem(lp.address)).to.equal(maxShares);

      await expect(pool.connect(lp).withdraw(available + 1n, lp.address, lp.address))
        .to.be.revertedWithCustomError(pool, "ERC4626ExceededMaxWithdraw")
        .withArgs(lp.address, available + 1n, available);
      await expect(pool.connect(lp).redeem(maxShares + 1n, lp.address, lp.address))
        .to.be.revertedWithCustomError(pool, "ERC4626ExceededMaxRedeem")
        .withArgs(lp.address, maxShares + 1n, maxShares);

      await expect(pool.connect(lp).withdraw(available, lp.address, lp.address)).to.changeTokenBalances(
        ethers,
        token,
        [lp, pool],
        [available, -available],
      );
      expect(await pool.totalAssets()).to.equal(usd(60_000));
      expect(await pool.availableLiquidity()).to.equal(0n);
      expect(await pool.maxWithdraw(lp.address)).to.equal(0n);
      expect(await pool.maxRedeem(lp.address)).to.equal(0n);
      await expect(pool.connect(lp).withdraw(1n, lp.address, lp.address))
        .to.be.revertedWithCustomError(pool, "ERC4626ExceededMaxWithdraw")
        .withArgs(lp.address, 1n, 0n);

      // a new deposit is withdrawable again, up to its owner's own assets
      await pool.connect(bob).deposit(usd(1000), bob.address);
      expect(await pool.availableLiquidity()).to.equal(usd(1000));
      expect(await pool.maxWithdraw(bob.address)).to.equal(await pool.previewRedeem(await pool.balanceOf(bob.address)));
      expect(await pool.maxWithdraw(lp.address)).to.equal(usd(1000));

      // closing the position releases the reserve
      await engine.connect(alice).closePosition(ETH, 0n);
      expect(await engine.reservedAssets()).to.equal(0n);
      expect(await pool.availableLiquidity()).to.equal(await pool.totalAssets());
    });

    it("a reserve above total assets leaves nothing withdrawable (floored at 0)", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      const { engine, pool, alice, lp } = f;
      await openPosition(engine, alice, ETH, wad(100), usd(10_000));
      const available = await pool.availableLiquidity();
      await pool.connect(lp).withdraw(available, lp.address, lp.address);
      await governInSteps(engine, { reserveFactor: wad(1) }); // 20% to 100% in steps; reserve 300k > 60k held
      expect(await engine.reservedAssets()).to.equal(usd(300_000));
      expect(await pool.availableLiquidity()).to.equal(0n);
      expect(await pool.maxWithdraw(lp.address)).to.equal(0n);
      expect(await pool.maxRedeem(lp.address)).to.equal(0n);
    });
  });

  describe("first-depositor inflation attack", function () {
    it("a 1 wei deposit plus a 1M USD donation neither robs a 10k USD depositor nor profits the attacker", async function () {
      const f = await networkHelpers.loadFixture(emptyPoolFixture);
      const { token2, pool2, alice: attacker, bob: victim } = f;
      const attackerStart = await token2.balanceOf(attacker.address);
      await pool2.connect(attacker).deposit(1n, attacker.address);
      expect(await pool2.balanceOf(attacker.address)).to.equal(VIRTUAL_SHARES);
      await token2.connect(attacker).transfer(await pool2.getAddress(), usd(1_000_000));
      expect(await pool2.totalAssets()).to.equal(usd(1_000_000) + 1n);

      const deposit = usd(10_000);
      const shares = toShares(deposit, VIRTUAL_SHARES, usd(1_000_000) + 1n);
      expect(shares).to.equal(19_999n);
      await pool2.connect(victim).deposit(deposit, victim.address);
      expect(await pool2.balanceOf(victim.address)).to.equal(shares);

      // the victim redeems everything and loses less than 0.01%
      const victimStart = await token2.balanceOf(victim.address);
      await pool2.connect(victim).redeem(shares, victim.address, victim.address);
      const back = (await token2.balanceOf(victim.address)) - victimStart;
      expect(back).to.be.lessThanOrEqual(deposit);
      expect((deposit - back) * 10_000n).to.be.lessThan(deposit); // loss < 1 bp
      expect(back).to.equal(toAssets(shares, VIRTUAL_SHARES + shares, usd(1_000_000) + 1n + deposit));

      // the attacker recovers far less than the donation
      await pool2.connect(attacker).redeem(VIRTUAL_SHARES, attacker.address, attacker.address);
      const attackerEnd = await token2.balanceOf(attacker.address);
      expect(attackerEnd).to.be.lessThan(attackerStart);
      expect(attackerStart - attackerEnd).to.be.greaterThan(usd(400_000));
    });
  });

  describe("access control", function () {
    it("only the engine can draw from the pool or the insurance fund, whatever role the caller holds", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      const { engine, pool, insurance, deployer, guardian, alice, lp, keeper } = f;
      expect(await engine.hasRole(await engine.DEFAULT_ADMIN_ROLE(), deployer.address)).to.equal(true);
      expect(await engine.hasRole(await engine.GOVERNOR_ROLE(), deployer.address)).to.equal(true);
      expect(await engine.hasRole(await engine.GUARDIAN_ROLE(), guardian.address)).to.equal(true);
      for (const s of [deployer, guardian, alice, lp, keeper]) {
        for (const amount of [1n, usd(1000)]) {
          await expect(pool.connect(s).payEngine(amount))
            .to.be.revertedWithCustomError(pool, "VaultOnlyEngine")
            .withArgs(s.address);
          await expect(insurance.connect(s).payEngine(amount))
            .to.be.revertedWithCustomError(insurance, "VaultOnlyEngine")
            .withArgs(s.address);
        }
      }
      expect(await insurance.balance()).to.equal(usd(100_000));
      expect(await pool.totalAssets()).to.equal(usd(5_000_000));
    });

    it("the vaults expose no other way to move funds", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      expect(mutatingFunctions(f.insurance)).to.deep.equal(["bindEngine", "payEngine"]);
      // ERC-20 and ERC-4626 entry points move only the caller's (or an approved owner's) shares and assets
      expect(mutatingFunctions(f.pool)).to.deep.equal(
        ["approve", "bindEngine", "deposit", "mint", "payEngine", "redeem", "transfer", "transferFrom", "withdraw"].sort(),
      );
      // the governor's and guardian's engine powers never move vault funds
      const { engine, guardian } = f;
      const poolBefore = await f.pool.totalAssets();
      const insBefore = await f.insurance.balance();
      await governInSteps(engine, { reserveFactor: wad("0.5") }); // every step of 20% to 50%
      await engine.connect(guardian).setGlobalPaused(true);
      expect(await f.pool.totalAssets()).to.equal(poolBefore);
      expect(await f.insurance.balance()).to.equal(insBefore);
    });

    it("bindEngine: deployer only, once", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      const { pool, insurance, engine, deployer, alice } = f;
      await expect(pool.connect(alice).bindEngine(engine))
        .to.be.revertedWithCustomError(pool, "VaultOnlyDeployer")
        .withArgs(alice.address);
      await expect(insurance.connect(alice).bindEngine(engine))
        .to.be.revertedWithCustomError(insurance, "VaultOnlyDeployer")
        .withArgs(alice.address);
      await expect(pool.connect(deployer).bindEngine(engine))
        .to.be.revertedWithCustomError(pool, "VaultEngineAlreadyBound")
        .withArgs(await engine.getAddress());
      await expect(insurance.connect(deployer).bindEngine(alice.address))
        .to.be.revertedWithCustomError(insurance, "VaultEngineAlreadyBound")
        .withArgs(await engine.getAddress());
    });

    it("bindEngine rejects an EOA, the zero address and an engine of another token; binds a matching engine once", async function () {
      const f = await networkHelpers.loadFixture(emptyPoolFixture);
      const { pool2, insurance2, token2, engine, deployer, alice } = f;
      for (const vault of [pool2, insurance2]) {
        expect(await vault.engine()).to.equal(ZeroAddress);
        await expect(vault.connect(alice).bindEngine(engine))
          .to.be.revertedWithCustomError(vault, "VaultOnlyDeployer")
          .withArgs(alice.address);
        await expect(vault.connect(deployer).bindEngine(alice.address))
          .to.be.revertedWithCustomError(vault, "VaultInvalidEngine")
          .withArgs(alice.address);
        await expect(vault.connect(deployer).bindEngine(ZeroAddress))
          .to.be.revertedWithCustomError(vault, "VaultInvalidEngine")
          .withArgs(ZeroAddress);
        await expect(vault.connect(deployer).bindEngine(engine)) // settles in the fixture token
          .to.be.revertedWithCustomError(vault, "VaultInvalidEngine")
          .withArgs(await engine.getAddress());
      }
      const engine2 = await ethers.deployContract("TidemarkEngine", [token2, pool2, insurance2, f.pyth, deployer.address], {
        libraries: f.libraries,
      });
      for (const vault of [pool2, insurance2]) {
        await expect(vault.connect(deployer).bindEngine(engine2))
          .to.emit(vault, "EngineBound")
          .withArgs(await engine2.getAddress());
        expect(await vault.engine()).to.equal(await engine2.getAddress());
        await expect(vault.connect(deployer).bindEngine(engine2))
          .to.be.revertedWithCustomError(vault, "VaultEngineAlreadyBound")
          .withArgs(await engine2.getAddress());
      }
    });
  });

  describe("InsuranceFund", function () {
    it("balance is the token balance; anyone can fund it with a transfer", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      const { insurance, token, alice } = f;
      expect(await insurance.asset()).to.equal(await token.getAddress());
      expect(await insurance.engine()).to.equal(await f.engine.getAddress());
      expect(await insurance.balance()).to.equal(usd(100_000));
      await token.connect(alice).transfer(await insurance.getAddress(), usd("12.345678"));
      expect(await insurance.balance()).to.equal(usd(100_000) + usd("12.345678"));
      expect(await insurance.balance()).to.equal(await token.balanceOf(await insurance.getAddress()));
    });

    it("pays the engine only for a shortfall (keeper top-up) and receives penalties", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      const { engine, insurance, token, alice, bob, keeper } = f;
      await openPosition(engine, alice, ETH, wad("0.01"), usd(1));
      await openPosition(engine, bob, ETH, wad(3), usd(150));
      await f.ethFeed.updateAnswer(answer(2965));
      // bob: penalty 17.79 paid in
      await expect(engine.connect(keeper).liquidate(bob.address, ETH)).to.changeTokenBalance(
        ethers,
        token,
        insurance,
        usd("17.79"),
      );
      await f.ethFeed.updateAnswer(answer(2910));
      // alice: 0.085 left of 5 USD keeper minimum -> 4.915 drawn
      await expect(engine.connect(keeper).liquidate(alice.address, ETH))
        .to.emit(insurance, "PaidToEngine")
        .withArgs(usd("4.915"));
      expect(await insurance.balance()).to.equal(usd(100_000) + usd("17.79") - usd("4.915"));
    });
  });
});
