import { expect } from "chai";
import { network } from "hardhat";

import { deployProtocol, ETH, BTC, usd, wad } from "./helpers/fixture.js";
import { snapshot } from "./helpers/engine-helpers.js";

const { ethers, networkHelpers } = await network.create();

async function protocolFixture() {
  return deployProtocol(ethers);
}

type Fixture = Awaited<ReturnType<typeof protocolFixture>>;

/** TidemarkEngine factory linked to the fixture's libraries, for constructor tests. */
async function engineFactory(f: Fixture) {
  return ethers.getContractFactory("TidemarkEngine", {
    libraries: f.libraries,
  });
}

describe("TidemarkEngine: accounts", function () {
  describe("deposit", function () {
    it("pulls tokens, credits the free balance and emits Deposited", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      const { engine, token, alice, bob } = f;
      const amount = usd("1234.567891");

      const tx = engine.connect(alice).deposit(amount);
      await expect(tx).to.emit(engine, "Deposited").withArgs(alice.address, amount);
      await expect(tx).to.changeTokenBalances(ethers, token, [alice, engine], [-amount, amount]);
      expect(await engine.freeBalance(alice.address)).to.equal(amount);
      expect(await engine.freeBalance(bob.address)).to.equal(0n);
    });

    it("accumulates successive deposits per account", async function () {
      const { engine, token, alice, bob } = await networkHelpers.loadFixture(protocolFixture);
      await engine.connect(alice).deposit(usd(100));
      await engine.connect(alice).deposit(usd("0.000001"));
      await engine.connect(bob).deposit(usd(7));
      expect(await engine.freeBalance(alice.address)).to.equal(usd("100.000001"));
      expect(await engine.freeBalance(bob.address)).to.equal(usd(7));
      expect(await token.balanceOf(await engine.getAddress())).to.equal(usd("107.000001"));
    });

    it("reverts PerpZeroAmount on a zero deposit", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      const before = await snapshot(f, [f.alice], []);
      await expect(f.engine.connect(f.alice).deposit(0)).to.be.revertedWithCustomError(f.engine, "PerpZeroAmount");
      expect(await snapshot(f, [f.alice], [])).to.deep.equal(before);
    });

    it("bubbles up the token's error when the allowance is missing", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      const { engine, token, deployer } = f;
      await token.mint(deployer.address, usd(10));
      await expect(engine.connect(deployer).deposit(usd(10)))
        .to.be.revertedWithCustomError(token, "ERC20InsufficientAllowance")
        .withArgs(await engine.getAddress(), 0n, usd(10));
      expect(await engine.freeBalance(deployer.address)).to.equal(0n);
    });

    it("rejects a fee-on-transfer token with PerpTransferShortfall(expected, received)", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      const { alice } = f;
      const feeToken = await ethers.deployContract("FeeOnTransferToken");
      const pool = await ethers.deployContract("LiquidityPool", [feeToken, "Fee LP", "fLP"]);
      const insurance = await ethers.deployContract("InsuranceFund", [feeToken]);
      const factory = await engineFactory(f);
      const engine = await factory.deploy(feeToken, pool, insurance, f.pyth, f.deployer.address);
      await engine.waitForDeployment();
      await pool.bindEngine(engine);
      await insurance.bindEngine(engine);

      await feeToken.mint(alice.address, usd(1_000));
      await feeToken.connect(alice).approve(engine, ethers.MaxUint256);

      // 1% of 100 USD is burned in transit: 99 USD arrive.
      await expect(engine.connect(alice).deposit(usd(100)))
        .to.be.revertedWithCustomError(engine, "PerpTransferShortfall")
        .withArgs(usd(100), usd(99));
      expect(await engine.freeBalance(alice.address)).to.equal(0n);
      expect(await feeToken.balanceOf(alice.address)).to.equal(usd(1_000));
      expect(await feeToken.balanceOf(await engine.getAddress())).to.equal(0n);
    });
  });

  describe("withdraw", function () {
    it("sends tokens back, debits the free balance and emits Withdrawn", async function () {
      const { engine, token, alice } = await networkHelpers.loadFixture(protocolFixture);
      await engine.connect(alice).deposit(usd(1_000));

      const tx = engine.connect(alice).withdraw(usd("400.5"));
      await expect(tx).to.emit(engine, "Withdrawn").withArgs(alice.address, usd("400.5"));
      await expect(tx).to.changeTokenBalances(ethers, token, [alice, engine], [usd("400.5"), -usd("400.5")]);
      expect(await engine.freeBalance(alice.address)).to.equal(usd("599.5"));

      // The exact remainder can be withdrawn, leaving nothing.
      await expect(engine.connect(alice).withdraw(usd("599.5")))
        .to.emit(engine, "Withdrawn")
        .withArgs(alice.address, usd("599.5"));
      expect(await engine.freeBalance(alice.address)).to.equal(0n);
      expect(await token.balanceOf(alice.address)).to.equal(usd(10_000_000));
      expect(await token.balanceOf(await engine.getAddress())).to.equal(0n);
    });

    it("reverts PerpZeroAmount on a zero withdrawal, with or without a balance", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      const { engine, alice } = f;
      await expect(engine.connect(alice).withdraw(0)).to.be.revertedWithCustomError(engine, "PerpZeroAmount");
      await engine.connect(alice).deposit(usd(5));
      const before = await snapshot(f, [alice], []);
      await expect(engine.connect(alice).withdraw(0)).to.be.revertedWithCustomError(engine, "PerpZeroAmount");
      expect(await snapshot(f, [alice], [])).to.deep.equal(before);
    });

    it("reverts PerpInsufficientFreeBalance(account, balance, required) above the free balance, changing nothing", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      const { engine, alice, bob } = f;
      await engine.connect(alice).deposit(usd(100));
      const before = await snapshot(f, [alice, bob], []);

      await expect(engine.connect(alice).withdraw(usd(100) + 1n))
        .to.be.revertedWithCustomError(engine, "PerpInsufficientFreeBalance")
        .withArgs(alice.address, usd(100), usd(100) + 1n);
      // Another account cannot draw on alice's balance.
      await expect(engine.connect(bob).withdraw(1n))
        .to.be.revertedWithCustomError(engine, "PerpInsufficientFreeBalance")
        .withArgs(bob.address, 0n, 1n);

      expect(await snapshot(f, [alice, bob], [])).to.deep.equal(before);
    });

    it("cannot withdraw collateral locked in a position", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      const { engine, alice } = f;
      await engine.connect(alice).deposit(usd(1_000));
      await engine.connect(alice).modifyPosition(ETH, wad(1), usd(400), wad(3_000));
      expect(await engine.freeBalance(alice.address)).to.equal(usd(600));
      const before = await snapshot(f, [alice], [ETH]);

      await expect(engine.connect(alice).withdraw(usd(600) + 1n))
        .to.be.revertedWithCustomError(engine, "PerpInsufficientFreeBalance")
        .withArgs(alice.address, usd(600), usd(600) + 1n);
      expect(await snapshot(f, [alice], [ETH])).to.deep.equal(before);

      await expect(engine.connect(alice).withdraw(usd(600))).to.changeTokenBalances(
        ethers,
        f.token,
        [alice, engine],
        [usd(600), -usd(600)],
      );
    });

    it("works while globally paused and while the market is paused", async function () {
      const { engine, token, alice, bob, guardian } = await networkHelpers.loadFixture(protocolFixture);
      await engine.connect(alice).deposit(usd(500));
      await engine.connect(guardian).setGlobalPaused(true);
      await engine.connect(guardian).setMarketPaused(ETH, true);
      await engine.connect(guardian).setMarketPaused(BTC, true);

      await expect(engine.connect(alice).withdraw(usd(200))).to.changeTokenBalances(
        ethers,
        token,
        [alice, engine],
        [usd(200), -usd(200)],
      );
      expect(await engine.freeBalance(alice.address)).to.equal(usd(300));
      // Deposits are not blocked by the pause either.
      await expect(engine.connect(bob).deposit(usd(50))).to.emit(engine, "Deposited").withArgs(bob.address, usd(50));
      expect(await engine.freeBalance(bob.address)).to.equal(usd(50));
    });
  });

  describe("constructor", function () {
    it("stores the token, pool, insurance fund and admin, with a 20% reserve factor", async function () {
      const { engine, token, pool, insurance, deployer } = await networkHelpers.loadFixture(protocolFixture);
      expect(await engine.collateralToken()).to.equal(await token.getAddress());
      expect(await engine.pool()).to.equal(await pool.getAddress());
      expect(await engine.insuranceFund()).to.equal(await insurance.getAddress());
      expect(await engine.hasRole(await engine.DEFAULT_ADMIN_ROLE(), deployer.address)).to.equal(true);
      expect(await engine.reserveFactor()).to.equal(wad("0.2"));
      expect(await engine.globalPaused()).to.equal(false);
      expect(await engine.totalOpenNotional()).to.equal(0n);
    });

    it("rejects a zero Pyth contract with PerpZeroAddress", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      const factory = await engineFactory(f);
      await expect(
        factory.deploy(f.token, f.pool, f.insurance, ethers.ZeroAddress, f.deployer.address),
      ).to.be.revertedWithCustomError(factory, "PerpZeroAddress");
    });

    it("rejects a zero admin with PerpZeroAddress", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      const factory = await engineFactory(f);
      await expect(factory.deploy(f.token, f.pool, f.insurance, f.pyth, ethers.ZeroAddress)).to.be.revertedWithCustomError(
        factory,
        "PerpZeroAddress",
      );
    });

    it("rejects a token with more than 18 decimals with PerpUnsupportedTokenDecimals", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      const factory = await engineFactory(f);
      for (const decimals of [19, 24]) {
        const t = await ethers.deployContract("MockERC20", ["Wide", "WIDE", decimals]);
        const pool = await ethers.deployContract("LiquidityPool", [t, "W LP", "wLP"]);
        const insurance = await ethers.deployContract("InsuranceFund", [t]);
        await expect(factory.deploy(t, pool, insurance, f.pyth, f.deployer.address))
          .to.be.revertedWithCustomError(factory, "PerpUnsupportedTokenDecimals")
          .withArgs(decimals);
      }
    });

    it("accepts an 18-decimal token (the bound is inclusive)", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      const factory = await engineFactory(f);
      const t = await ethers.deployContract("MockERC20", ["Dai", "DAI", 18]);
      const pool = await ethers.deployContract("LiquidityPool", [t, "D LP", "dLP"]);
      const insurance = await ethers.deployContract("InsuranceFund", [t]);
      const engine = await factory.deploy(t, pool, insurance, f.pyth, f.deployer.address);
      await engine.waitForDeployment();
      expect(await engine.collateralToken()).to.equal(await t.getAddress());
    });

    it("rejects a pool or insurance fund over another asset with PerpAssetMismatch(vault, asset)", async function () {
      const f = await networkHelpers.loadFixture(protocolFixture);
      const factory = await engineFactory(f);
      const other = await ethers.deployContract("MockERC20", ["Other", "OTH", 6]);
      const otherPool = await ethers.deployContract("LiquidityPool", [other, "O LP", "oLP"]);
      const otherInsurance = await ethers.deployContract("InsuranceFund", [other]);

      await expect(factory.deploy(f.token, otherPool, f.insurance, f.pyth, f.deployer.address))
        .to.be.revertedWithCustomError(factory, "PerpAssetMismatch")
        .withArgs(await otherPool.getAddress(), await other.getAddress());
      await expect(factory.deploy(f.token, f.pool, otherInsurance, f.pyth, f.deployer.address))
        .to.be.revertedWithCustomError(factory, "PerpAssetMismatch")
        .withArgs(await otherInsurance.getAddress(), await other.getAddress());
    });
  });
});
