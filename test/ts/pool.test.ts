/**
 * LiquidityPool, an ERC-7540 asynchronous vault (ILiquidityPool's NatSpec is the spec), and InsuranceFund.
 *
 * An LP request takes the assets (deposit) or the shares (redemption); anyone fulfils it after `minDelay` and before
 * `maxDelay` at the NAV of the first Pyth prices published at or after `requestedAt + minDelay` (the engine's
 * poolMarkToMarketAt), receiving the request's execution fee; the controller (or its operator) then claims with the
 * ERC-4626 functions. Every expected figure is worked out here from the formulas of the spec (virtual offset 1e6
 * shares and 1 asset, roundings as stated) or by hand in the comments, never read back from the pool.
 *
 * Every block timestamp that matters is set with setNextBlockTimestamp, so readiness, expiry and price ages are exact.
 */
import { expect } from "chai";
import { ZeroAddress, id as keccakId } from "ethers";
import { network } from "hardhat";

import {
  BTC,
  ETH,
  ETH_PYTH_ID,
  EXPOSURE_PARAMS,
  HEARTBEAT,
  TOKEN_DECIMALS,
  answer,
  deployProtocol,
  usd,
  wad,
} from "./helpers/fixture.js";
import { WAD, divUp, expectSolvent, openPosition } from "./helpers/liquidation-helpers.js";
import { governInSteps, mutatingFunctions, plain } from "./helpers/engine-helpers.js";
import { lpDeposit, lpRedeem } from "./helpers/flows.js";
import { encodeUpdate, toPyth } from "./helpers/pyth.js";

const { ethers, networkHelpers } = await network.create();
const { time, loadFixture } = networkHelpers;

/* ------------------------------------------------------------------ constants */

/** OpenZeppelin ERC-4626 virtual offset used by the pool: 10 ** 6 virtual shares, 1 virtual asset. */
const VIRTUAL_SHARES = 10n ** 6n;
/** The default execution fee, 0.5 USD, in token units. */
const FEE = usd("0.5");
/** Default OrderParams (the engine's constructor). */
const MIN_DELAY = 2n;
const MAX_DELAY = 300n;
const MAX_PRICE_AGE = 60n;
const MAX_DEVIATION = wad("0.02");
/** Tokens per WAD USD. */
const SCALE = 10n ** 12n;
const LP_SHARES = usd(5_000_000) * VIRTUAL_SHARES;

/** Shares a fulfilled deposit of `net` assets receives: floor(net * (supply + 1e6) / (nav + 1)). */
const sharesFor = (net: bigint, supply: bigint, nav: bigint) => (net * (supply + VIRTUAL_SHARES)) / (nav + 1n);
/** Assets a fulfilled redemption of `shares` receives: floor(shares * (nav + 1) / (supply + 1e6)). */
const assetsFor = (shares: bigint, supply: bigint, nav: bigint) => (shares * (nav + 1n)) / (supply + VIRTUAL_SHARES);
/** Open-interest cap in WAD USD: ratio times the pool's capacity, rounded down. */
const capOf = (capacity: bigint, ratio: bigint) => (capacity * SCALE * ratio) / WAD;
const min = (a: bigint, b: bigint) => (a < b ? a : b);

/** ERC-165 id of an interface: the XOR of its function selectors. */
function interfaceId(signatures: string[]): string {
  const x = signatures.reduce((acc, s) => acc ^ BigInt(keccakId(s).slice(0, 10)), 0n);
  return "0x" + x.toString(16).padStart(8, "0");
}

/* ------------------------------------------------------------------ fixtures */

/** The protocol, plus two more funded and approved signers (Dave, Erin). */
async function protocolFixture() {
  const f = await deployProtocol(ethers);
  const [dave, erin] = (await ethers.getSigners()).slice(7, 9);
  for (const s of [dave, erin]) {
    await f.token.mint(s.address, usd(10_000_000));
    await f.token.connect(s).approve(f.pool, ethers.MaxUint256);
    await f.token.connect(s).approve(f.engine, ethers.MaxUint256);
  }
  return { ...f, dave, erin };
}
type F = Awaited<ReturnType<typeof protocolFixture>>;

/**
 * Open interest on both markets and prices moved: Alice long 10 ETH at 3,000 and Bob short 0.5 BTC at 60,000 (taker
 * fees 15 + 15 USD to the pool), then Chainlink ETH 3,100 and BTC 59,000. Both traders are in profit.
 */
async function bookFixture() {
  const f = await protocolFixture();
  await openPosition(f.engine, f.alice, ETH, wad(10), usd(1_000));
  await openPosition(f.engine, f.bob, BTC, -wad("0.5"), usd(1_000));
  await f.ethFeed.updateAnswer(answer(3_100));
  await f.btcFeed.updateAnswer(answer(59_000));
  return f;
}
/** The pool's liquid balance in bookFixture: 5,000,000 + 30 USD of fees. */
const LIQUID = usd(5_000_030);
/** NAV at Chainlink prices in bookFixture: the traders' profits 10 * 100 + 0.5 * 1,000 USD are the pool's loss. */
const NAV_CHAINLINK = usd(5_000_030 - 1_000 - 500);
/** Pyth prices of the fulfilments in bookFixture: within 2% of Chainlink (0.65% and 0.85%), and not equal to it. */
const PYTH: Record<string, bigint> = { [ETH]: wad(3_120), [BTC]: wad(59_500) };
/** NAV at PYTH: 5,000,030 - 10 * 120 - 0.5 * 500 USD. */
const NAV_PYTH = usd(5_000_030 - 1_200 - 250);
/** bookFixture's reserve: 20% of 30,000 + 30,000 USD of entry notional. */
const BOOK_RESERVE = usd(12_000);

/* ------------------------------------------------------------------ helpers */

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Signer = any;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Tx = any;

const latest = async () => BigInt(await time.latest());
const at = (t: bigint) => time.setNextBlockTimestamp(t);

async function minedAt(tx: Tx): Promise<bigint> {
  const receipt = await tx.wait();
  return BigInt((await ethers.provider.getBlock(receipt.blockNumber))!.timestamp);
}

/**
 * MockPyth update data for every market with open interest, published at `publishTime` and each the first at or after
 * it (the previous one a second earlier), at `prices` (WAD, by market id) or else at the Chainlink price.
 */
async function updatesAt(f: F, publishTime: bigint, prices: Record<string, bigint> = {}, prev = publishTime - 1n) {
  const out: string[] = [];
  for (const m of await f.engine.listedMarkets()) {
    const [long, short] = await f.engine.openInterest(m);
    if (long === 0n && short === 0n) continue;
    const price = prices[m] ?? (await f.engine.oracleStatus(m))[1];
    out.push(encodeUpdate(await f.engine.pythPriceId(m), toPyth(price), publishTime, prev));
  }
  return out;
}

type FulfilOpts = { prices?: Record<string, bigint>; when?: bigint; updates?: string[]; value?: bigint };

/**
 * Sends the fulfilment of `controller`'s pending deposit (or `redeem`ption) from `by` in a block at `when` (default:
 * the request's readyAt, or the next second when that has passed), with updates published at readyAt at `prices`
 * (default Chainlink's) unless `updates` are given; `value` defaults to MockPyth's fee (1 wei per update).
 */
async function fulfilAt(f: F, by: Signer, controller: string, redeem: boolean, o: FulfilOpts = {}) {
  const r = redeem ? await f.pool.redeemRequest(controller) : await f.pool.depositRequest(controller);
  const readyAt = BigInt(r.requestedAt) + MIN_DELAY;
  const next = (await latest()) + 1n;
  await at(o.when ?? (readyAt > next ? readyAt : next));
  const updates = o.updates ?? (await updatesAt(f, readyAt, o.prices));
  const value = o.value ?? BigInt(updates.length);
  const p = f.pool.connect(by);
  return redeem ? p.fulfillRedeem(controller, updates, { value }) : p.fulfillDeposit(controller, updates, { value });
}

/** Everything a pool call can change, for "reverted and changed nothing" checks, with `who`'s balances and requests. */
async function poolState(f: F, who: Signer[]) {
  const { pool, token } = f;
  const self = await pool.getAddress();
  const out: Record<string, unknown> = {
    supply: await pool.totalSupply(),
    poolShares: await pool.balanceOf(self),
    poolTokens: await token.balanceOf(self),
    pendingDepositAssets: await pool.totalPendingDepositAssets(),
    pendingRedeemShares: await pool.totalPendingRedeemShares(),
    claimableRedeemAssets: await pool.totalClaimableRedeemAssets(),
    liquid: await pool.liquidBalance(),
  };
  for (const s of who) {
    const a = s.address;
    out[`tokens:${a}`] = await token.balanceOf(a);
    out[`shares:${a}`] = await pool.balanceOf(a);
    out[`depositRequest:${a}`] = plain(await pool.depositRequest(a));
    out[`redeemRequest:${a}`] = plain(await pool.redeemRequest(a));
    out[`claimableDeposit:${a}`] = plain(await pool.claimableDeposit(a));
    out[`claimableRedeem:${a}`] = plain(await pool.claimableRedeem(a));
  }
  return out;
}

/** The pool's overloaded ERC-4626 / ERC-7540 claim functions. */
const depositFor = (f: F, s: Signer) => f.pool.connect(s)["deposit(uint256,address,address)"];
const mintFor = (f: F, s: Signer) => f.pool.connect(s)["mint(uint256,address,address)"];

/** A pool of a fresh token with no deposits and no engine bound, and an engine for it, for first-depositor scenarios. */
async function emptyPoolFixture() {
  const f = await protocolFixture();
  const token2 = await ethers.deployContract("MockERC20", ["Other USD", "oUSD", TOKEN_DECIMALS]);
  const pool2 = await ethers.deployContract("LiquidityPool", [token2, "Tidemark LP 2", "tmLP2"]);
  const insurance2 = await ethers.deployContract("InsuranceFund", [token2]);
  for (const s of [f.alice, f.bob]) {
    await token2.mint(s.address, usd(10_000_000));
    await token2.connect(s).approve(pool2, ethers.MaxUint256);
  }
  return { ...f, token2, pool2, insurance2 };
}

/* ================================================================== tests */

describe("LiquidityPool (ERC-7540) and InsuranceFund", function () {
  describe("shares, views and interfaces", function () {
    it("the fixture LP holds shares with six virtual decimals; nothing is pending or claimable", async function () {
      const f = await loadFixture(protocolFixture);
      const { pool, lp } = f;
      expect(await pool.asset()).to.equal(await f.token.getAddress());
      expect(await pool.decimals()).to.equal(12n);
      expect(await pool.engine()).to.equal(await f.engine.getAddress());
      expect(await pool.totalAssets()).to.equal(usd(5_000_000));
      expect(await pool.liquidBalance()).to.equal(usd(5_000_000));
      expect(await pool.capacity()).to.equal(usd(5_000_000));
      expect(await pool.availableLiquidity()).to.equal(usd(5_000_000));
      // Request of 5,000,000.5 USD at NAV 0 and supply 0: 5,000,000 USD * 1e6 / 1 shares.
      expect(await pool.balanceOf(lp.address)).to.equal(LP_SHARES);
      expect(await pool.totalSupply()).to.equal(LP_SHARES);
      expect(await pool.balanceOf(await pool.getAddress())).to.equal(0n);
      expect(await f.token.balanceOf(lp.address)).to.equal(usd(5_000_000)); // 10M minted, the fee came back
      expect(await pool.totalPendingDepositAssets()).to.equal(0n);
      expect(await pool.totalPendingRedeemShares()).to.equal(0n);
      expect(await pool.totalClaimableRedeemAssets()).to.equal(0n);
      const max = [pool.maxDeposit, pool.maxMint, pool.maxWithdraw, pool.maxRedeem];
      for (const fn of max) expect(await fn(lp.address), fn.name).to.equal(0n);
    });

    it("supportsInterface: ERC-165 and the three ERC-7540 interfaces, with the ids of their selectors", async function () {
      const { pool } = await loadFixture(protocolFixture);
      const operator = interfaceId(["setOperator(address,bool)", "isOperator(address,address)"]);
      const deposit = interfaceId([
        "requestDeposit(uint256,address,address)",
        "pendingDepositRequest(uint256,address)",
        "claimableDepositRequest(uint256,address)",
        "deposit(uint256,address,address)",
        "mint(uint256,address,address)",
      ]);
      const redeem = interfaceId([
        "requestRedeem(uint256,address,address)",
        "pendingRedeemRequest(uint256,address)",
        "claimableRedeemRequest(uint256,address)",
      ]);
      expect([operator, deposit, redeem]).to.deep.equal(["0xe3bc4e65", "0xce3bbe50", "0x620ee8e4"]);
      for (const i of ["0x01ffc9a7", operator, deposit, redeem]) expect(await pool.supportsInterface(i), i).to.equal(true);
      for (const i of ["0xffffffff", "0x00000000", "0x36372b07" /* ERC-20 */]) {
        expect(await pool.supportsInterface(i), i).to.equal(false);
      }
    });

    it("the ERC-4626 previews revert VaultAsyncFlow: an asynchronous vault cannot quote", async function () {
      const { pool } = await loadFixture(protocolFixture);
      for (const fn of [pool.previewDeposit, pool.previewMint, pool.previewWithdraw, pool.previewRedeem]) {
        for (const x of [0n, 1n, usd(1_000)]) {
          await expect(fn(x), `${fn.name}(${x})`).to.be.revertedWithCustomError(pool, "VaultAsyncFlow");
        }
      }
    });
  });

  describe("requestDeposit", function () {
    it("takes the assets into a pending request (DepositRequest, requestId 0) that counts in neither NAV, liquid balance nor capacity", async function () {
      const f = await loadFixture(bookFixture);
      const { pool, token, carol, dave } = f;
      const supply = await pool.totalSupply();
      const available = await pool.availableLiquidity();
      expect(await pool.totalAssets()).to.equal(NAV_CHAINLINK);
      expect(available).to.equal(min(NAV_CHAINLINK, LIQUID) - BOOK_RESERVE);
      expect(await pool.connect(carol).requestDeposit.staticCall(usd(10_000), carol.address, carol.address)).to.equal(0n);

      const tx = pool.connect(carol).requestDeposit(usd(10_000), carol.address, carol.address);
      await expect(tx).to.emit(pool, "DepositRequest").withArgs(carol.address, carol.address, 0n, carol.address, usd(10_000));
      await expect(tx).to.changeTokenBalances(ethers, token, [carol, pool], [-usd(10_000), usd(10_000)]);
      const t = await minedAt(await tx);
      expect(await pool.pendingDepositRequest(0n, carol.address)).to.equal(usd(10_000));
      expect(await pool.pendingDepositRequest(1n, carol.address)).to.equal(0n); // one aggregated request: id 0
      expect(await pool.claimableDepositRequest(0n, carol.address)).to.equal(0n);
      expect(plain(await pool.depositRequest(carol.address))).to.deep.equal([usd(10_000), FEE, t]);
      expect(await pool.totalPendingDepositAssets()).to.equal(usd(10_000));
      expect(await token.balanceOf(await pool.getAddress())).to.equal(LIQUID + usd(10_000));
      // Held, not the pool's.
      expect(await pool.liquidBalance()).to.equal(LIQUID);
      expect(await pool.totalAssets()).to.equal(NAV_CHAINLINK);
      expect(await pool.capacity()).to.equal(LIQUID);
      expect(await pool.availableLiquidity()).to.equal(available);
      expect(await pool.totalSupply()).to.equal(supply);
      expect(await pool.maxDeposit(carol.address)).to.equal(0n);
      expect(await pool.maxMint(carol.address)).to.equal(0n);

      // Anyone may fund a request another address controls: Carol's tokens, Dave's request.
      await expect(pool.connect(carol).requestDeposit(usd(500), dave.address, carol.address))
        .to.emit(pool, "DepositRequest")
        .withArgs(dave.address, carol.address, 0n, carol.address, usd(500));
      expect((await pool.depositRequest(dave.address)).amount).to.equal(usd(500));
      expect(await pool.totalPendingDepositAssets()).to.equal(usd(10_500));
      expect(await pool.liquidBalance()).to.equal(LIQUID);
    });

    it("refuses another owner's tokens, zero, no more than the fee, a second request and a missing allowance, each with its error and changing nothing", async function () {
      const f = await loadFixture(protocolFixture);
      const { pool, token, bob, carol, dave } = f;
      const [, , , , , , , , , stranger] = await ethers.getSigners();
      await pool.connect(carol).requestDeposit(usd(1_000), carol.address, carol.address);
      const before = await poolState(f, [bob, carol, dave]);
      await expect(pool.connect(bob).requestDeposit(usd(1), bob.address, carol.address))
        .to.be.revertedWithCustomError(pool, "VaultNotAuthorized")
        .withArgs(bob.address, carol.address);
      await expect(pool.connect(bob).requestDeposit(0n, bob.address, bob.address)).to.be.revertedWithCustomError(
        pool,
        "VaultZeroAmount",
      );
      for (const assets of [1n, FEE - 1n, FEE]) {
        await expect(pool.connect(bob).requestDeposit(assets, bob.address, bob.address))
          .to.be.revertedWithCustomError(pool, "VaultRequestTooSmall")
          .withArgs(assets, FEE);
      }
      // One pending request per controller, whoever funds it.
      await expect(pool.connect(carol).requestDeposit(usd(1), carol.address, carol.address))
        .to.be.revertedWithCustomError(pool, "VaultRequestPending")
        .withArgs(carol.address);
      await expect(pool.connect(dave).requestDeposit(usd(1), carol.address, dave.address))
        .to.be.revertedWithCustomError(pool, "VaultRequestPending")
        .withArgs(carol.address);
      await expect(pool.connect(stranger).requestDeposit(usd(1), stranger.address, stranger.address))
        .to.be.revertedWithCustomError(token, "ERC20InsufficientAllowance")
        .withArgs(await pool.getAddress(), 0n, usd(1));
      expect(await poolState(f, [bob, carol, dave])).to.deep.equal(before);
      // The smallest request is one unit above the fee.
      await expect(pool.connect(bob).requestDeposit(FEE + 1n, bob.address, bob.address)).to.emit(pool, "DepositRequest");
    });
  });

  describe("fulfillDeposit", function () {
    it("prices the deposit at the NAV of the first Pyth prices after minDelay (not Chainlink's), pays the fee to the fulfiller and makes the shares claimable", async function () {
      const f = await loadFixture(bookFixture);
      const { pool, token, carol, keeper } = f;
      const t = await minedAt(await pool.connect(carol).requestDeposit(usd(10_000), carol.address, carol.address));
      const before = await poolState(f, [carol, keeper]);
      await expect(fulfilAt(f, keeper, carol.address, false, { when: t + 1n, prices: PYTH }))
        .to.be.revertedWithCustomError(pool, "VaultRequestNotReady")
        .withArgs(carol.address, t + MIN_DELAY);
      expect(await poolState(f, [carol, keeper])).to.deep.equal(before);

      const supply = await pool.totalSupply();
      const net = usd(10_000) - FEE;
      const shares = sharesFor(net, supply, NAV_PYTH);
      expect(shares).to.equal(10_002_340_664_748_788n);
      // At Chainlink's lower NAV the same deposit would have bought more shares.
      expect(sharesFor(net, supply, NAV_CHAINLINK)).to.equal(10_002_440_717_570_965n);
      const tx = fulfilAt(f, keeper, carol.address, false, { when: t + MIN_DELAY, prices: PYTH });
      await expect(tx)
        .to.emit(pool, "DepositFulfilled")
        .withArgs(carol.address, keeper.address, usd(10_000), shares, FEE, NAV_PYTH);
      await expect(tx).to.changeTokenBalances(ethers, token, [keeper, pool, carol], [FEE, -FEE, 0n]);
      expect(await pool.totalSupply()).to.equal(supply + shares);
      expect(await pool.balanceOf(await pool.getAddress())).to.equal(shares); // minted to the pool until claimed
      expect(plain(await pool.claimableDeposit(carol.address))).to.deep.equal([net, shares]);
      expect(await pool.claimableDepositRequest(0n, carol.address)).to.equal(net);
      expect(await pool.claimableDepositRequest(1n, carol.address)).to.equal(0n);
      expect(await pool.maxDeposit(carol.address)).to.equal(net);
      expect(await pool.maxMint(carol.address)).to.equal(shares);
      expect(await pool.pendingDepositRequest(0n, carol.address)).to.equal(0n);
      expect(plain(await pool.depositRequest(carol.address))).to.deep.equal([0n, 0n, 0n]);
      expect(await pool.totalPendingDepositAssets()).to.equal(0n);
      expect(await pool.liquidBalance()).to.equal(LIQUID + net);
      expect(await pool.totalAssets()).to.equal(NAV_CHAINLINK + net);
      expect(await pool.capacity()).to.equal(LIQUID + net);

      await expect(fulfilAt(f, keeper, carol.address, false))
        .to.be.revertedWithCustomError(pool, "VaultNoPendingRequest")
        .withArgs(carol.address);
    });

    it("needs no price update while no market has open interest (any fee sent: OrderWrongUpdateFee); fulfils up to maxDelay inclusive, then VaultRequestExpired", async function () {
      const f = await loadFixture(protocolFixture);
      const { pool, engine, dave, erin, keeper } = f;
      const t = await minedAt(await pool.connect(dave).requestDeposit(usd(1_000), dave.address, dave.address));
      await expect(fulfilAt(f, keeper, dave.address, false, { updates: [], value: 1n }))
        .to.be.revertedWithCustomError(engine, "OrderWrongUpdateFee")
        .withArgs(0n, 1n);
      const shares = sharesFor(usd("999.5"), LP_SHARES, usd(5_000_000));
      await expect(fulfilAt(f, keeper, dave.address, false, { when: t + MAX_DELAY, updates: [] }))
        .to.emit(pool, "DepositFulfilled")
        .withArgs(dave.address, keeper.address, usd(1_000), shares, FEE, usd(5_000_000));

      const t2 = await minedAt(await pool.connect(erin).requestDeposit(usd(1_000), erin.address, erin.address));
      const before = await poolState(f, [erin, keeper]);
      await expect(fulfilAt(f, keeper, erin.address, false, { when: t2 + MAX_DELAY + 1n, updates: [] }))
        .to.be.revertedWithCustomError(pool, "VaultRequestExpired")
        .withArgs(erin.address, t2 + MAX_DELAY);
      expect(await poolState(f, [erin, keeper])).to.deep.equal(before);
    });

    it("engine price errors surface through fulfilment and change nothing: too early, not first, from the future, deviation, missing feed, wrong fee, stale Chainlink, stale Pyth", async function () {
      const f = await loadFixture(bookFixture);
      const { pool, engine, ethFeed, carol, keeper } = f;
      const t = await minedAt(await pool.connect(carol).requestDeposit(usd(10_000), carol.address, carol.address));
      const ready = t + MIN_DELAY;
      const now = t + 10n;
      const before = await poolState(f, [carol, keeper]);
      const send = (updates: string[], when = now, value = BigInt(updates.length)) =>
        fulfilAt(f, keeper, carol.address, false, { when, updates, value });

      // Published a second before the earliest time.
      await expect(send(await updatesAt(f, ready - 1n, PYTH)))
        .to.be.revertedWithCustomError(engine, "OrderPriceTooEarly")
        .withArgs(ready - 1n, ready);
      // After the earliest time, but its predecessor was too: not the first update after it.
      await expect(send(await updatesAt(f, ready + 1n, PYTH, ready)))
        .to.be.revertedWithCustomError(engine, "OrderPriceNotFirst")
        .withArgs(ready + 1n, ready);
      await expect(send(await updatesAt(f, now + 1n, PYTH)))
        .to.be.revertedWithCustomError(engine, "OrderPriceFromFuture")
        .withArgs(now + 1n, now);
      // ETH one Pyth unit (1e-8) beyond 2% of Chainlink's 3,100.
      const far = wad("3162.00000001");
      await expect(send(await updatesAt(f, ready, { ...PYTH, [ETH]: far })))
        .to.be.revertedWithCustomError(engine, "OrderPriceDeviation")
        .withArgs(ETH, far, wad(3_100), MAX_DEVIATION);
      await expect(send(await updatesAt(f, ready, { ...PYTH, [BTC]: wad("57819.99999999") })))
        .to.be.revertedWithCustomError(engine, "OrderPriceDeviation")
        .withArgs(BTC, wad("57819.99999999"), wad(59_000), MAX_DEVIATION);
      // Every market with open interest needs its update: BTC's is missing.
      const ethOnly = [encodeUpdate(ETH_PYTH_ID, toPyth(PYTH[ETH]), ready, ready - 1n)];
      await expect(send(ethOnly)).to.be.revertedWithCustomError(engine, "OrderPriceUpdateInvalid");
      await expect(send(await updatesAt(f, ready, PYTH), now, 1n))
        .to.be.revertedWithCustomError(engine, "OrderWrongUpdateFee")
        .withArgs(2n, 1n);
      // Chainlink stale (a round older than the heartbeat): the deviation check has no reference.
      const old = now - BigInt(HEARTBEAT) - 1n;
      await ethFeed.updateRoundData(42n, answer(3_100), old, old);
      await expect(send(await updatesAt(f, ready, PYTH), now + 1n))
        .to.be.revertedWithCustomError(engine, "OracleStale")
        .withArgs(ETH, old, HEARTBEAT);
      await at(now + 2n);
      await ethFeed.updateAnswer(answer(3_100));
      expect(await poolState(f, [carol, keeper])).to.deep.equal(before);
      // The first update used more than maxPriceAge after its publication.
      await expect(send(await updatesAt(f, ready, PYTH), ready + MAX_PRICE_AGE + 1n))
        .to.be.revertedWithCustomError(engine, "OrderPriceStale")
        .withArgs(ready, MAX_PRICE_AGE);

      // The first update after the earliest time may be published later (its predecessor before it), here at
      // exactly 2% from Chainlink: ETH 3,162 and BTC 57,820. NAV = 5,000,030 - 10 * 162 - 0.5 * 2,180.
      const edge = { [ETH]: wad(3_162), [BTC]: wad(57_820) };
      const nav = usd(5_000_030 - 1_620 - 1_090);
      const shares = sharesFor(usd("9999.5"), LP_SHARES, nav);
      await expect(send(await updatesAt(f, ready + 1n, edge, ready - 1n), ready + MAX_PRICE_AGE + 1n))
        .to.emit(pool, "DepositFulfilled")
        .withArgs(carol.address, keeper.address, usd(10_000), shares, FEE, nav);
    });

    it("several fulfilments add up in the claimable deposit, each at its own price", async function () {
      const f = await loadFixture(bookFixture);
      const { pool, carol, keeper } = f;
      await pool.connect(carol).requestDeposit(usd(10_000), carol.address, carol.address);
      await fulfilAt(f, keeper, carol.address, false, { prices: PYTH });
      const s1 = sharesFor(usd("9999.5"), LP_SHARES, NAV_PYTH);
      await pool.connect(carol).requestDeposit(usd(2_000), carol.address, carol.address);
      // Now at Chainlink's prices, with Carol's first deposit in the pool.
      const nav2 = NAV_CHAINLINK + usd("9999.5");
      const s2 = sharesFor(usd("1999.5"), LP_SHARES + s1, nav2);
      await expect(fulfilAt(f, keeper, carol.address, false))
        .to.emit(pool, "DepositFulfilled")
        .withArgs(carol.address, keeper.address, usd(2_000), s2, FEE, nav2);
      expect(plain(await pool.claimableDeposit(carol.address))).to.deep.equal([usd("11999"), s1 + s2]);
      expect(await pool.balanceOf(await pool.getAddress())).to.equal(s1 + s2);
    });
  });

  describe("claiming a fulfilled deposit", function () {
    it("deposit (by assets) rounds the shares down, mint (by shares) rounds the assets up, the exact remainder takes the rest; bad claims change nothing", async function () {
      const f = await loadFixture(bookFixture);
      const { pool, carol, dave, bob } = f;
      await pool.connect(carol).requestDeposit(usd(10_000), carol.address, carol.address);
      await fulfilAt(f, f.keeper, carol.address, false, { prices: PYTH });
      const ca = usd("9999.5");
      const cs = sharesFor(ca, LP_SHARES, NAV_PYTH);

      // By assets, through the ERC-4626 two-argument deposit: the caller is the controller.
      const x = usd("1234.567891");
      const s1 = (x * cs) / ca;
      expect((x * cs) % ca).to.not.equal(0n); // a real rounding
      expect(await pool.connect(carol)["deposit(uint256,address)"].staticCall(x, carol.address)).to.equal(s1);
      const d = pool.connect(carol)["deposit(uint256,address)"](x, carol.address);
      await expect(d).to.emit(pool, "Deposit").withArgs(carol.address, carol.address, x, s1);
      await expect(d).to.changeTokenBalances(ethers, pool, [carol, pool], [s1, -s1]);
      expect(plain(await pool.claimableDeposit(carol.address))).to.deep.equal([ca - x, cs - s1]);

      // By shares, to another receiver: the assets it uses round up.
      const [ca1, cs1] = [ca - x, cs - s1];
      const y = 1_000_000_000_000_001n;
      const a2 = divUp(y * ca1, cs1);
      expect(a2).to.not.equal((y * ca1) / cs1);
      expect(await mintFor(f, carol).staticCall(y, dave.address, carol.address)).to.equal(a2);
      const m = mintFor(f, carol)(y, dave.address, carol.address);
      await expect(m).to.emit(pool, "Deposit").withArgs(carol.address, dave.address, a2, y);
      await expect(m).to.changeTokenBalances(ethers, pool, [dave, carol, pool], [y, 0n, -y]);
      const [ca2, cs2] = [ca1 - a2, cs1 - y];
      expect(plain(await pool.claimableDeposit(carol.address))).to.deep.equal([ca2, cs2]);
      expect(await pool.maxDeposit(carol.address)).to.equal(ca2);
      expect(await pool.maxMint(carol.address)).to.equal(cs2);

      const before = await poolState(f, [carol, dave, bob]);
      await expect(depositFor(f, carol)(ca2 + 1n, carol.address, carol.address))
        .to.be.revertedWithCustomError(pool, "VaultInsufficientClaimable")
        .withArgs(carol.address, ca2, ca2 + 1n);
      await expect(mintFor(f, carol)(cs2 + 1n, carol.address, carol.address))
        .to.be.revertedWithCustomError(pool, "VaultInsufficientClaimable")
        .withArgs(carol.address, cs2, cs2 + 1n);
      await expect(depositFor(f, carol)(0n, carol.address, carol.address)).to.be.revertedWithCustomError(pool, "VaultZeroAmount");
      await expect(pool.connect(carol)["mint(uint256,address)"](0n, carol.address)).to.be.revertedWithCustomError(
        pool,
        "VaultZeroAmount",
      );
      await expect(depositFor(f, bob)(1n, bob.address, carol.address))
        .to.be.revertedWithCustomError(pool, "VaultNotAuthorized")
        .withArgs(bob.address, carol.address);
      await expect(mintFor(f, bob)(1n, bob.address, carol.address))
        .to.be.revertedWithCustomError(pool, "VaultNotAuthorized")
        .withArgs(bob.address, carol.address);
      // Bob's own claimable deposit is empty.
      await expect(pool.connect(bob)["deposit(uint256,address)"](1n, bob.address))
        .to.be.revertedWithCustomError(pool, "VaultInsufficientClaimable")
        .withArgs(bob.address, 0n, 1n);
      expect(await poolState(f, [carol, dave, bob])).to.deep.equal(before);

      // Exactly what is left, by shares: all the assets left, however the divisions round.
      const last = mintFor(f, carol)(cs2, carol.address, carol.address);
      await expect(last).to.emit(pool, "Deposit").withArgs(carol.address, carol.address, ca2, cs2);
      expect(plain(await pool.claimableDeposit(carol.address))).to.deep.equal([0n, 0n]);
      expect(await pool.balanceOf(carol.address)).to.equal(s1 + cs2);
      expect(await pool.balanceOf(carol.address) + (await pool.balanceOf(dave.address))).to.equal(cs);
      expect(x + a2 + ca2).to.equal(ca);
      expect(await pool.balanceOf(await pool.getAddress())).to.equal(0n);
    });

    it("a claim moves no NAV: the shares were in the supply and their assets in NAV since the fulfilment", async function () {
      const f = await loadFixture(bookFixture);
      const { pool, alice } = f;
      // PoolCaller claims with the ERC-4626 deposit and reads the NAV in the same transaction. Alice funds a request
      // it controls.
      const caller = await ethers.deployContract("PoolCaller");
      await pool.connect(alice).requestDeposit(usd(10_000), await caller.getAddress(), alice.address);
      await fulfilAt(f, f.keeper, await caller.getAddress(), false);
      const nav = await pool.totalAssets();
      const supply = await pool.totalSupply();
      const shares = await pool.maxMint(caller);
      await caller.depositThenReadNav(pool, usd("9999.5"));
      expect(await pool.balanceOf(caller)).to.equal(shares);
      expect(await caller.navAfterDeposit()).to.equal(nav);
      expect(await pool.totalAssets()).to.equal(nav);
      expect(await pool.totalSupply()).to.equal(supply);
    });
  });

  describe("requestRedeem", function () {
    it("moves the shares into a pending request (RedeemRequest, requestId 0): supply and NAV unchanged, capacity without the pending share", async function () {
      const f = await loadFixture(bookFixture);
      const { pool, lp } = f;
      const S = 1_234_567_890_123_456_789n;
      expect(await pool.connect(lp).requestRedeem.staticCall(S, lp.address, lp.address)).to.equal(0n);
      const tx = pool.connect(lp).requestRedeem(S, lp.address, lp.address);
      await expect(tx).to.emit(pool, "RedeemRequest").withArgs(lp.address, lp.address, 0n, lp.address, S);
      await expect(tx).to.changeTokenBalances(ethers, pool, [lp, pool], [-S, S]);
      const t = await minedAt(await tx);
      expect(await pool.pendingRedeemRequest(0n, lp.address)).to.equal(S);
      expect(await pool.pendingRedeemRequest(1n, lp.address)).to.equal(0n);
      expect(await pool.claimableRedeemRequest(0n, lp.address)).to.equal(0n);
      expect(plain(await pool.redeemRequest(lp.address))).to.deep.equal([S, FEE, t]);
      expect(await pool.totalPendingRedeemShares()).to.equal(S);
      expect(await pool.totalSupply()).to.equal(LP_SHARES);
      expect(await pool.totalAssets()).to.equal(NAV_CHAINLINK);
      expect(await pool.liquidBalance()).to.equal(LIQUID);
      expect(await pool.capacity()).to.equal((LIQUID * (LP_SHARES - S)) / LP_SHARES);
      expect(await pool.maxRedeem(lp.address)).to.equal(0n);
    });

    it("an ERC-20 allowance or an operator lets another address request an owner's shares; zero, a second request and more than held are refused, changing nothing", async function () {
      const f = await loadFixture(protocolFixture);
      const { pool, lp, bob, carol } = f;
      const s = 10n ** 18n;
      await expect(pool.connect(bob).requestRedeem(s, bob.address, lp.address))
        .to.be.revertedWithCustomError(pool, "ERC20InsufficientAllowance")
        .withArgs(bob.address, 0n, s);
      await pool.connect(lp).approve(bob.address, s + 5n);
      // The request is Bob's: he controls it, the shares are the LP's.
      await expect(pool.connect(bob).requestRedeem(s, bob.address, lp.address))
        .to.emit(pool, "RedeemRequest")
        .withArgs(bob.address, lp.address, 0n, bob.address, s);
      expect(await pool.allowance(lp.address, bob.address)).to.equal(5n);
      expect(await pool.balanceOf(lp.address)).to.equal(LP_SHARES - s);
      expect((await pool.redeemRequest(bob.address)).amount).to.equal(s);

      const before = await poolState(f, [lp, bob, carol]);
      await expect(pool.connect(lp).requestRedeem(0n, lp.address, lp.address)).to.be.revertedWithCustomError(pool, "VaultZeroAmount");
      await expect(pool.connect(lp).requestRedeem(1n, bob.address, lp.address))
        .to.be.revertedWithCustomError(pool, "VaultRequestPending")
        .withArgs(bob.address);
      const held = LP_SHARES - s;
      await expect(pool.connect(lp).requestRedeem(held + 1n, lp.address, lp.address))
        .to.be.revertedWithCustomError(pool, "ERC20InsufficientBalance")
        .withArgs(lp.address, held, held + 1n);
      await expect(pool.connect(bob).requestRedeem(6n, carol.address, lp.address))
        .to.be.revertedWithCustomError(pool, "ERC20InsufficientAllowance")
        .withArgs(bob.address, 5n, 6n);
      expect(await poolState(f, [lp, bob, carol])).to.deep.equal(before);

      // An operator of the owner needs no allowance.
      await pool.connect(lp).setOperator(carol.address, true);
      await expect(pool.connect(carol).requestRedeem(s, lp.address, lp.address))
        .to.emit(pool, "RedeemRequest")
        .withArgs(lp.address, lp.address, 0n, carol.address, s);
      expect(await pool.allowance(lp.address, carol.address)).to.equal(0n);
      expect(await pool.totalPendingRedeemShares()).to.equal(2n * s);
    });
  });

  describe("fulfillRedeem", function () {
    it("burns the shares at the NAV of the first Pyth prices after minDelay, pays the fee to the fulfiller and leaves the rest claimable, out of NAV, liquid balance and capacity", async function () {
      const f = await loadFixture(bookFixture);
      const { pool, token, lp, keeper } = f;
      const S = 1_234_567_890_123_456_789n;
      const t = await minedAt(await pool.connect(lp).requestRedeem(S, lp.address, lp.address));
      await expect(fulfilAt(f, keeper, lp.address, true, { when: t + 1n, prices: PYTH }))
        .to.be.revertedWithCustomError(pool, "VaultRequestNotReady")
        .withArgs(lp.address, t + MIN_DELAY);

      const assets = assetsFor(S, LP_SHARES, NAV_PYTH);
      expect(assets).to.equal(1_234_217_272_842n); // 1,234,217.272842 USD
      // At Chainlink's lower NAV the same shares would have been worth less.
      expect(assetsFor(S, LP_SHARES, NAV_CHAINLINK)).to.be.lessThan(assets);
      const tx = fulfilAt(f, keeper, lp.address, true, { prices: PYTH });
      await expect(tx).to.emit(pool, "RedeemFulfilled").withArgs(lp.address, keeper.address, S, assets, FEE, NAV_PYTH);
      await expect(tx).to.changeTokenBalances(ethers, token, [keeper, pool, lp], [FEE, -FEE, 0n]);
      await expect(tx).to.changeTokenBalances(ethers, pool, [pool, lp], [-S, 0n]);
      const claim = assets - FEE;
      expect(await pool.totalSupply()).to.equal(LP_SHARES - S);
      expect(await pool.totalPendingRedeemShares()).to.equal(0n);
      expect(plain(await pool.claimableRedeem(lp.address))).to.deep.equal([claim, S]);
      expect(await pool.claimableRedeemRequest(0n, lp.address)).to.equal(S);
      expect(await pool.maxWithdraw(lp.address)).to.equal(claim);
      expect(await pool.maxRedeem(lp.address)).to.equal(S);
      expect(await pool.totalClaimableRedeemAssets()).to.equal(claim);
      expect(await token.balanceOf(await pool.getAddress())).to.equal(LIQUID - FEE);
      expect(await pool.liquidBalance()).to.equal(LIQUID - assets);
      expect(await pool.totalAssets()).to.equal(NAV_CHAINLINK - assets);
      expect(await pool.capacity()).to.equal(LIQUID - assets);
      expect(await pool.availableLiquidity()).to.equal(NAV_CHAINLINK - assets - BOOK_RESERVE);
    });

    it("claims: withdraw (by assets) rounds the shares used up, redeem (by shares) rounds the assets down, the exact remainder takes the rest; bad claims change nothing", async function () {
      const f = await loadFixture(bookFixture);
      const { pool, token, lp, bob } = f;
      const S = 1_234_567_890_123_456_789n;
      await pool.connect(lp).requestRedeem(S, lp.address, lp.address);
      await fulfilAt(f, f.keeper, lp.address, true, { prices: PYTH });
      const ca = assetsFor(S, LP_SHARES, NAV_PYTH) - FEE;
      const cs = S;

      const x = usd("100000.123457");
      const used = divUp(x * cs, ca);
      expect(used).to.not.equal((x * cs) / ca);
      expect(await pool.connect(lp).withdraw.staticCall(x, lp.address, lp.address)).to.equal(used);
      const w = pool.connect(lp).withdraw(x, lp.address, lp.address);
      await expect(w).to.emit(pool, "Withdraw").withArgs(lp.address, lp.address, lp.address, x, used);
      await expect(w).to.changeTokenBalances(ethers, token, [lp, pool], [x, -x]);
      const [ca1, cs1] = [ca - x, cs - used];
      expect(plain(await pool.claimableRedeem(lp.address))).to.deep.equal([ca1, cs1]);
      expect(await pool.totalClaimableRedeemAssets()).to.equal(ca1);

      const y = 333_333_333_333_333_333n;
      const out = (y * ca1) / cs1;
      expect((y * ca1) % cs1).to.not.equal(0n);
      expect(await pool.connect(lp).redeem.staticCall(y, bob.address, lp.address)).to.equal(out);
      const r = pool.connect(lp).redeem(y, bob.address, lp.address);
      await expect(r).to.emit(pool, "Withdraw").withArgs(lp.address, bob.address, lp.address, out, y);
      await expect(r).to.changeTokenBalances(ethers, token, [bob, lp, pool], [out, 0n, -out]);
      const [ca2, cs2] = [ca1 - out, cs1 - y];
      expect(plain(await pool.claimableRedeem(lp.address))).to.deep.equal([ca2, cs2]);

      const before = await poolState(f, [lp, bob]);
      await expect(pool.connect(lp).withdraw(ca2 + 1n, lp.address, lp.address))
        .to.be.revertedWithCustomError(pool, "VaultInsufficientClaimable")
        .withArgs(lp.address, ca2, ca2 + 1n);
      await expect(pool.connect(lp).redeem(cs2 + 1n, lp.address, lp.address))
        .to.be.revertedWithCustomError(pool, "VaultInsufficientClaimable")
        .withArgs(lp.address, cs2, cs2 + 1n);
      await expect(pool.connect(lp).withdraw(0n, lp.address, lp.address)).to.be.revertedWithCustomError(pool, "VaultZeroAmount");
      await expect(pool.connect(lp).redeem(0n, lp.address, lp.address)).to.be.revertedWithCustomError(pool, "VaultZeroAmount");
      // The third argument is the controller: an ERC-20 allowance does not make Bob one.
      await pool.connect(lp).approve(bob.address, ethers.MaxUint256);
      await expect(pool.connect(bob).withdraw(1n, bob.address, lp.address))
        .to.be.revertedWithCustomError(pool, "VaultNotAuthorized")
        .withArgs(bob.address, lp.address);
      await expect(pool.connect(bob).redeem(1n, bob.address, lp.address))
        .to.be.revertedWithCustomError(pool, "VaultNotAuthorized")
        .withArgs(bob.address, lp.address);
      expect(await poolState(f, [lp, bob])).to.deep.equal(before);

      // Exactly the assets left: every share left, however the divisions round.
      await expect(pool.connect(lp).withdraw(ca2, lp.address, lp.address))
        .to.emit(pool, "Withdraw")
        .withArgs(lp.address, lp.address, lp.address, ca2, cs2);
      expect(plain(await pool.claimableRedeem(lp.address))).to.deep.equal([0n, 0n]);
      expect(await pool.totalClaimableRedeemAssets()).to.equal(0n);
      expect(x + out + ca2).to.equal(ca);
      expect(used + y + cs2).to.equal(cs);
      expect(await token.balanceOf(await pool.getAddress())).to.equal(await pool.liquidBalance());
    });

    it("a redemption worth less than the fee pays all of it to the fulfiller and leaves zero assets claimable", async function () {
      const f = await loadFixture(protocolFixture);
      const { pool, token, lp, keeper } = f;
      const S = 10n ** 11n;
      await pool.connect(lp).requestRedeem(S, lp.address, lp.address);
      const assets = assetsFor(S, LP_SHARES, usd(5_000_000));
      expect(assets).to.equal(usd("0.1"));
      const tx = fulfilAt(f, keeper, lp.address, true);
      await expect(tx).to.emit(pool, "RedeemFulfilled").withArgs(lp.address, keeper.address, S, assets, assets, usd(5_000_000));
      await expect(tx).to.changeTokenBalances(ethers, token, [keeper, pool], [assets, -assets]);
      expect(plain(await pool.claimableRedeem(lp.address))).to.deep.equal([0n, S]);
      expect(await pool.totalClaimableRedeemAssets()).to.equal(0n);
      await expect(pool.connect(lp).withdraw(1n, lp.address, lp.address))
        .to.be.revertedWithCustomError(pool, "VaultInsufficientClaimable")
        .withArgs(lp.address, 0n, 1n);
      await expect(pool.connect(lp).redeem(S, lp.address, lp.address))
        .to.emit(pool, "Withdraw")
        .withArgs(lp.address, lp.address, lp.address, 0n, S);
      expect(plain(await pool.claimableRedeem(lp.address))).to.deep.equal([0n, 0n]);
    });
  });

  describe("fees and trader flows", function () {
    it("taker fees add to the pool's assets and trader profits are paid out of them", async function () {
      const f = await loadFixture(protocolFixture);
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

  describe("liquidity limits at redemption fulfilment", function () {
    it("reservedAssets = ceil(totalOpenNotional * reserveFactor) in token units", async function () {
      const f = await loadFixture(protocolFixture);
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

    it("a redemption may take at most min(NAV, liquid balance) - reserve: VaultInsufficientLiquidity above, exactly it passes; deposits and closes restore it", async function () {
      const f = await loadFixture(protocolFixture);
      const { engine, pool, alice, bob, lp, keeper } = f;
      await openPosition(engine, alice, ETH, wad(100), usd(10_000)); // 300k notional, fee 150
      const nav = usd(5_000_150);
      expect(await pool.totalAssets()).to.equal(nav);
      expect(await engine.reservedAssets()).to.equal(usd(60_000));
      const available = nav - usd(60_000);
      expect(await pool.availableLiquidity()).to.equal(available);

      // All the LP's shares are worth more than may leave.
      const t = await minedAt(await pool.connect(lp).requestRedeem(LP_SHARES, lp.address, lp.address));
      const all = assetsFor(LP_SHARES, LP_SHARES, nav);
      const before = await poolState(f, [lp, keeper]);
      await expect(fulfilAt(f, keeper, lp.address, true))
        .to.be.revertedWithCustomError(pool, "VaultInsufficientLiquidity")
        .withArgs(available, all);
      expect(await poolState(f, [lp, keeper])).to.deep.equal(before);
      // The request stays pending until it expires; then anyone can cancel it.
      await at(t + MAX_DELAY + 1n);
      await pool.connect(keeper).cancelRedeemRequest(lp.address);

      // The fewest shares worth the available liquidity (rounded down) are worth exactly it.
      const exact = divUp(available * (LP_SHARES + VIRTUAL_SHARES), nav + 1n);
      expect(assetsFor(exact, LP_SHARES, nav)).to.equal(available);
      await pool.connect(lp).requestRedeem(exact, lp.address, lp.address);
      await expect(fulfilAt(f, keeper, lp.address, true))
        .to.emit(pool, "RedeemFulfilled")
        .withArgs(lp.address, keeper.address, exact, available, FEE, nav);
      expect(await pool.liquidBalance()).to.equal(usd(60_000)); // the reserve
      expect(await pool.totalAssets()).to.equal(usd(60_000));
      expect(await pool.availableLiquidity()).to.equal(0n);
      const one = 10n ** 12n;
      await pool.connect(lp).requestRedeem(one, lp.address, lp.address);
      const supply = LP_SHARES - exact;
      const oneWorth = assetsFor(one, supply, usd(60_000));
      expect(oneWorth).to.equal(usd("1.00003")); // 1e12 of ~6e16 shares of 60,000 USD
      await expect(fulfilAt(f, keeper, lp.address, true))
        .to.be.revertedWithCustomError(pool, "VaultInsufficientLiquidity")
        .withArgs(0n, oneWorth);

      // A new deposit is liquidity above the reserve: the pending redemption now passes.
      await lpDeposit(ethers, pool, engine, bob, usd(1_000));
      expect(await pool.availableLiquidity()).to.equal(usd(1_000));
      await expect(fulfilAt(f, keeper, lp.address, true)).to.emit(pool, "RedeemFulfilled");
      // Closing the position releases the reserve.
      await engine.connect(alice).closePosition(ETH, 0n);
      expect(await engine.reservedAssets()).to.equal(0n);
      expect(await pool.availableLiquidity()).to.equal(await pool.totalAssets());
    });

    it("a reserve above the liquid balance leaves nothing redeemable (floored at 0)", async function () {
      const f = await loadFixture(protocolFixture);
      const { engine, pool, alice, lp, keeper } = f;
      await openPosition(engine, alice, ETH, wad(100), usd(10_000));
      const nav = usd(5_000_150);
      const available = nav - usd(60_000);
      const exact = divUp(available * (LP_SHARES + VIRTUAL_SHARES), nav + 1n);
      expect(await lpRedeem(ethers, pool, engine, lp, exact)).to.equal(available);
      await governInSteps(engine, { reserveFactor: wad(1) }); // 20% to 100% in steps; reserve 300k > 60k held
      await f.ethFeed.updateAnswer(answer(3000));
      await f.btcFeed.updateAnswer(answer(60_000));
      expect(await engine.reservedAssets()).to.equal(usd(300_000));
      expect(await pool.availableLiquidity()).to.equal(0n);
      const s = 10n ** 15n;
      await pool.connect(lp).requestRedeem(s, lp.address, lp.address);
      await expect(fulfilAt(f, keeper, lp.address, true))
        .to.be.revertedWithCustomError(pool, "VaultInsufficientLiquidity")
        .withArgs(0n, assetsFor(s, LP_SHARES - exact, usd(60_000)));
    });

    it("a redemption may not leave the pool below what open interest needs under the caps (VaultCapacityBelowOpenInterest), counting the other pending redemptions", async function () {
      const f = await loadFixture(protocolFixture);
      const { engine, pool, alice, bob, lp, keeper } = f;
      // Longs capped at 10% of the capacity: 100 ETH (300,000 USD) needs a pool of 3,000,000 USD.
      await engine.setExposureParams(ETH, { ...EXPOSURE_PARAMS, maxLongOpenInterestRatio: wad("0.1") });
      await openPosition(engine, alice, ETH, wad(100), usd(10_000));
      expect(await engine.requiredPoolCapacity()).to.equal(usd(3_000_000));
      const liquid = usd(5_000_150);
      const sBob = 10n ** 18n;
      const sLp = 25n * 10n ** 17n;
      await pool.connect(lp).approve(bob.address, sBob);
      const t = await minedAt(await pool.connect(bob).requestRedeem(sBob, bob.address, lp.address));
      await pool.connect(lp).requestRedeem(sLp, lp.address, lp.address);
      expect(await pool.capacity()).to.equal((liquid * (LP_SHARES - sBob - sLp)) / LP_SHARES);
      const before = await poolState(f, [lp, bob, keeper]);
      // Each would fit alone; with the other pending, the pool left is too small.
      const aBob = assetsFor(sBob, LP_SHARES, liquid);
      const afterBob = ((liquid - aBob) * (LP_SHARES - sBob - sLp)) / (LP_SHARES - sBob);
      await expect(fulfilAt(f, keeper, bob.address, true))
        .to.be.revertedWithCustomError(pool, "VaultCapacityBelowOpenInterest")
        .withArgs(afterBob, usd(3_000_000));
      const aLp = assetsFor(sLp, LP_SHARES, liquid);
      const afterLp = ((liquid - aLp) * (LP_SHARES - sLp - sBob)) / (LP_SHARES - sLp);
      await expect(fulfilAt(f, keeper, lp.address, true))
        .to.be.revertedWithCustomError(pool, "VaultCapacityBelowOpenInterest")
        .withArgs(afterLp, usd(3_000_000));
      expect(await poolState(f, [lp, bob, keeper])).to.deep.equal(before);

      // Both expire and are cancelled; Bob's alone leaves 4,000,120 USD: enough.
      await at(t + MAX_DELAY + 2n);
      await pool.cancelRedeemRequest(bob.address);
      await pool.cancelRedeemRequest(lp.address);
      await pool.connect(bob).requestRedeem(sBob, bob.address, bob.address);
      await expect(fulfilAt(f, keeper, bob.address, true))
        .to.emit(pool, "RedeemFulfilled")
        .withArgs(bob.address, keeper.address, sBob, aBob, FEE, liquid);
      expect(await pool.capacity()).to.equal(liquid - aBob);
      expect(liquid - aBob).to.be.greaterThan(usd(3_000_000));
    });
  });

  describe("pending deposits and claimable redemptions are held, not the pool's", function () {
    it("they count in neither NAV, liquid balance nor capacity, the engine cannot be paid from them, a deposit into a NAV of 0 is refused (VaultInsolvent), and both can still leave", async function () {
      const f = await loadFixture(protocolFixture);
      const { engine, pool, token, alice, carol, lp, keeper } = f;
      await openPosition(engine, alice, ETH, wad(1_000), usd(400_000)); // 3,000,000 USD long, fee 1,500
      const nav = usd(5_001_500);
      const available = nav - usd(600_000); // reserve 20% of 3M
      const exact = divUp(available * (LP_SHARES + VIRTUAL_SHARES), nav + 1n);
      expect(exact).to.equal(4_400_179_946_016_195_406n);
      await pool.connect(lp).requestRedeem(exact, lp.address, lp.address);
      await expect(fulfilAt(f, keeper, lp.address, true))
        .to.emit(pool, "RedeemFulfilled")
        .withArgs(lp.address, keeper.address, exact, available, FEE, nav);
      const claim = available - FEE;
      const t = await minedAt(await pool.connect(carol).requestDeposit(usd(1_000_000), carol.address, carol.address));
      const self = await pool.getAddress();
      expect(await token.balanceOf(self)).to.equal(usd(600_000) + claim + usd(1_000_000));
      expect(await pool.liquidBalance()).to.equal(usd(600_000));
      expect(await pool.totalAssets()).to.equal(usd(600_000));
      expect(await pool.capacity()).to.equal(usd(600_000));
      expect(await pool.availableLiquidity()).to.equal(0n);

      // ETH +25%: Alice's 750,000 USD profit exceeds the liquid balance. Closing needs 750,000 - 1,875 USD from the
      // pool, which holds 6,001,499.5 USD but owns only 600,000.
      await f.ethFeed.updateAnswer(answer(3_750));
      expect(await pool.totalAssets()).to.equal(0n);
      await expect(engine.connect(alice).closePosition(ETH, 0n))
        .to.be.revertedWithCustomError(pool, "VaultInsufficientBalance")
        .withArgs(usd(600_000), usd(748_125));
      const before = await poolState(f, [carol, lp, keeper]);
      await expect(fulfilAt(f, keeper, carol.address, false)).to.be.revertedWithCustomError(pool, "VaultInsolvent");
      expect(await poolState(f, [carol, lp, keeper])).to.deep.equal(before);

      // The claimable redemption is paid in full; the pending deposit is returned once expired.
      await expect(pool.connect(lp).withdraw(claim, lp.address, lp.address)).to.changeTokenBalances(
        ethers,
        token,
        [lp, pool],
        [claim, -claim],
      );
      await at(t + MAX_DELAY + 1n);
      await expect(pool.connect(keeper).cancelDepositRequest(carol.address)).to.changeTokenBalances(
        ethers,
        token,
        [carol, pool],
        [usd(1_000_000), -usd(1_000_000)],
      );
      expect(await token.balanceOf(self)).to.equal(usd(600_000));
      expect(await pool.liquidBalance()).to.equal(usd(600_000));
    });
  });

  describe("open-interest caps measure capacity()", function () {
    it("a pending redemption lowers the cap, a pending deposit does not raise it, its fulfilment does, and a cancelled redemption gives its share back", async function () {
      const f = await loadFixture(protocolFixture);
      const { engine, pool, alice, carol, lp, keeper } = f;
      const ratio = wad("0.1");
      await engine.setExposureParams(ETH, { ...EXPOSURE_PARAMS, maxLongOpenInterestRatio: ratio });
      await engine.connect(alice).deposit(usd(100_000));
      const half = LP_SHARES / 2n;
      const t = await minedAt(await pool.connect(lp).requestRedeem(half, lp.address, lp.address));
      expect(await pool.capacity()).to.equal(usd(2_500_000));
      await expect(engine.connect(alice).modifyPosition(ETH, wad(100), usd(10_000), ethers.MaxUint256))
        .to.be.revertedWithCustomError(engine, "PerpOpenInterestCapExceeded")
        .withArgs(ETH, true, wad(300_000), wad(250_000));
      await engine.connect(alice).modifyPosition(ETH, wad(80), usd(10_000), ethers.MaxUint256); // fee 120
      expect(await pool.capacity()).to.equal(usd(2_500_060));

      await pool.connect(carol).requestDeposit(usd(1_000_000), carol.address, carol.address);
      expect(await pool.capacity()).to.equal(usd(2_500_060));
      await expect(engine.connect(alice).modifyPosition(ETH, wad(5), 0n, ethers.MaxUint256))
        .to.be.revertedWithCustomError(engine, "PerpOpenInterestCapExceeded")
        .withArgs(ETH, true, wad(255_000), capOf(usd(2_500_060), ratio));

      const liquid = usd(5_000_120);
      const shares = sharesFor(usd("999999.5"), LP_SHARES, liquid);
      await fulfilAt(f, keeper, carol.address, false);
      const capacity = ((liquid + usd("999999.5")) * (LP_SHARES + shares - half)) / (LP_SHARES + shares);
      expect(await pool.capacity()).to.equal(capacity);
      expect(capOf(capacity, ratio)).to.be.greaterThan(wad(255_000));
      await engine.connect(alice).modifyPosition(ETH, wad(5), 0n, ethers.MaxUint256); // fee 7.5
      const liquid2 = liquid + usd("999999.5") + usd("7.5");

      await at(t + MAX_DELAY + 1n);
      await pool.cancelRedeemRequest(lp.address);
      expect(await pool.capacity()).to.equal(liquid2);
    });
  });

  describe("operators", function () {
    it("setOperator approves and revokes; an operator requests, claims and redeems for its controller; anyone else, or a revoked one, gets VaultNotAuthorized", async function () {
      const f = await loadFixture(protocolFixture);
      const { pool, token, alice, bob, keeper } = f;
      expect(await pool.connect(alice).setOperator.staticCall(keeper.address, true)).to.equal(true);
      await expect(pool.connect(alice).setOperator(keeper.address, true))
        .to.emit(pool, "OperatorSet")
        .withArgs(alice.address, keeper.address, true);
      expect(await pool.isOperator(alice.address, keeper.address)).to.equal(true);
      expect(await pool.isOperator(keeper.address, alice.address)).to.equal(false);
      expect(await pool.isOperator(bob.address, keeper.address)).to.equal(false);

      // Requests Alice's tokens for Alice.
      const r = pool.connect(keeper).requestDeposit(usd(1_000), alice.address, alice.address);
      await expect(r).to.emit(pool, "DepositRequest").withArgs(alice.address, alice.address, 0n, keeper.address, usd(1_000));
      await expect(r).to.changeTokenBalances(ethers, token, [alice, keeper, pool], [-usd(1_000), 0n, usd(1_000)]);
      await fulfilAt(f, bob, alice.address, false);
      const cs = sharesFor(usd("999.5"), LP_SHARES, usd(5_000_000));
      // Claims them, part to Bob, part to Alice.
      const toBob = (usd(400) * cs) / usd("999.5");
      await expect(depositFor(f, keeper)(usd(400), bob.address, alice.address))
        .to.emit(pool, "Deposit")
        .withArgs(alice.address, bob.address, usd(400), toBob);
      await mintFor(f, keeper)(cs - toBob - 10n ** 12n, alice.address, alice.address);
      expect(await pool.balanceOf(bob.address)).to.equal(toBob);
      expect(await pool.balanceOf(alice.address)).to.equal(cs - toBob - 10n ** 12n);

      // Redeems Alice's shares without an allowance, then claims to itself.
      const s = cs - toBob - 10n ** 12n;
      await expect(pool.connect(keeper).requestRedeem(s, alice.address, alice.address))
        .to.emit(pool, "RedeemRequest")
        .withArgs(alice.address, alice.address, 0n, keeper.address, s);
      expect(await pool.allowance(alice.address, keeper.address)).to.equal(0n);
      await fulfilAt(f, bob, alice.address, true);
      const [ca] = plain(await pool.claimableRedeem(alice.address)) as bigint[];
      await expect(pool.connect(keeper).withdraw(usd(100), keeper.address, alice.address))
        .to.emit(pool, "Withdraw")
        .withArgs(keeper.address, keeper.address, alice.address, usd(100), divUp(usd(100) * s, ca));

      // Revoked: every request and claim for Alice is refused, and nothing changes.
      await expect(pool.connect(alice).setOperator(keeper.address, false))
        .to.emit(pool, "OperatorSet")
        .withArgs(alice.address, keeper.address, false);
      expect(await pool.isOperator(alice.address, keeper.address)).to.equal(false);
      const before = await poolState(f, [alice, bob, keeper]);
      const refused: [string, () => Promise<unknown>][] = [
        ["requestDeposit", () => pool.connect(keeper).requestDeposit(usd(10), alice.address, alice.address)],
        ["deposit", () => depositFor(f, keeper)(1n, keeper.address, alice.address)],
        ["mint", () => mintFor(f, keeper)(1n, keeper.address, alice.address)],
        ["withdraw", () => pool.connect(keeper).withdraw(1n, keeper.address, alice.address)],
        ["redeem", () => pool.connect(keeper).redeem(1n, keeper.address, alice.address)],
      ];
      for (const [name, send] of refused) {
        await expect(send(), name)
          .to.be.revertedWithCustomError(pool, "VaultNotAuthorized")
          .withArgs(keeper.address, alice.address);
      }
      await expect(pool.connect(keeper).requestRedeem(1n, alice.address, alice.address))
        .to.be.revertedWithCustomError(pool, "ERC20InsufficientAllowance")
        .withArgs(keeper.address, 0n, 1n);
      // Approval is per controller: Alice's operator was never Bob's.
      await expect(pool.connect(keeper).requestRedeem(1n, bob.address, bob.address))
        .to.be.revertedWithCustomError(pool, "ERC20InsufficientAllowance")
        .withArgs(keeper.address, 0n, 1n);
      expect(await poolState(f, [alice, bob, keeper])).to.deep.equal(before);
      // Alice herself still claims.
      await expect(pool.connect(alice).redeem(10n ** 12n, alice.address, alice.address)).to.emit(pool, "Withdraw");
    });
  });

  describe("expiry and cancellation", function () {
    it("an expired deposit request can no longer be fulfilled; anyone may cancel it, returning the assets to its controller", async function () {
      const f = await loadFixture(protocolFixture);
      const { pool, token, alice, bob, keeper } = f;
      // Bob funds a request Alice controls.
      const t = await minedAt(await pool.connect(bob).requestDeposit(usd(2_000), alice.address, bob.address));
      const before = await poolState(f, [alice, bob, keeper]);
      await at(t + MAX_DELAY);
      await expect(pool.connect(keeper).cancelDepositRequest(alice.address))
        .to.be.revertedWithCustomError(pool, "VaultRequestNotExpired")
        .withArgs(alice.address, t + MAX_DELAY);
      await expect(fulfilAt(f, keeper, alice.address, false, { when: t + MAX_DELAY + 1n }))
        .to.be.revertedWithCustomError(pool, "VaultRequestExpired")
        .withArgs(alice.address, t + MAX_DELAY);
      expect(await poolState(f, [alice, bob, keeper])).to.deep.equal(before);

      const c = pool.connect(keeper).cancelDepositRequest(alice.address);
      await expect(c).to.emit(pool, "DepositRequestCancelled").withArgs(alice.address, keeper.address, usd(2_000));
      await expect(c).to.changeTokenBalances(ethers, token, [alice, bob, keeper, pool], [usd(2_000), 0n, 0n, -usd(2_000)]);
      expect(plain(await pool.depositRequest(alice.address))).to.deep.equal([0n, 0n, 0n]);
      expect(await pool.totalPendingDepositAssets()).to.equal(0n);
      expect(await pool.liquidBalance()).to.equal(usd(5_000_000));
      for (const [name, send] of [
        ["cancelDepositRequest", () => pool.cancelDepositRequest(alice.address)],
        ["cancelRedeemRequest", () => pool.cancelRedeemRequest(alice.address)],
        ["fulfillDeposit", () => pool.fulfillDeposit(alice.address, [])],
        ["fulfillRedeem", () => pool.fulfillRedeem(alice.address, [])],
      ] as [string, () => Promise<unknown>][]) {
        await expect(send(), name).to.be.revertedWithCustomError(pool, "VaultNoPendingRequest").withArgs(alice.address);
      }
      // A new request can be made.
      await expect(pool.connect(alice).requestDeposit(usd(10), alice.address, alice.address)).to.emit(pool, "DepositRequest");
    });

    it("an expired redemption request is cancelled by anyone and its shares return to its controller", async function () {
      const f = await loadFixture(protocolFixture);
      const { pool, lp, bob, carol } = f;
      const S = 7n * 10n ** 17n;
      await pool.connect(lp).approve(bob.address, S);
      const t = await minedAt(await pool.connect(bob).requestRedeem(S, bob.address, lp.address));
      expect(await pool.capacity()).to.equal((usd(5_000_000) * (LP_SHARES - S)) / LP_SHARES);
      await at(t + MAX_DELAY);
      await expect(pool.connect(carol).cancelRedeemRequest(bob.address))
        .to.be.revertedWithCustomError(pool, "VaultRequestNotExpired")
        .withArgs(bob.address, t + MAX_DELAY);
      await at(t + MAX_DELAY + 1n);
      const c = pool.connect(carol).cancelRedeemRequest(bob.address);
      await expect(c).to.emit(pool, "RedeemRequestCancelled").withArgs(bob.address, carol.address, S);
      await expect(c).to.changeTokenBalances(ethers, pool, [bob, lp, pool], [S, 0n, -S]);
      expect(await pool.totalPendingRedeemShares()).to.equal(0n);
      expect(plain(await pool.redeemRequest(bob.address))).to.deep.equal([0n, 0n, 0n]);
      expect(await pool.capacity()).to.equal(usd(5_000_000));
      expect(await pool.totalSupply()).to.equal(LP_SHARES);
    });
  });

  describe("fulfillRequests (batch)", function () {
    it("fulfils deposits and redemptions in order, each at its own update, skips requests no longer pending (refunding their update fee) and returns the count", async function () {
      const f = await loadFixture(bookFixture);
      const { pool, token, pyth, carol, dave, lp, keeper, bob } = f;
      const S = 1_234_567_890_123_456_789n;
      const t1 = await minedAt(await pool.connect(carol).requestDeposit(usd(10_000), carol.address, carol.address));
      const t2 = await minedAt(await pool.connect(lp).requestRedeem(S, lp.address, lp.address));
      const t3 = await minedAt(await pool.connect(dave).requestDeposit(usd(3_000), dave.address, dave.address));
      // Dave's is fulfilled by someone else first (at Chainlink prices).
      await fulfilAt(f, bob, dave.address, false);
      const netDave = usd("2999.5");
      const sharesDave = sharesFor(netDave, LP_SHARES, NAV_CHAINLINK);

      const now = t3 + 20n;
      const controllers = [carol.address, lp.address, dave.address, bob.address];
      const isRedeem = [false, true, false, true];
      const updates = [
        await updatesAt(f, t1 + MIN_DELAY, PYTH),
        await updatesAt(f, t2 + MIN_DELAY, PYTH),
        await updatesAt(f, t3 + MIN_DELAY, PYTH),
        await updatesAt(f, now, PYTH),
      ];
      await at(now);
      expect(await pool.connect(keeper).fulfillRequests.staticCall(controllers, isRedeem, updates, { value: 8n })).to.equal(2n);
      // Carol at the NAV with Dave's deposit in it; then the LP at the NAV with Carol's in it too.
      const nav1 = NAV_PYTH + netDave;
      const supply1 = LP_SHARES + sharesDave;
      const sharesCarol = sharesFor(usd("9999.5"), supply1, nav1);
      const nav2 = nav1 + usd("9999.5");
      const assetsLp = assetsFor(S, supply1 + sharesCarol, nav2);
      await at(now);
      const tx = pool.connect(keeper).fulfillRequests(controllers, isRedeem, updates, { value: 8n });
      await expect(tx)
        .to.emit(pool, "DepositFulfilled")
        .withArgs(carol.address, keeper.address, usd(10_000), sharesCarol, FEE, nav1);
      await expect(tx).to.emit(pool, "RedeemFulfilled").withArgs(lp.address, keeper.address, S, assetsLp, FEE, nav2);
      // 2 wei to Pyth for each fulfilled request's two feeds; the 4 wei of the two skipped come back.
      await expect(tx).to.changeEtherBalances(ethers, [keeper, pyth, pool, f.engine], [-4n, 4n, 0n, 0n]);
      await expect(tx).to.changeTokenBalances(ethers, token, [keeper, pool], [2n * FEE, -2n * FEE]);
      expect(plain(await pool.claimableDeposit(carol.address))).to.deep.equal([usd("9999.5"), sharesCarol]);
      expect(plain(await pool.claimableRedeem(lp.address))).to.deep.equal([assetsLp - FEE, S]);
      expect(plain(await pool.claimableDeposit(dave.address))).to.deep.equal([netDave, sharesDave]);
    });

    it("reverts as a whole: VaultLengthMismatch, VaultWrongUpdateFee, or any request that cannot be fulfilled", async function () {
      const f = await loadFixture(bookFixture);
      const { pool, carol, dave, keeper } = f;
      const t1 = await minedAt(await pool.connect(carol).requestDeposit(usd(10_000), carol.address, carol.address));
      const u1 = await updatesAt(f, t1 + MIN_DELAY);
      const t2 = await minedAt(await pool.connect(dave).requestDeposit(usd(1_000), dave.address, dave.address));
      const u2 = await updatesAt(f, t2 + MIN_DELAY);
      const before = await poolState(f, [carol, dave, keeper]);
      const c = [carol.address, dave.address];
      await expect(pool.connect(keeper).fulfillRequests(c, [false, false], [u1], { value: 2n }))
        .to.be.revertedWithCustomError(pool, "VaultLengthMismatch")
        .withArgs(2n, 1n);
      await expect(pool.connect(keeper).fulfillRequests(c, [false], [u1, u2], { value: 4n }))
        .to.be.revertedWithCustomError(pool, "VaultLengthMismatch")
        .withArgs(2n, 1n); // the isRedeem list is the short one
      for (const value of [3n, 5n, 0n]) {
        await expect(pool.connect(keeper).fulfillRequests(c, [false, false], [u1, u2], { value }))
          .to.be.revertedWithCustomError(pool, "VaultWrongUpdateFee")
          .withArgs(4n, value);
      }
      // Carol's is ready, Dave's (a second later) not yet: the whole batch reverts.
      await at(t1 + MIN_DELAY);
      await expect(pool.connect(keeper).fulfillRequests(c, [false, false], [u1, u2], { value: 4n }))
        .to.be.revertedWithCustomError(pool, "VaultRequestNotReady")
        .withArgs(dave.address, t2 + MIN_DELAY);
      expect(await poolState(f, [carol, dave, keeper])).to.deep.equal(before);
      // An empty batch fulfils nothing.
      expect(await pool.connect(keeper).fulfillRequests.staticCall([], [], [])).to.equal(0n);
    });
  });

  describe("first-depositor inflation attack", function () {
    it("a 1 wei deposit plus a 1M USD donation neither robs a 10k USD depositor nor profits the attacker", async function () {
      const f = await loadFixture(emptyPoolFixture);
      const { token2, pool2, insurance2, alice: attacker, bob: victim, deployer } = f;
      const engine2 = await ethers.deployContract("TidemarkEngine", [token2, pool2, insurance2, f.pyth, deployer.address], {
        libraries: f.libraries,
      });
      await pool2.bindEngine(engine2);
      const attackerStart = await token2.balanceOf(attacker.address);
      // 1 unit above the fee: 1 unit of assets at NAV 0 and supply 0 buys the 1e6 virtual shares' worth.
      expect(await lpDeposit(ethers, pool2, engine2, attacker, 1n)).to.equal(VIRTUAL_SHARES);
      await token2.connect(attacker).transfer(await pool2.getAddress(), usd(1_000_000));
      expect(await pool2.totalAssets()).to.equal(usd(1_000_000) + 1n);

      const deposit = usd(10_000);
      const shares = sharesFor(deposit, VIRTUAL_SHARES, usd(1_000_000) + 1n);
      expect(shares).to.equal(19_999n);
      expect(await lpDeposit(ethers, pool2, engine2, victim, deposit)).to.equal(shares);
      expect(await pool2.balanceOf(victim.address)).to.equal(shares);

      // The victim redeems everything and loses less than 0.01%.
      const victimStart = await token2.balanceOf(victim.address);
      await lpRedeem(ethers, pool2, engine2, victim, shares);
      const back = (await token2.balanceOf(victim.address)) - victimStart;
      expect(back).to.be.lessThanOrEqual(deposit);
      expect((deposit - back) * 10_000n).to.be.lessThan(deposit); // loss < 1 bp
      expect(back).to.equal(assetsFor(shares, VIRTUAL_SHARES + shares, usd(1_000_000) + 1n + deposit));

      // The attacker recovers far less than the donation.
      await lpRedeem(ethers, pool2, engine2, attacker, VIRTUAL_SHARES);
      const attackerEnd = await token2.balanceOf(attacker.address);
      expect(attackerEnd).to.be.lessThan(attackerStart);
      expect(attackerStart - attackerEnd).to.be.greaterThan(usd(400_000));
    });
  });

  describe("access control", function () {
    it("only the engine can draw from the pool or the insurance fund, whatever role the caller holds", async function () {
      const f = await loadFixture(protocolFixture);
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
      const f = await loadFixture(protocolFixture);
      expect(mutatingFunctions(f.insurance)).to.deep.equal(["bindEngine", "payEngine"]);
      // ERC-20, ERC-7540 requests, fulfilments and cancellations, and ERC-4626 claims (both overloads of deposit and
      // mint): each moves only the caller's (or an owner's or controller's that authorised it) shares and assets.
      expect(mutatingFunctions(f.pool)).to.deep.equal(
        [
          "approve",
          "bindEngine",
          "cancelDepositRequest",
          "cancelRedeemRequest",
          "deposit",
          "deposit",
          "fulfillDeposit",
          "fulfillRedeem",
          "fulfillRequests",
          "mint",
          "mint",
          "payEngine",
          "redeem",
          "requestDeposit",
          "requestRedeem",
          "setOperator",
          "transfer",
          "transferFrom",
          "withdraw",
        ].sort(),
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
      const f = await loadFixture(protocolFixture);
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
      const f = await loadFixture(emptyPoolFixture);
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
      const f = await loadFixture(protocolFixture);
      const { insurance, token, alice } = f;
      expect(await insurance.asset()).to.equal(await token.getAddress());
      expect(await insurance.engine()).to.equal(await f.engine.getAddress());
      expect(await insurance.balance()).to.equal(usd(100_000));
      await token.connect(alice).transfer(await insurance.getAddress(), usd("12.345678"));
      expect(await insurance.balance()).to.equal(usd(100_000) + usd("12.345678"));
      expect(await insurance.balance()).to.equal(await token.balanceOf(await insurance.getAddress()));
    });

    it("pays the engine only for a shortfall (keeper top-up) and receives penalties", async function () {
      const f = await loadFixture(protocolFixture);
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

  describe("edge cases found in review", function () {
    it("a request made out to the zero controller is refused (it could never be claimed or cancelled)", async function () {
      const f = await loadFixture(protocolFixture);
      const { pool, carol } = f;
      const shares = await pool.balanceOf(f.lp.address);
      await expect(pool.connect(carol).requestDeposit(usd(1_000), ZeroAddress, carol.address))
        .to.be.revertedWithCustomError(pool, "VaultNotAuthorized")
        .withArgs(carol.address, ZeroAddress);
      await expect(pool.connect(f.lp).requestRedeem(shares, ZeroAddress, f.lp.address))
        .to.be.revertedWithCustomError(pool, "VaultNotAuthorized")
        .withArgs(f.lp.address, ZeroAddress);
      expect(await pool.totalPendingDepositAssets()).to.equal(0n);
      expect(await pool.totalPendingRedeemShares()).to.equal(0n);
    });

    it("without open interest, an update sent along is paid to Pyth, not left in the engine", async function () {
      const f = await loadFixture(protocolFixture);
      const { pool, engine, pyth, carol, keeper } = f;
      const t = await minedAt(await pool.connect(carol).requestDeposit(usd(1_000), carol.address, carol.address));
      const update = encodeUpdate(ETH_PYTH_ID, toPyth(wad(3_000)), t + MIN_DELAY, t + MIN_DELAY - 1n);
      const pythBefore = await ethers.provider.getBalance(await pyth.getAddress());
      await at(t + MIN_DELAY);
      await pool.connect(keeper).fulfillDeposit(carol.address, [update], { value: 1n });
      expect(await ethers.provider.getBalance(await engine.getAddress())).to.equal(0n);
      expect(await ethers.provider.getBalance(await pool.getAddress())).to.equal(0n);
      expect(await ethers.provider.getBalance(await pyth.getAddress())).to.equal(pythBefore + 1n);
      expect(await pool.maxDeposit(carol.address)).to.equal(usd(1_000) - FEE);
    });
  });
});
