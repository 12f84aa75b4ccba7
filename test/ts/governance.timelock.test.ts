import { expect } from "chai";
import { network } from "hardhat";

import { deployProtocol, ETH, BTC, EXPOSURE_PARAMS, RISK_PARAMS, TIERS, oracleConfig, usd, wad } from "./helpers/fixture.js";
import { mutatingFunctions } from "./helpers/engine-helpers.js";

const { ethers, networkHelpers } = await network.create();

const DELAY = 2n * 86_400n;
const ZERO_SALT = ethers.ZeroHash;

/**
 * The fixture handed over to governance as in production: an OpenZeppelin TimelockController (2-day delay, one
 * proposer, one executor, no admin) holds DEFAULT_ADMIN_ROLE and GOVERNOR_ROLE; the deployer renounces both. The
 * guardian keeps GUARDIAN_ROLE outside the timelock.
 */
async function timelockFixture() {
  const f = await deployProtocol(ethers);
  const [, , , , , , , proposer, executor, outsider] = await ethers.getSigners();
  const timelock = await ethers.deployContract("TimelockController", [
    DELAY,
    [proposer.address],
    [executor.address],
    ethers.ZeroAddress,
  ]);
  const { engine, deployer } = f;
  const ADMIN = await engine.DEFAULT_ADMIN_ROLE();
  const GOVERNOR = await engine.GOVERNOR_ROLE();
  await engine.grantRole(ADMIN, timelock);
  await engine.grantRole(GOVERNOR, timelock);
  await engine.renounceRole(GOVERNOR, deployer.address);
  await engine.renounceRole(ADMIN, deployer.address);
  return { ...f, timelock, proposer, executor, outsider, ADMIN, GOVERNOR };
}

type F = Awaited<ReturnType<typeof timelockFixture>>;

/** Every governor setter with valid, state-changing arguments, as calldata on the engine. */
async function governorCalls(f: F) {
  const e = f.engine.interface;
  const solFeed = await ethers.deployContract("MockV3Aggregator", [8, 150n * 10n ** 8n]);
  const sol = ethers.encodeBytes32String("SOL-USD");
  const ethFeed = await f.ethFeed.getAddress();
  return [
    ["listMarket", e.encodeFunctionData("listMarket", [sol, oracleConfig(await solFeed.getAddress()), RISK_PARAMS, TIERS])],
    ["setMarginTiers", e.encodeFunctionData("setMarginTiers", [ETH, [{ ...TIERS[0], imr: wad("0.011") }, ...TIERS.slice(1)]])],
    ["setRiskParams", e.encodeFunctionData("setRiskParams", [ETH, { ...RISK_PARAMS, takerFeeRate: wad("0.0006") }])],
    ["setOracleConfig", e.encodeFunctionData("setOracleConfig", [ETH, { ...oracleConfig(ethFeed), heartbeat: 7_200 }])],
    ["setFundingParams", e.encodeFunctionData("setFundingParams", [ETH, { skewScale: wad(1_000), maxFundingRatePerDay: wad("0.001") }])],
    ["setExposureParams", e.encodeFunctionData("setExposureParams", [ETH, { ...EXPOSURE_PARAMS, impactSkewScale: wad(10_000) }])],
    ["setSequencerConfig", e.encodeFunctionData("setSequencerConfig", [ethFeed, 3_600])],
    ["setReserveFactor", e.encodeFunctionData("setReserveFactor", [wad("0.25")])],
    [
      "setOrderParams",
      e.encodeFunctionData("setOrderParams", [
        { minDelay: 3, maxDelay: 600, maxPriceAge: 30, maxDeviation: wad("0.01"), executionFee: wad("0.25") },
      ]),
    ],
    ["setPythPriceId", e.encodeFunctionData("setPythPriceId", [ETH, ethers.id("Crypto.ETH/USD.v2")])],
  ] as const;
}

async function schedule(f: F, data: string, salt = ZERO_SALT) {
  const target = await f.engine.getAddress();
  await f.timelock.connect(f.proposer).schedule(target, 0, data, ethers.ZeroHash, salt, DELAY);
  return f.timelock.hashOperation(target, 0, data, ethers.ZeroHash, salt);
}

async function execute(f: F, data: string, salt = ZERO_SALT) {
  return f.timelock.connect(f.executor).execute(await f.engine.getAddress(), 0, data, ethers.ZeroHash, salt);
}

describe("Governance through the timelock", function () {
  it("after hand-over only the timelock holds admin and governor; the deployer holds nothing", async function () {
    const f = await networkHelpers.loadFixture(timelockFixture);
    const { engine, timelock, deployer, guardian, ADMIN, GOVERNOR } = f;
    const GUARDIAN = await engine.GUARDIAN_ROLE();
    expect(await engine.hasRole(ADMIN, timelock)).to.equal(true);
    expect(await engine.hasRole(GOVERNOR, timelock)).to.equal(true);
    for (const role of [ADMIN, GOVERNOR, GUARDIAN]) expect(await engine.hasRole(role, deployer.address)).to.equal(false);
    expect(await engine.hasRole(GUARDIAN, guardian.address)).to.equal(true);
    expect(await timelock.getMinDelay()).to.equal(DELAY);
  });

  it("every governor setter rejects direct calls from everyone else, proposer and executor included", async function () {
    const f = await networkHelpers.loadFixture(timelockFixture);
    const { engine, GOVERNOR } = f;
    for (const signer of [f.deployer, f.guardian, f.proposer, f.executor, f.alice]) {
      for (const [name, data] of await governorCalls(f)) {
        await expect(signer.sendTransaction({ to: engine, data }), `${name} by ${signer.address}`)
          .to.be.revertedWithCustomError(engine, "AccessControlUnauthorizedAccount")
          .withArgs(signer.address, GOVERNOR);
      }
    }
  });

  it("role management rejects everyone but the timelock", async function () {
    const f = await networkHelpers.loadFixture(timelockFixture);
    const { engine, ADMIN, GOVERNOR } = f;
    for (const signer of [f.deployer, f.guardian, f.proposer, f.executor]) {
      await expect(engine.connect(signer).grantRole(GOVERNOR, signer.address))
        .to.be.revertedWithCustomError(engine, "AccessControlUnauthorizedAccount")
        .withArgs(signer.address, ADMIN);
    }
  });

  it("each setter executes through the timelock only after the delay, and only by the executor", async function () {
    const f = await networkHelpers.loadFixture(timelockFixture);
    const { timelock, engine } = f;
    for (const [name, data] of await governorCalls(f)) {
      const id = await schedule(f, data);
      expect(await timelock.isOperationPending(id), name).to.equal(true);
      // Not ready: one second before the delay ends.
      const readyAt = await timelock.getTimestamp(id);
      await networkHelpers.time.setNextBlockTimestamp(readyAt - 1n);
      await expect(execute(f, data), name)
        .to.be.revertedWithCustomError(timelock, "TimelockUnexpectedOperationState")
        .withArgs(id, ethers.toBeHex(1n << 2n, 32)); // expected-state bitmap: Ready (enum value 2)
      await networkHelpers.time.setNextBlockTimestamp(readyAt);
      await expect(
        timelock.connect(f.outsider).execute(await engine.getAddress(), 0, data, ethers.ZeroHash, ZERO_SALT),
        name,
      ).to.be.revertedWithCustomError(timelock, "AccessControlUnauthorizedAccount");
      await expect(execute(f, data), name).to.emit(timelock, "CallExecuted");
      expect(await timelock.isOperationDone(id), name).to.equal(true);
    }
    // The changes took effect.
    expect((await engine.riskParams(ETH)).takerFeeRate).to.equal(wad("0.0006"));
    expect(await engine.reserveFactor()).to.equal(wad("0.25"));
    expect((await engine.exposureParams(ETH)).impactSkewScale).to.equal(wad(10_000));
    expect(await engine.listedMarkets()).to.have.length(3);
  });

  it("the delay cannot be shortened: scheduling below the minimum delay reverts", async function () {
    const f = await networkHelpers.loadFixture(timelockFixture);
    const [, data] = (await governorCalls(f))[7];
    await expect(
      f.timelock.connect(f.proposer).schedule(await f.engine.getAddress(), 0, data, ethers.ZeroHash, ZERO_SALT, DELAY - 1n),
    )
      .to.be.revertedWithCustomError(f.timelock, "TimelockInsufficientDelay")
      .withArgs(DELAY - 1n, DELAY);
  });

  it("an out-of-bounds or over-step proposal can be scheduled but its execution reverts with the engine's error", async function () {
    const f = await networkHelpers.loadFixture(timelockFixture);
    const { engine } = f;
    const e = engine.interface;
    const cases: [string, string, string][] = [
      ["reserve factor above 100%", e.encodeFunctionData("setReserveFactor", [wad(1) + 1n]), "PerpParameterOutOfBounds"],
      ["reserve factor step of 30 points", e.encodeFunctionData("setReserveFactor", [wad("0.5")]), "PerpParameterStepTooLarge"],
      [
        "taker fee above 1%",
        e.encodeFunctionData("setRiskParams", [ETH, { ...RISK_PARAMS, takerFeeRate: wad("0.01") + 1n }]),
        "PerpParameterOutOfBounds",
      ],
      ["tiers with mmr >= imr", e.encodeFunctionData("setMarginTiers", [BTC, [{ notionalFloor: 0n, imr: wad("0.01"), mmr: wad("0.01") }]]), "PerpInvalidTier"],
    ];
    for (const [what, data, error] of cases) {
      const salt = ethers.id(what);
      await schedule(f, data, salt);
    }
    await networkHelpers.time.increase(DELAY);
    for (const [what, data, error] of cases) {
      await expect(execute(f, data, ethers.id(what)), what).to.be.revertedWithCustomError(engine, error);
    }
    expect(await engine.reserveFactor()).to.equal(wad("0.2"));
    expect((await engine.riskParams(ETH)).takerFeeRate).to.equal(RISK_PARAMS.takerFeeRate);
  });

  it("a proposer can cancel a pending operation; it can then never execute", async function () {
    const f = await networkHelpers.loadFixture(timelockFixture);
    const [, data] = (await governorCalls(f))[7];
    const id = await schedule(f, data);
    await expect(f.timelock.connect(f.outsider).cancel(id)).to.be.revertedWithCustomError(
      f.timelock,
      "AccessControlUnauthorizedAccount",
    );
    await expect(f.timelock.connect(f.proposer).cancel(id)).to.emit(f.timelock, "Cancelled").withArgs(id);
    await networkHelpers.time.increase(DELAY);
    await expect(execute(f, data)).to.be.revertedWithCustomError(f.timelock, "TimelockUnexpectedOperationState");
    expect(await f.engine.reserveFactor()).to.equal(wad("0.2"));
  });

  it("the guardian pauses without the timelock; pausing leaves closing, decreasing, collateral, withdrawal and liquidation open", async function () {
    const f = await networkHelpers.loadFixture(timelockFixture);
    const { engine, guardian, alice, bob, keeper, ethFeed } = f;
    await engine.connect(alice).deposit(usd(10_000));
    await engine.connect(bob).deposit(usd(10_000));
    await engine.connect(alice).modifyPosition(ETH, wad(4), usd(1_000), wad(3_100));
    await engine.connect(bob).modifyPosition(ETH, wad(10), usd(335), wad(3_100));
    await engine.connect(guardian).setMarketPaused(ETH, true);
    await engine.connect(guardian).setGlobalPaused(true);
    await expect(engine.connect(alice).modifyPosition(ETH, wad(1), 0, wad(3_100)))
      .to.be.revertedWithCustomError(engine, "PerpMarketPaused")
      .withArgs(ETH);
    await expect(engine.connect(alice).modifyPosition(ETH, -wad(1), 0, 0)).to.emit(engine, "PositionModified");
    await expect(engine.connect(alice).addCollateral(ETH, usd(100))).to.emit(engine, "CollateralModified");
    await expect(engine.connect(alice).removeCollateral(ETH, usd(50))).to.emit(engine, "CollateralModified");
    await ethFeed.updateAnswer(2_980n * 10n ** 8n);
    await expect(engine.connect(keeper).liquidate(bob.address, ETH)).to.emit(engine, "PositionLiquidated");
    await expect(engine.connect(alice).closePosition(ETH, 0)).to.emit(engine, "PositionModified");
    const free = await engine.freeBalance(alice.address);
    await expect(engine.connect(alice).withdraw(free)).to.emit(engine, "Withdrawn").withArgs(alice.address, free);
  });

  it("no role moves trader, LP or insurance funds: every privileged action leaves every balance unchanged", async function () {
    const f = await networkHelpers.loadFixture(timelockFixture);
    const { engine, pool, insurance, token, timelock, guardian, alice, bob, lp } = f;
    await engine.connect(alice).deposit(usd(10_000));
    await engine.connect(alice).modifyPosition(ETH, wad(2), usd(1_000), wad(3_100));
    await engine.connect(bob).deposit(usd(5_000));

    const holders = [engine, pool, insurance, timelock, guardian, f.deployer, f.proposer, f.executor, alice, bob, lp];
    const snapshot = async () => ({
      tokens: await Promise.all(holders.map((h) => token.balanceOf(h))),
      free: [await engine.freeBalance(alice.address), await engine.freeBalance(bob.address)],
      position: (await engine.getPosition(alice.address, ETH)).collateral,
      shares: await pool.balanceOf(lp.address),
    });
    const before = await snapshot();

    // Everything the timelock can do as admin and governor, executed for real.
    for (const [, data] of await governorCalls(f)) {
      await schedule(f, data);
      await networkHelpers.time.increase(DELAY);
      await execute(f, data);
    }
    // Everything the guardian can do.
    await engine.connect(guardian).setMarketPaused(ETH, true);
    await engine.connect(guardian).setGlobalPaused(true);
    expect(await snapshot()).to.deep.equal(before);

    // The vaults pay out only to the engine, whoever asks.
    for (const signer of [guardian, f.deployer, f.proposer, f.executor]) {
      await expect(pool.connect(signer).payEngine(1n)).to.be.revertedWithCustomError(pool, "VaultOnlyEngine");
      await expect(insurance.connect(signer).payEngine(1n)).to.be.revertedWithCustomError(insurance, "VaultOnlyEngine");
    }
    // Nor through the timelock: a scheduled payEngine call reverts at execution.
    const payData = pool.interface.encodeFunctionData("payEngine", [1n]);
    await f.timelock.connect(f.proposer).schedule(pool, 0, payData, ethers.ZeroHash, ZERO_SALT, DELAY);
    await networkHelpers.time.increase(DELAY);
    await expect(
      f.timelock.connect(f.executor).execute(pool, 0, payData, ethers.ZeroHash, ZERO_SALT),
    ).to.be.revertedWithCustomError(pool, "VaultOnlyEngine");

    // The engine has no function a role could use to move funds: its state-changing functions are exactly the
    // user, keeper, governor and guardian entry points below (a new one must be classified here).
    const mutating = mutatingFunctions(engine);
    const own = [
      "deposit",
      "withdraw",
      "modifyPosition",
      "closePosition",
      "addCollateral",
      "removeCollateral",
      "requestOrder",
      "requestClose",
    ];
    const keeper = ["liquidate", "liquidateBatch", "executeOrder", "executeOrders", "cancelOrder"];
    // Callable only by the engine itself (the trade of an order) and by the pool (its NAV at Pyth prices); both
    // revert for every other caller (orders.test.ts).
    const internalOnly = ["executeOrderCallback", "poolMarkToMarketAt"];
    const governor = (await governorCalls(f)).map(([n]) => n);
    const guardianFns = ["setMarketPaused", "setGlobalPaused"];
    const roles = ["grantRole", "revokeRole", "renounceRole"];
    expect(mutating).to.deep.equal([...own, ...keeper, ...internalOnly, ...governor, ...guardianFns, ...roles].sort());
  });
});
