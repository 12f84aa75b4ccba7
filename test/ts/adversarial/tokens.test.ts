/**
 * Adversarial collateral tokens (docs/security.md, "Reentrant tokens" and "Fee-on-transfer and rebasing tokens").
 *
 * 1. HookERC20 hands control to an attacker contract (ReentrancyAttacker) during transfers. In the `Every` scope (a
 *    hostile token) the attacker is called before and after every transfer, including those between the engine, the
 *    pool and the insurance fund; at each such callback of each token-moving entry point it re-enters every entry
 *    point of the same contract. Each re-entry must revert with ReentrancyGuardReentrantCall, and the outer call must
 *    end in exactly the state it reaches without the attack.
 * 2. Fee-on-transfer and rebasing tokens are rejected: a deposit (the pool's: a deposit request) that delivers a
 *    different amount than it credits reverts (engine: PerpTransferShortfall, pool: VaultTransferShortfall) and
 *    changes nothing. "Rejected" is per
 *    deposit: a rebase between transactions cannot be seen (last test).
 */
import { expect } from "chai";
import { id, MaxUint256 } from "ethers";
import { network } from "hardhat";

import { BTC, ETH, answer, deployProtocolOn, usd, wad } from "../helpers/fixture.js";
import { plain, snapshot } from "../helpers/engine-helpers.js";
import { poolPriceUpdates } from "../helpers/flows.js";
import { MAX_UINT, expectSolvent, openPosition } from "../helpers/liquidation-helpers.js";

const { ethers, networkHelpers } = await network.create();
const { time } = networkHelpers;

const REENTRANT = id("ReentrancyGuardReentrantCall()").slice(0, 10);
/** The execution fee of an LP request (0.5 USD) and the delay before it can be fulfilled. */
const FEE = usd("0.5");
const MIN_DELAY = 2n;
/** HookERC20.Scope */
const Scope = { Parties: 0, Every: 1 } as const;

/**
 * The protocol on HookERC20. The attacker contract holds 100,000 USD free in the engine, pool shares worth 5,000 USD
 * and a claimable redemption of the other 5,000 USD of its 10,000 USD deposit (both fulfilled by itself before any
 * position was open, so with no price update), a 1 ETH short and a 0.1 BTC long (1,000 USD collateral each). Alice
 * holds a 3 ETH long with 150 USD and Carol a 12 USD BTC long with 0.2 USD. Prices then move to ETH 2,965 and BTC
 * 59,000: Alice is liquidatable (full, a penalty to the insurance fund), Carol is bankrupt (a keeper top-up from the
 * insurance fund), the attacker's short is in profit and its long at a loss. Last, the attacker requests a deposit of
 * 1,000 USD and the LP a redemption of 1e18 shares (about 1,000,000 USD), both pending.
 */
async function hookFixture() {
  const token = await ethers.deployContract("HookERC20");
  const f = await deployProtocolOn(ethers, token);
  const attacker = await ethers.deployContract("ReentrancyAttacker");
  const a = await attacker.getAddress();
  const as = (target: { interface: any; getAddress(): Promise<string> }, fn: string, args: unknown[]) =>
    target.getAddress().then((to) => attacker.execute(to, target.interface.encodeFunctionData(fn, args)));
  await token.mint(a, usd(1_000_000));
  await as(token, "approve", [await f.engine.getAddress(), MaxUint256]);
  await as(token, "approve", [await f.pool.getAddress(), MaxUint256]);
  await as(f.engine, "deposit", [usd(100_000)]);
  await as(f.pool, "requestDeposit", [usd(10_000) + FEE, a, a]);
  await time.increase(MIN_DELAY);
  await as(f.pool, "fulfillDeposit", [a, []]);
  const shares = await f.pool.maxMint(a);
  await as(f.pool, "mint(uint256,address,address)", [shares, a, a]);
  await as(f.pool, "requestRedeem", [shares / 2n, a, a]);
  await time.increase(MIN_DELAY);
  await as(f.pool, "fulfillRedeem", [a, []]);
  await as(f.engine, "modifyPosition", [ETH, -wad(1), usd(1_000), 0n]);
  await as(f.engine, "modifyPosition", [BTC, wad("0.1"), usd(1_000), MAX_UINT]);
  await openPosition(f.engine, f.alice, ETH, wad(3), usd(150));
  await openPosition(f.engine, f.carol, BTC, wad("0.0002"), usd("0.2"));
  await f.ethFeed.updateAnswer(answer(2_965));
  await f.btcFeed.updateAnswer(answer(59_000));
  await as(f.pool, "requestDeposit", [usd(1_000), a, a]);
  await f.pool.connect(f.lp).requestRedeem(10n ** 18n, f.lp.address, f.lp.address);
  return { ...f, attacker, a, as };
}

type F = Awaited<ReturnType<typeof hookFixture>>;
type Call = { name: string; target: (f: F) => any; fn: string; args: (f: F) => unknown[] };

/** Every state-changing entry point of the engine, with arguments that would be valid if not re-entered. */
const ENGINE_CALLS: Call[] = [
  { name: "deposit", target: (f) => f.engine, fn: "deposit", args: () => [usd(1)] },
  { name: "withdraw", target: (f) => f.engine, fn: "withdraw", args: () => [usd(1)] },
  { name: "modifyPosition", target: (f) => f.engine, fn: "modifyPosition", args: () => [ETH, -wad("0.1"), 0n, 0n] },
  { name: "closePosition", target: (f) => f.engine, fn: "closePosition", args: () => [BTC, 0n] },
  { name: "addCollateral", target: (f) => f.engine, fn: "addCollateral", args: () => [ETH, usd(1)] },
  { name: "removeCollateral", target: (f) => f.engine, fn: "removeCollateral", args: () => [ETH, usd(1)] },
  { name: "liquidate", target: (f) => f.engine, fn: "liquidate", args: (f) => [f.alice.address, ETH] },
  { name: "liquidateBatch", target: (f) => f.engine, fn: "liquidateBatch", args: (f) => [[f.carol.address], [BTC]] },
];

/**
 * Every state-changing entry point of the pool that anyone may call (payEngine is the engine's; setOperator moves
 * neither shares nor tokens): ERC-7540 requests, fulfilments and cancellations, ERC-4626 claims.
 */
const POOL_CALLS: Call[] = [
  { name: "requestDeposit", target: (f) => f.pool, fn: "requestDeposit", args: (f) => [usd(1), f.carol.address, f.a] },
  { name: "requestRedeem", target: (f) => f.pool, fn: "requestRedeem", args: (f) => [10n ** 12n, f.a, f.a] },
  { name: "fulfillDeposit", target: (f) => f.pool, fn: "fulfillDeposit", args: (f) => [f.a, []] },
  { name: "fulfillRedeem", target: (f) => f.pool, fn: "fulfillRedeem", args: (f) => [f.lp.address, []] },
  { name: "fulfillRequests", target: (f) => f.pool, fn: "fulfillRequests", args: (f) => [[f.a], [false], [[]]] },
  { name: "cancelDepositRequest", target: (f) => f.pool, fn: "cancelDepositRequest", args: (f) => [f.a] },
  { name: "cancelRedeemRequest", target: (f) => f.pool, fn: "cancelRedeemRequest", args: (f) => [f.lp.address] },
  { name: "deposit", target: (f) => f.pool, fn: "deposit(uint256,address)", args: (f) => [usd(1), f.a] },
  { name: "deposit (controller)", target: (f) => f.pool, fn: "deposit(uint256,address,address)", args: (f) => [usd(1), f.a, f.a] },
  { name: "mint", target: (f) => f.pool, fn: "mint(uint256,address)", args: (f) => [10n ** 12n, f.a] },
  { name: "mint (controller)", target: (f) => f.pool, fn: "mint(uint256,address,address)", args: (f) => [10n ** 12n, f.a, f.a] },
  { name: "withdraw", target: (f) => f.pool, fn: "withdraw", args: (f) => [usd(1), f.a, f.a] },
  { name: "redeem", target: (f) => f.pool, fn: "redeem", args: (f) => [10n ** 12n, f.a, f.a] },
];

type Outer = {
  name: string;
  /** The token transfers it makes (each gives the attacker two callbacks in the Every scope). */
  transfers: number;
  /** Callbacks the attacker gets in the Parties scope (ERC-777's rule): the transfers it sends or receives. */
  parties: number;
  /** Seconds after the fixture's last block at which it runs (default 30: the pending requests are ready and their
   * prices fresh); cancellations run after the requests expired. */
  delay?: number;
  run: (f: F) => Promise<unknown>;
  /** What to re-enter from its callbacks. */
  reentries: Call[];
};

/** The keeper fulfils `controller`'s pending request at the Chainlink prices, published when it became ready. */
async function keeperFulfils(f: F, controller: string, redeem: boolean) {
  const r = redeem ? await f.pool.redeemRequest(controller) : await f.pool.depositRequest(controller);
  const updates = await poolPriceUpdates(f.engine, BigInt(r.requestedAt) + MIN_DELAY);
  const p = f.pool.connect(f.keeper);
  const value = BigInt(updates.length);
  return redeem ? p.fulfillRedeem(controller, updates, { value }) : p.fulfillDeposit(controller, updates, { value });
}

/** Every entry point that moves tokens, run by the attacker contract (as trader, keeper or LP). */
const OUTERS: Outer[] = [
  { name: "engine.deposit (trader to engine)", transfers: 1, parties: 1, run: (f) => f.as(f.engine, "deposit", [usd(500)]), reentries: ENGINE_CALLS },
  { name: "engine.withdraw (engine to trader)", transfers: 1, parties: 1, run: (f) => f.as(f.engine, "withdraw", [usd(500)]), reentries: ENGINE_CALLS },
  {
    name: "engine.modifyPosition increase (taker fee, engine to pool)",
    transfers: 1,
    parties: 0,
    run: (f) => f.as(f.engine, "modifyPosition", [BTC, wad("0.01"), usd(100), MAX_UINT]),
    reentries: ENGINE_CALLS,
  },
  {
    name: "engine.modifyPosition decrease at a loss (engine to pool)",
    transfers: 1,
    parties: 0,
    run: (f) => f.as(f.engine, "modifyPosition", [BTC, -wad("0.05"), 0n, 0n]),
    reentries: ENGINE_CALLS,
  },
  {
    // The profit is paid inside pool.payEngine, which holds the pool's lock: the pool cannot be re-entered either.
    name: "engine.closePosition in profit (pool.payEngine, pool to engine)",
    transfers: 1,
    parties: 0,
    run: (f) => f.as(f.engine, "closePosition", [ETH, MAX_UINT]),
    reentries: [...ENGINE_CALLS, ...POOL_CALLS],
  },
  {
    name: "engine.liquidate (loss to the pool, penalty to the insurance fund)",
    transfers: 2,
    parties: 0,
    run: (f) => f.as(f.engine, "liquidate", [f.alice.address, ETH]),
    reentries: ENGINE_CALLS,
  },
  {
    name: "engine.liquidate with a keeper top-up (insurance fund to engine, loss to the pool)",
    transfers: 2,
    parties: 0,
    run: (f) => f.as(f.engine, "liquidate", [f.carol.address, BTC]),
    reentries: ENGINE_CALLS,
  },
  {
    // Flows are netted per transaction: Alice's penalty exceeds Carol's top-up, so the fund only receives.
    name: "engine.liquidateBatch (netted flows: engine to pool and to the insurance fund)",
    transfers: 2,
    parties: 0,
    run: (f) => f.as(f.engine, "liquidateBatch", [[f.alice.address, f.carol.address], [ETH, BTC]]),
    reentries: ENGINE_CALLS,
  },
  {
    name: "pool.requestDeposit (LP to pool)",
    transfers: 1,
    parties: 1,
    run: (f) => f.as(f.pool, "requestDeposit", [usd(1_000), f.keeper.address, f.a]),
    reentries: POOL_CALLS,
  },
  {
    // The keeper fulfils the attacker's deposit at Pyth prices (the engine's poolMarkToMarketAt) and is paid the fee.
    name: "pool.fulfillDeposit (execution fee, pool to fulfiller)",
    transfers: 1,
    parties: 0,
    run: (f) => keeperFulfils(f, f.a, false),
    reentries: POOL_CALLS,
  },
  {
    name: "pool.fulfillRedeem (execution fee, pool to fulfiller)",
    transfers: 1,
    parties: 0,
    run: (f) => keeperFulfils(f, f.lp.address, true),
    reentries: POOL_CALLS,
  },
  {
    name: "pool.cancelDepositRequest (pool to controller)",
    transfers: 1,
    parties: 1,
    delay: 400,
    run: (f) => f.pool.connect(f.keeper).cancelDepositRequest(f.a),
    reentries: POOL_CALLS,
  },
  {
    name: "pool.withdraw (claim, pool to LP)",
    transfers: 1,
    parties: 1,
    run: (f) => f.as(f.pool, "withdraw", [usd(1_000), f.a, f.a]),
    reentries: POOL_CALLS,
  },
  {
    name: "pool.redeem (claim, pool to LP)",
    transfers: 1,
    parties: 1,
    run: (f) => f.as(f.pool, "redeem", [10n ** 15n, f.a, f.a]),
    reentries: POOL_CALLS,
  },
];

/** Sets the next block's timestamp to the fixture's last block plus the outer call's delay. */
async function atDelay(base: bigint, outer: Outer) {
  await time.setNextBlockTimestamp(base + BigInt(outer.delay ?? 30));
}

type Protocol = Awaited<ReturnType<typeof deployProtocolOn>>;

/**
 * Engine, pool and insurance state for `accounts` (default: the fixture's traders and LP): free balances, positions,
 * open interest, token balances of everyone involved, pool supply and shares.
 */
async function state(f: Protocol, accounts: string[] = [f.alice.address, f.bob.address, f.carol.address, f.lp.address]) {
  const pool = f.pool;
  return {
    ...(await snapshot(f, accounts, [ETH, BTC])),
    poolSupply: await pool.totalSupply(),
    poolShares: await Promise.all(accounts.map((x) => pool.balanceOf(x))),
    poolOwnShares: await pool.balanceOf(await pool.getAddress()),
    pending: [await pool.totalPendingDepositAssets(), await pool.totalPendingRedeemShares(), await pool.totalClaimableRedeemAssets()],
    requests: await Promise.all(
      accounts.map(async (x) => [
        plain(await pool.depositRequest(x)),
        plain(await pool.redeemRequest(x)),
        plain(await pool.claimableDeposit(x)),
        plain(await pool.claimableRedeem(x)),
      ]),
    ),
  };
}

/** state() including the attacker contract and the keeper (the fulfiller). */
const attackState = (f: F) => state(f, [f.a, f.alice.address, f.carol.address, f.lp.address, f.keeper.address]);

async function expectSolventAll(f: F) {
  await expectSolvent(f.engine, f.token, [f.a, f.alice.address, f.bob.address, f.carol.address, f.keeper.address], [ETH, BTC]);
}

describe("Adversarial tokens", function () {
  describe("reentrant token: every re-entry reverts ReentrancyGuardReentrantCall and changes nothing", function () {
    for (const outer of OUTERS) {
      it(`${outer.name}: every callback, every entry point of the same contract`, async function () {
        const f = await networkHelpers.loadFixture(hookFixture);
        await f.token.setHook(f.attacker, Scope.Every, true, true);
        // The outer call always runs at the same timestamp, so the attacked and the clean runs are comparable.
        const last = BigInt(await time.latest());
        const base = await networkHelpers.takeSnapshot();

        // Clean run (armed at a callback that never comes): the state to reach, and the callbacks to attack.
        await f.attacker.arm(f.engine, "0x", false, 1_000);
        await atDelay(last, outer);
        const before = await f.attacker.hookCalls();
        await outer.run(f);
        const callbacks = Number((await f.attacker.hookCalls()) - before);
        expect(callbacks).to.equal(2 * outer.transfers);
        const expected = await attackState(f);

        for (let n = 0; n < callbacks; n++) {
          for (const call of outer.reentries) {
            await base.restore();
            const target = call.target(f);
            await f.attacker.arm(target, target.interface.encodeFunctionData(call.fn, call.args(f)), false, n);
            await atDelay(last, outer);
            await outer.run(f);
            const where = `${call.name} at callback ${n}`;
            expect(await f.attacker.attempted(), where).to.equal(true);
            expect(await f.attacker.succeeded(), where).to.equal(false);
            expect(await f.attacker.result(), where).to.equal(REENTRANT);
            expect(await attackState(f), where).to.deep.equal(expected);
          }
        }
        await expectSolventAll(f);
      });
    }

    it("a re-entry whose revert the attacker bubbles up reverts the outer call, which changes nothing", async function () {
      const f = await networkHelpers.loadFixture(hookFixture);
      await f.token.setHook(f.attacker, Scope.Every, true, true);
      const before = await attackState(f);
      const last = BigInt(await time.latest());
      const base = await networkHelpers.takeSnapshot();
      for (const outer of OUTERS) {
        await base.restore();
        const call = outer.reentries[0];
        const target = call.target(f);
        await f.attacker.arm(target, target.interface.encodeFunctionData(call.fn, call.args(f)), true, 0);
        await atDelay(last, outer);
        await expect(outer.run(f), outer.name).to.be.revertedWithCustomError(f.engine, "ReentrancyGuardReentrantCall");
        expect(await attackState(f), outer.name).to.deep.equal(before);
      }
    });

    it("an ERC-777-style hook (sender before, recipient after) reaches the attacker only in its own deposits, withdrawals, requests and claims", async function () {
      const f = await networkHelpers.loadFixture(hookFixture);
      await f.token.setHook(f.attacker, Scope.Parties, false, false);
      const last = BigInt(await time.latest());
      const base = await networkHelpers.takeSnapshot();
      const callbacks = async (outer: Outer) => {
        await base.restore();
        const before = await f.attacker.hookCalls();
        await atDelay(last, outer);
        await outer.run(f);
        return Number((await f.attacker.hookCalls()) - before);
      };
      const counts = [];
      for (const outer of OUTERS) counts.push([outer.name, await callbacks(outer)]);
      // Settlements move tokens between the engine, the pool and the insurance fund only, and a fulfilment pays its
      // fee to the keeper: no callback.
      expect(Object.fromEntries(counts)).to.deep.equal(Object.fromEntries(OUTERS.map((o) => [o.name, o.parties])));
      expect(OUTERS.filter((o) => o.parties !== 0).map((o) => o.name)).to.deep.equal([
        "engine.deposit (trader to engine)",
        "engine.withdraw (engine to trader)",
        "pool.requestDeposit (LP to pool)",
        "pool.cancelDepositRequest (pool to controller)",
        "pool.withdraw (claim, pool to LP)",
        "pool.redeem (claim, pool to LP)",
      ]);
    });

    // With a hostile token that calls an attacker on transfers between the protocol's own contracts, the pool could be
    // entered while the engine is between its state update and the end of its token settlement (TidemarkEngine._settle):
    // after a losing close has left the book but before its loss reaches the pool, the pool's NAV is short by that
    // amount and a deposit priced then would buy shares cheaply. A deposit is priced when it is fulfilled, through the
    // engine's poolMarkToMarketAt, which holds the engine's lock: fulfilling inside an engine call reverts
    // ReentrancyGuardReentrantCall (as poolMarkToMarket, the views' valuation, does).
    it("a pool deposit fulfilled while the engine settles a trade reverts ReentrancyGuardReentrantCall", async function () {
      const f = await networkHelpers.loadFixture(hookFixture);
      await f.token.setHook(f.attacker, Scope.Every, true, false);
      const before = await attackState(f);
      const r = await f.pool.depositRequest(f.a);
      const updates = await poolPriceUpdates(f.engine, BigInt(r.requestedAt) + MIN_DELAY);
      await f.attacker.arm(f.pool, f.pool.interface.encodeFunctionData("fulfillDeposit", [f.a, updates]), false, 0);
      await time.setNextBlockTimestamp(BigInt(await time.latest()) + 30n); // ready, and its prices fresh
      await f.as(f.engine, "modifyPosition", [BTC, -wad("0.05"), 0n, 0n]);
      expect(await f.attacker.attempted()).to.equal(true);
      expect(await f.attacker.succeeded()).to.equal(false);
      expect(await f.attacker.result()).to.equal(REENTRANT);
      const after = await attackState(f);
      expect(after.poolShares).to.deep.equal(before.poolShares);
      expect(after.pending).to.deep.equal(before.pending);
      expect((await f.pool.depositRequest(f.a)).amount).to.equal(usd(1_000));
    });
  });

  describe("fee-on-transfer token", function () {
    /** The protocol on FeeOnTransferToken (1% burned per transfer); the pool starts empty. */
    async function feeFixture() {
      const token = await ethers.deployContract("FeeOnTransferToken");
      return deployProtocolOn(ethers, token, { seedPool: false });
    }

    it("pool.requestDeposit reverts VaultTransferShortfall(expected, received) and changes nothing", async function () {
      // The engine's deposit rejects the same token with PerpTransferShortfall (engine.accounts.test.ts). The pool's
      // only token intake is the deposit request: claims (deposit, mint) move shares it already holds.
      const f = await networkHelpers.loadFixture(feeFixture);
      const { pool, token, lp } = f;
      const before = await state(f);
      await expect(pool.connect(lp).requestDeposit(usd(100), lp.address, lp.address))
        .to.be.revertedWithCustomError(pool, "VaultTransferShortfall")
        .withArgs(usd(100), usd(99));
      await expect(pool.connect(lp).requestDeposit(usd(5), f.alice.address, lp.address))
        .to.be.revertedWithCustomError(pool, "VaultTransferShortfall")
        .withArgs(usd(5), usd("4.95"));
      expect(await state(f)).to.deep.equal(before);
      expect(await pool.totalSupply()).to.equal(0n);
      expect(await pool.totalPendingDepositAssets()).to.equal(0n);
      expect(await token.balanceOf(lp.address)).to.equal(usd(10_000_000));
    });

    it("the insurance fund has no deposit to check: a donation counts what arrived", async function () {
      const f = await networkHelpers.loadFixture(feeFixture);
      const { insurance, token, lp } = f;
      const held = await insurance.balance();
      await token.connect(lp).transfer(await insurance.getAddress(), usd(100));
      expect(await insurance.balance()).to.equal(held + usd(99));
      expect(await token.balanceOf(await insurance.getAddress())).to.equal(held + usd(99));
    });
  });

  describe("rebasing token (stETH-like shares)", function () {
    /**
     * The protocol on RebasingERC20, minted and seeded at one share per unit (exact transfers), then a 10% reward
     * rebase plus 7 units, after which most transfers credit the recipient one unit less than sent.
     */
    async function rebasingFixture() {
      const token = await ethers.deployContract("RebasingERC20");
      const f = await deployProtocolOn(ethers, token);
      const pooled = await token.totalPooled();
      await token.rebase(pooled + pooled / 10n + 7n);
      return f;
    }

    type RF = Awaited<ReturnType<typeof rebasingFixture>>;

    /** What `to` is credited when `amount` is sent to it now (the token's rounding, replayed). */
    async function credited(f: RF, to: string, amount: bigint) {
      const [S, P, held] = [await f.token.totalShares(), await f.token.totalPooled(), await f.token.sharesOf(to)];
      const moved = (amount * S) / P;
      return ((held + moved) * P) / S - (held * P) / S;
    }

    /** The first amount at or above `from` that arrives one unit short at `to`. */
    async function shortAmount(f: RF, to: string, from: bigint) {
      for (let x = from; ; x++) if ((await credited(f, to, x)) === x - 1n) return x;
    }

    it("engine.deposit reverts PerpTransferShortfall(amount, amount - 1) when share rounding loses a unit", async function () {
      const f = await networkHelpers.loadFixture(rebasingFixture);
      const { engine, alice } = f;
      const amount = await shortAmount(f, await engine.getAddress(), usd(1_000));
      const before = await state(f);
      await expect(engine.connect(alice).deposit(amount))
        .to.be.revertedWithCustomError(engine, "PerpTransferShortfall")
        .withArgs(amount, amount - 1n);
      expect(await state(f)).to.deep.equal(before);
    });

    it("pool.requestDeposit reverts VaultTransferShortfall(assets, assets - 1) and changes nothing", async function () {
      const f = await networkHelpers.loadFixture(rebasingFixture);
      const { pool, lp } = f;
      const poolAddress = await pool.getAddress();
      const amount = await shortAmount(f, poolAddress, usd(1_000));
      const before = await state(f);
      await expect(pool.connect(lp).requestDeposit(amount, lp.address, lp.address))
        .to.be.revertedWithCustomError(pool, "VaultTransferShortfall")
        .withArgs(amount, amount - 1n);
      // The next amount that arrives short, for another controller.
      const next = await shortAmount(f, poolAddress, amount + 1n);
      await expect(pool.connect(lp).requestDeposit(next, f.alice.address, lp.address))
        .to.be.revertedWithCustomError(pool, "VaultTransferShortfall")
        .withArgs(next, next - 1n);
      expect(await state(f)).to.deep.equal(before);
    });

    it("a rebase on transfer is caught: the receiver's existing balance grows, so more arrives than was sent", async function () {
      const token = await ethers.deployContract("RebasingERC20");
      const f = await deployProtocolOn(ethers, token);
      const { engine, pool, alice, bob, lp } = f;
      // A live engine holds traders' funds: Bob deposits while transfers are exact (one share per unit).
      await engine.connect(bob).deposit(usd(50_000));
      await token.setRebaseOnTransfer(1); // from now on +0.01% of the pooled amount at every transfer
      const arrival = async (to: string, amount: bigint) => {
        const [S, P0, held] = [await token.totalShares(), await token.totalPooled(), await token.sharesOf(to)];
        const P1 = P0 + P0 / 10_000n;
        return ((held + (amount * S) / P1) * P1) / S - (held * P0) / S;
      };
      const before = await state(f);
      const toEngine = await arrival(await engine.getAddress(), usd(1_000));
      expect(toEngine).to.be.greaterThan(usd(1_000));
      await expect(engine.connect(alice).deposit(usd(1_000)))
        .to.be.revertedWithCustomError(engine, "PerpTransferShortfall")
        .withArgs(usd(1_000), toEngine);
      const toPool = await arrival(await pool.getAddress(), usd(1_000));
      expect(toPool).to.be.greaterThan(usd(1_000));
      await expect(pool.connect(lp).requestDeposit(usd(1_000), lp.address, lp.address))
        .to.be.revertedWithCustomError(pool, "VaultTransferShortfall")
        .withArgs(usd(1_000), toPool);
      expect(await state(f)).to.deep.equal(before);
    });

    it("residual risk: a rebase between transactions is not seen; the books keep the amount deposited", async function () {
      const token = await ethers.deployContract("RebasingERC20");
      const f = await deployProtocolOn(ethers, token);
      const { engine, alice } = f;
      const engineAddress = await engine.getAddress();
      // At one share per unit the transfer is exact: accepted.
      await expect(engine.connect(alice).deposit(usd(1_000))).to.emit(engine, "Deposited").withArgs(alice.address, usd(1_000));
      expect(await token.balanceOf(engineAddress)).to.equal(usd(1_000));

      // A 1% slashing rebase: the engine now holds less than it owes, and the books do not know.
      await token.rebase(((await token.totalPooled()) * 99n) / 100n);
      expect(await engine.freeBalance(alice.address)).to.equal(usd(1_000));
      expect(await token.balanceOf(engineAddress)).to.equal(usd(990));
      await expect(engine.connect(alice).withdraw(usd(1_000)))
        .to.be.revertedWithCustomError(token, "RebasingInsufficientBalance")
        .withArgs(engineAddress, usd(990), usd(1_000));

      // A reward rebase instead: the surplus is nobody's; the free balance still says 1,000.
      await token.rebase(((await token.totalPooled()) * 102n) / 99n);
      expect(await token.balanceOf(engineAddress)).to.equal(usd(1_020));
      await expect(engine.connect(alice).withdraw(usd(1_000))).to.emit(engine, "Withdrawn").withArgs(alice.address, usd(1_000));
      expect(await engine.freeBalance(alice.address)).to.equal(0n);
      expect(await token.balanceOf(engineAddress)).to.equal(usd(20));
    });
  });
});
