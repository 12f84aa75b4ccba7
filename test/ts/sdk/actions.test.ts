/**
 * The SDK's read actions, write actions, calldata builders and client decorator against the in-process Hardhat
 * network. Every SDK value is compared with the contracts' own views (read through ethers), and every write with the
 * state it leaves on chain; failing writes must throw the decoded, typed error and send nothing.
 */
import { expect } from "chai";
import { network } from "hardhat";
import {
  type Address,
  type EIP1193RequestFn,
  type Hex,
  createPublicClient,
  createWalletClient,
  custom,
  decodeFunctionData,
  erc20Abi,
  parseEventLogs,
  publicActions,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { hardhat } from "viem/chains";

import {
  InvalidParameterError,
  TidemarkContractError,
  TidemarkError,
  type TidemarkErrorName,
  UnknownRevertError,
  addCollateral,
  addressesFromIgnition,
  buildAddCollateral,
  buildApprove,
  buildClosePosition,
  buildDeposit,
  buildLiquidate,
  buildLiquidateBatch,
  buildModifyPosition,
  buildRemoveCollateral,
  buildWithdraw,
  cancelLpRequest,
  claimDeposit,
  claimRedeem,
  closePosition,
  decreasePosition,
  deposit,
  fulfillLpRequests,
  getFreeBalance,
  getInsuranceFund,
  getMarket,
  getMarkets,
  getMaxTradeSize,
  getOpenPositions,
  getOracleStatus,
  getPool,
  getPosition,
  getPositions,
  increasePosition,
  liquidate,
  liquidateBatch,
  marketId,
  modifyPosition,
  openPosition,
  quoteTrade,
  removeCollateral,
  requestDeposit,
  requestRedeem,
  tidemarkActions,
  tidemarkEngineAbi,
  withdraw,
} from "../../../sdk/src/index.js";
import type { TidemarkActions } from "../../../sdk/src/index.js";
import * as sdkActions from "../../../sdk/src/actions/index.js";
import { BTC, EXPOSURE_PARAMS, HEARTBEAT, SCALE, answer, deployProtocol, usd, wad } from "../helpers/fixture.js";
import { type Protocol, addr, sdkClients } from "./helpers.js";

const conn = await network.create();
const { ethers, networkHelpers } = conn;

const ETH_ID = marketId("ETH-USD");
const BTC_ID = BTC as Hex;
/** Hardhat's default account #9, signed locally by viem (not by the node). */
const LOCAL_KEY = "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6";
const BPS = 10_000n;
const MAX_UINT256 = 2n ** 256n - 1n;

/** Deployed protocol; alice, bob, carol, keeper and dave (signer 7) each hold 100k in their free balance. Signer 8
 * holds tokens but has approved nothing. */
async function protocolFixture() {
  const p = await deployProtocol(ethers);
  const signers = await ethers.getSigners();
  const dave = signers[7];
  const fresh = signers[8];
  await p.token.mint(dave.address, usd(1_000_000));
  await p.token.connect(dave).approve(p.engine, ethers.MaxUint256);
  await p.token.mint(fresh.address, usd(1_000_000));
  for (const s of [p.alice, p.bob, p.carol, p.keeper, dave]) await p.engine.connect(s).deposit(usd(100_000));
  return { ...p, dave, fresh };
}

/**
 * Four ETH positions and one BTC position. Below 2,924.2 dave (long 3, full liquidation) is liquidatable, below 2,917.5
 * alice (long 10, partial liquidation) too; both keep positive equity down to 2,909.7. Bob (short) and carol (long,
 * well collateralised) stay healthy.
 */
async function positionsFixture() {
  const p = await protocolFixture();
  await p.engine.connect(p.alice).modifyPosition(ETH_ID, wad(10), usd(1_000), wad(3_100));
  await p.engine.connect(p.bob).modifyPosition(ETH_ID, -wad(5), usd(2_000), wad(2_900));
  await p.engine.connect(p.carol).modifyPosition(ETH_ID, wad(2), usd(5_000), wad(3_100));
  await p.engine.connect(p.dave).modifyPosition(ETH_ID, wad(3), usd(280), wad(3_100));
  await p.engine.connect(p.carol).modifyPosition(BTC_ID, wad("0.5"), usd(3_000), wad(61_000));
  return p;
}

type Fixture = Awaited<ReturnType<typeof protocolFixture>>;

async function setup(fixture: () => Promise<Fixture>) {
  const p = await networkHelpers.loadFixture(fixture);
  const c = await sdkClients(conn, p as Protocol);
  const wallet = (address: string) =>
    createWalletClient({
      chain: hardhat,
      transport: custom(conn.provider),
      account: addr(address),
      pollingInterval: 20,
      cacheTime: 0,
    }).extend(publicActions);
  return { p, ...c, dave: wallet(p.dave.address), fresh: wallet(p.fresh.address) };
}

const HEALTH_FIELDS = [
  "size",
  "entryPrice",
  "collateral",
  "price",
  "notional",
  "pnl",
  "fundingOwed",
  "closingFee",
  "equity",
  "maintenanceMargin",
  "initialMargin",
  "healthFactor",
  "liquidationPrice",
  "liquidatable",
] as const;
const ORACLE_STATUS = ["Ok", "Stale", "InvalidAnswer", "OutOfBounds", "SequencerDown", "GracePeriod"] as const;

/** The PositionHealth fields of a lens (ethers) or SDK record, as a plain object. */
const healthOf = (h: Record<(typeof HEALTH_FIELDS)[number], unknown>) => Object.fromEntries(HEALTH_FIELDS.map((k) => [k, h[k]]));

/** Runs `fn`, which must throw a TidemarkContractError named `name`; returns it. */
async function expectContractError<N extends TidemarkErrorName>(fn: () => Promise<unknown>, name: N): Promise<TidemarkContractError<N>> {
  let caught: unknown;
  try {
    await fn();
  } catch (err) {
    caught = err;
  }
  expect(caught, "expected a revert").to.be.instanceOf(TidemarkContractError);
  const err = caught as TidemarkContractError;
  expect(err.errorName).to.equal(name);
  expect(err.is(name)).to.equal(true);
  return err as TidemarkContractError<N>;
}

/** Runs `fn`, which must throw; returns what it threw. */
async function caughtError(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  throw new Error("expected a failure");
}

/** Runs `fn`, which must throw an InvalidParameterError about `parameter`; returns it. */
async function expectInvalid(fn: () => Promise<unknown>, parameter: string): Promise<InvalidParameterError> {
  let caught: unknown;
  try {
    await fn();
  } catch (err) {
    caught = err;
  }
  expect(caught, "expected an InvalidParameterError").to.be.instanceOf(InvalidParameterError);
  expect((caught as InvalidParameterError).parameter).to.equal(parameter);
  return caught as InvalidParameterError;
}

/** A wallet client whose transport records every RPC method and forwards to the node (or fails, when `offline`). */
function recordingWallet(account: Address, offline = false) {
  const methods: string[] = [];
  const request = (async (args: { method: string; params?: unknown }) => {
    methods.push(args.method);
    if (offline) throw new Error(`no RPC expected, got ${args.method}`);
    return conn.provider.request(args as never);
  }) as EIP1193RequestFn;
  const client = createWalletClient({ chain: hardhat, transport: custom({ request }), account, pollingInterval: 20, cacheTime: 0 });
  return { client, methods };
}

describe("SDK actions", function () {
  describe("read actions", function () {
    it("getMarket returns every field as the engine's views report it", async function () {
      const { p, publicClient, addresses } = await setup(positionsFixture);
      const m = await getMarket(publicClient, { addresses, market: ETH_ID });
      const tiers = await p.engine.marginTiers(ETH_ID);
      const params = await p.engine.riskParams(ETH_ID);
      const oracle = await p.engine.oracleConfig(ETH_ID);
      const [status, price] = await p.engine.oracleStatus(ETH_ID);
      const funding = await p.engine.fundingParams(ETH_ID);
      const [index, ratePerDay, fundingPrice] = await p.engine.fundingState(ETH_ID);
      const exposure = await p.engine.exposureParams(ETH_ID);
      const [long, short] = await p.engine.openInterest(ETH_ID);
      expect(m.id).to.equal(ETH_ID);
      expect(m.symbol).to.equal("ETH-USD");
      expect(m.paused).to.equal(false);
      expect(m.tiers).to.deep.equal(tiers.map((t) => ({ notionalFloor: t.notionalFloor, imr: t.imr, mmr: t.mmr })));
      expect(m.params).to.deep.equal({
        takerFeeRate: params.takerFeeRate,
        liquidationFeeRate: params.liquidationFeeRate,
        liquidationPenaltyRate: params.liquidationPenaltyRate,
        targetHealthFactor: params.targetHealthFactor,
        minKeeperFee: params.minKeeperFee,
        maxKeeperFee: params.maxKeeperFee,
        minPositionNotional: params.minPositionNotional,
        fullLiquidationNotional: params.fullLiquidationNotional,
      });
      expect(m.oracle).to.deep.equal({
        feed: oracle.feed,
        heartbeat: Number(oracle.heartbeat),
        decimals: Number(oracle.decimals),
        minPrice: oracle.minPrice,
        maxPrice: oracle.maxPrice,
      });
      expect(m.oracle.feed).to.equal(await p.ethFeed.getAddress());
      expect(m.oracleStatus).to.equal(ORACLE_STATUS[Number(status)]);
      expect(m.oraclePrice).to.equal(price);
      expect(m.funding).to.deep.equal({
        skewScale: funding.skewScale,
        maxFundingRatePerDay: funding.maxFundingRatePerDay,
        index,
        ratePerDay,
        price: fundingPrice,
      });
      expect(m.exposure).to.deep.equal({
        impactSkewScale: exposure.impactSkewScale,
        maxLongOpenInterestRatio: exposure.maxLongOpenInterestRatio,
        maxShortOpenInterestRatio: exposure.maxShortOpenInterestRatio,
      });
      expect(m.openInterest).to.deep.equal({ long, short, skew: long - short });
      expect(m.openInterest.skew).to.equal(wad(10)); // 15 long, 5 short: the fixture's positions are counted
      expect(m.openPositionCount).to.equal(await p.engine.openPositionCount(ETH_ID));
      expect(m.openPositionCount).to.equal(4n);
      expect(m.blockNumber).to.equal(BigInt(await ethers.provider.getBlockNumber()));
    });

    it("getMarket reports a market paused by the guardian, and a global pause on every market", async function () {
      const { p, publicClient, addresses } = await setup(protocolFixture);
      await p.engine.connect(p.guardian).setMarketPaused(ETH_ID, true);
      expect((await getMarket(publicClient, { addresses, market: ETH_ID })).paused).to.equal(true);
      expect((await getMarket(publicClient, { addresses, market: BTC_ID })).paused).to.equal(false);
      await p.engine.connect(p.guardian).setGlobalPaused(true);
      expect((await getMarket(publicClient, { addresses, market: BTC_ID })).paused).to.equal(true);
    });

    it("getMarket throws PerpUnknownMarket for an unlisted id", async function () {
      const { publicClient, addresses } = await setup(protocolFixture);
      const err = await expectContractError(() => getMarket(publicClient, { addresses, market: marketId("SOL-USD") }), "PerpUnknownMarket");
      expect(err.args[0]).to.equal(marketId("SOL-USD"));
    });

    it("getMarkets returns every listed market in listing order, each equal to getMarket at the same block", async function () {
      const { p, publicClient, addresses } = await setup(positionsFixture);
      const markets = await getMarkets(publicClient, { addresses });
      expect(markets.map((m) => m.id)).to.deep.equal(await p.engine.listedMarkets());
      expect(markets.map((m) => m.symbol)).to.deep.equal(["ETH-USD", "BTC-USD"]);
      const b = markets[0].blockNumber;
      expect(markets[1].blockNumber).to.equal(b);
      expect(markets[0]).to.deep.equal(await getMarket(publicClient, { addresses, market: ETH_ID, blockNumber: b }));
      expect(markets[1]).to.deep.equal(await getMarket(publicClient, { addresses, market: BTC_ID, blockNumber: b }));
      expect(markets[1].oraclePrice).to.equal(wad(60_000));
      expect(markets[1].openPositionCount).to.equal(1n);
    });

    it("getPosition: every health field equals the lens's positionHealth and the stored fields equal getPosition", async function () {
      const { p, publicClient, addresses } = await setup(positionsFixture);
      await p.ethFeed.updateAnswer(answer("2950.12345678"));
      for (const [account, market] of [
        [p.alice.address, ETH_ID],
        [p.bob.address, ETH_ID],
        [p.carol.address, BTC_ID],
      ] as const) {
        const pos = await getPosition(publicClient, { addresses, account: addr(account), market });
        const lens = await p.lens.positionHealth(account, market);
        const stored = await p.engine.getPosition(account, market);
        expect(pos.exists).to.equal(true);
        expect(pos.account).to.equal(account);
        expect(pos.market).to.equal(market);
        expect(pos.oracleStatus).to.equal("Ok");
        expect(pos.oraclePrice).to.equal(lens.price);
        expect(pos.health).to.not.equal(null);
        expect(healthOf(pos.health!)).to.deep.equal(healthOf(lens));
        expect(pos.stored).to.deep.equal({
          size: stored.size,
          collateral: stored.collateral,
          entryPrice: stored.entryPrice,
          fundingIndex: stored.fundingIndex,
        });
        expect(pos.context.size).to.equal(stored.size);
        expect(pos.blockNumber).to.equal(BigInt(await ethers.provider.getBlockNumber()));
      }
      // The price move is visible: alice's PnL at 2,950.12345678 on 10 long from 3,000.
      const alice = await getPosition(publicClient, { addresses, account: addr(p.alice.address), market: ETH_ID });
      expect(alice.health!.pnl).to.equal(-(wad(3000) - wad("2950.12345678")) * 10n);
    });

    it("getPosition of an account without a position: exists false, zero stored fields, zero health", async function () {
      const { p, publicClient, addresses } = await setup(positionsFixture);
      const pos = await getPosition(publicClient, { addresses, account: addr(p.keeper.address), market: ETH_ID });
      expect(pos.exists).to.equal(false);
      expect(pos.stored).to.deep.equal({ size: 0n, collateral: 0n, entryPrice: 0n, fundingIndex: 0n });
      expect(pos.health).to.not.equal(null);
      expect(healthOf(pos.health!)).to.deep.equal(healthOf(await p.lens.positionHealth(p.keeper.address, ETH_ID)));
      expect(pos.health!.notional).to.equal(0n);
      expect(pos.health!.liquidatable).to.equal(false);
    });

    it("getPosition reads at the given block number", async function () {
      const { p, publicClient, addresses } = await setup(protocolFixture);
      const before = await publicClient.getBlockNumber();
      await p.engine.connect(p.alice).modifyPosition(ETH_ID, wad(1), usd(500), wad(3_100));
      const then = await getPosition(publicClient, { addresses, account: addr(p.alice.address), market: ETH_ID, blockNumber: before });
      const now = await getPosition(publicClient, { addresses, account: addr(p.alice.address), market: ETH_ID });
      expect(then.exists).to.equal(false);
      expect(then.blockNumber).to.equal(before);
      expect(now.exists).to.equal(true);
      expect(now.stored.size).to.equal(wad(1));
    });

    it("getPosition on a stale feed reports Stale and values the position at the last price, as the lens does", async function () {
      const { p, publicClient, addresses } = await setup(positionsFixture);
      await networkHelpers.time.increase(HEARTBEAT + 1);
      const pos = await getPosition(publicClient, { addresses, account: addr(p.alice.address), market: ETH_ID });
      const lens = await p.lens.positionHealth(p.alice.address, ETH_ID);
      expect(pos.oracleStatus).to.equal("Stale");
      expect(lens.oracleStatus).to.equal(1n);
      expect(pos.oraclePrice).to.equal(wad(3000));
      expect(healthOf(pos.health!)).to.deep.equal(healthOf(lens));
      expect(await p.engine.isLiquidatable(p.alice.address, ETH_ID)).to.equal(false);
    });

    it("getPosition has health null when the feed gives no usable price", async function () {
      const { p, publicClient, addresses } = await setup(positionsFixture);
      await p.ethFeed.updateAnswer(0);
      const pos = await getPosition(publicClient, { addresses, account: addr(p.alice.address), market: ETH_ID });
      expect(pos.oracleStatus).to.equal("InvalidAnswer");
      expect(pos.oraclePrice).to.equal(0n);
      expect(pos.health).to.equal(null);
      expect(pos.exists).to.equal(true);
      expect(pos.stored.size).to.equal(wad(10));
    });

    it("getPosition has health null above MAX_PRICE, where the lens reverts LensNoPrice", async function () {
      const { p, publicClient, addresses } = await setup(positionsFixture);
      const int192Max = 2n ** 191n - 1n; // the largest answer a Chainlink aggregator reports: out of bounds everywhere
      await p.ethFeed.updateAnswer(int192Max);
      const pos = await getPosition(publicClient, { addresses, account: addr(p.alice.address), market: ETH_ID });
      expect(pos.oracleStatus).to.equal("OutOfBounds");
      expect(pos.oraclePrice).to.equal(int192Max * 10n ** 10n);
      expect(pos.health).to.equal(null);
      await expect(p.lens.positionHealth(p.alice.address, ETH_ID)).to.be.revertedWithCustomError(p.lens, "LensNoPrice");
    });

    it("getFreeBalance equals the engine's freeBalance", async function () {
      const { p, publicClient, addresses } = await setup(positionsFixture);
      for (const s of [p.alice, p.bob, p.keeper, p.lp]) {
        expect(await getFreeBalance(publicClient, { addresses, account: addr(s.address) })).to.equal(await p.engine.freeBalance(s.address));
      }
      expect(await getFreeBalance(publicClient, { addresses, account: addr(p.alice.address) })).to.not.equal(0n);
      expect(await getFreeBalance(publicClient, { addresses, account: addr(p.lp.address) })).to.equal(0n);
    });

    it("getPool equals the pool's and engine's views, with and without an account", async function () {
      const { p, publicClient, addresses } = await setup(positionsFixture);
      await p.ethFeed.updateAnswer(answer(3_100)); // traders' PnL moves the pool's NAV
      const pool = await getPool(publicClient, { addresses });
      const decimals = await p.pool.decimals();
      const [mtm, fresh] = await p.engine.poolMarkToMarket();
      expect(pool.totalAssets).to.equal(await p.pool.totalAssets());
      expect(pool.totalSupply).to.equal(await p.pool.totalSupply());
      expect(pool.shareDecimals).to.equal(Number(decimals));
      expect(pool.sharePrice).to.equal(await p.pool.convertToAssets(10n ** decimals));
      expect(pool.balance).to.equal(await p.token.balanceOf(addresses.pool));
      expect(pool.markToMarket).to.deep.equal({ value: mtm, fresh });
      expect(pool.markToMarket.value).to.be.lessThan(0n); // longs are in profit at 3,100
      expect(pool.availableLiquidity).to.equal(await p.pool.availableLiquidity());
      expect(pool.reservedAssets).to.equal(await p.engine.reservedAssets());
      expect(pool.reservedAssets).to.be.greaterThan(0n);
      expect(pool.reserveFactor).to.equal(await p.engine.reserveFactor());
      expect(pool.liquidBalance).to.equal(await p.pool.liquidBalance());
      expect(pool.capacity).to.equal(await p.pool.capacity());
      expect([pool.pendingDepositAssets, pool.pendingRedeemShares, pool.claimableRedeemAssets]).to.deep.equal([
        await p.pool.totalPendingDepositAssets(),
        await p.pool.totalPendingRedeemShares(),
        await p.pool.totalClaimableRedeemAssets(),
      ]);
      const params = await p.engine.orderParams();
      expect([pool.executionFee, pool.minDelay, pool.maxDelay]).to.deep.equal([
        await p.engine.requiredExecutionFee(),
        BigInt(params.minDelay),
        BigInt(params.maxDelay),
      ]);
      expect(pool.account).to.equal(undefined);
      expect(pool.blockNumber).to.equal(BigInt(await ethers.provider.getBlockNumber()));

      const withLp = await getPool(publicClient, { addresses, account: addr(p.lp.address) });
      const shares = await p.pool.balanceOf(p.lp.address);
      const none = { assets: 0n, shares: 0n };
      expect(withLp.account).to.deep.equal({
        shares,
        assets: await p.pool.convertToAssets(shares),
        pendingDeposit: null,
        pendingRedeem: null,
        claimableDeposit: none,
        claimableRedeem: none,
      });
      expect(shares).to.equal(5_000_000n * 10n ** 12n);
      const { account: _, ...rest } = withLp;
      const { account: __, ...poolRest } = pool;
      expect(rest).to.deep.equal(poolRest);
    });

    it("getPool on the fixture's pool before any trade: 5,000,000 USDC for 5,000,000 pool shares, nothing pending", async function () {
      const { publicClient, addresses } = await setup(protocolFixture);
      const pool = await getPool(publicClient, { addresses });
      const { blockNumber: _, account: __, ...figures } = pool;
      const share = 10n ** 12n; // the token's 6 decimals and the pool's offset of 6
      expect(figures).to.deep.equal({
        totalAssets: usd(5_000_000),
        totalSupply: 5_000_000n * share,
        shareDecimals: 12,
        sharePrice: usd(1), // 1 USDC per pool share
        balance: usd(5_000_000),
        liquidBalance: usd(5_000_000),
        pendingDepositAssets: 0n,
        pendingRedeemShares: 0n,
        claimableRedeemAssets: 0n,
        capacity: usd(5_000_000),
        markToMarket: { value: 0n, fresh: true },
        availableLiquidity: usd(5_000_000),
        reservedAssets: 0n,
        reserveFactor: wad("0.2"),
        executionFee: usd("0.5"),
        minDelay: 2n,
        maxDelay: 300n,
      });
    });

    it("getPool reports no available liquidity while a market with open interest is stale", async function () {
      const { p, publicClient, addresses } = await setup(positionsFixture);
      await networkHelpers.time.increase(HEARTBEAT + 1);
      const pool = await getPool(publicClient, { addresses, account: addr(p.lp.address) });
      expect(pool.markToMarket.fresh).to.equal(false);
      expect(pool.availableLiquidity).to.equal(0n);
      expect(pool.liquidBalance).to.equal(await p.pool.liquidBalance()); // the pool still holds its tokens
      expect(pool.liquidBalance).to.be.greaterThan(usd(5_000_000)); // the seed and the opening fees
      expect(pool.account!.shares).to.equal(5_000_000n * 10n ** 12n);
    });

    it("getInsuranceFund reads the fund's balance, from the given address or the engine's", async function () {
      const { p, publicClient, addresses } = await setup(protocolFixture);
      const fund = await getInsuranceFund(publicClient, { addresses });
      expect(fund).to.deep.equal({ address: await p.insurance.getAddress(), balance: await p.insurance.balance() });
      expect(fund.balance).to.equal(usd(100_000));
      const { insuranceFund: _, ...withoutFund } = addresses;
      expect(await getInsuranceFund(publicClient, { addresses: withoutFund })).to.deep.equal(fund);
    });

    it("getOracleStatus reports Ok, Stale and InvalidAnswer with the engine's price", async function () {
      const { p, publicClient, addresses } = await setup(protocolFixture);
      expect(await getOracleStatus(publicClient, { addresses, market: ETH_ID })).to.deep.equal({
        status: "Ok",
        ok: true,
        price: wad(3000),
      });
      expect(await getOracleStatus(publicClient, { addresses, market: BTC_ID })).to.deep.equal({
        status: "Ok",
        ok: true,
        price: wad(60_000),
      });
      await networkHelpers.time.increase(HEARTBEAT + 1);
      const [status, price] = await p.engine.oracleStatus(ETH_ID);
      expect(await getOracleStatus(publicClient, { addresses, market: ETH_ID })).to.deep.equal({ status: "Stale", ok: false, price });
      expect(status).to.equal(1n);
      await p.ethFeed.updateAnswer(-1);
      expect(await getOracleStatus(publicClient, { addresses, market: ETH_ID })).to.deep.equal({
        status: "InvalidAnswer",
        ok: false,
        price: 0n,
      });
    });

    it("getPositions equals the lens's healthBatch, in order, across batches smaller than the list", async function () {
      const { p, publicClient, addresses } = await setup(positionsFixture);
      await p.ethFeed.updateAnswer(answer(2_920));
      const keys = [
        { account: addr(p.alice.address), market: ETH_ID },
        { account: addr(p.carol.address), market: BTC_ID },
        { account: addr(p.bob.address), market: ETH_ID },
        { account: addr(p.keeper.address), market: ETH_ID }, // no position
        { account: addr(p.dave.address), market: ETH_ID },
      ];
      const { client, methods } = recordingWallet(addr(p.alice.address));
      const out = await getPositions(client, { addresses, positions: keys, batchSize: 2 });
      expect(methods.filter((m) => m === "eth_call")).to.have.length(3); // ceil(5 / 2) lens calls
      const lens = await p.lens.healthBatch(keys);
      expect(out).to.have.length(keys.length);
      out.forEach((h, i) => {
        expect(h.account).to.equal(keys[i].account);
        expect(h.market).to.equal(keys[i].market);
        expect(h.oracleStatus).to.equal(ORACLE_STATUS[Number(lens[i].oracleStatus)]);
        expect(healthOf(h)).to.deep.equal(healthOf(lens[i]));
      });
      expect(out[4].liquidatable).to.equal(true); // dave is below maintenance at 2,920, alice is not
      expect(out[0].liquidatable).to.equal(false);
      expect(await getPositions(client, { addresses, positions: keys })).to.deep.equal(out);
    });

    it("getPositions of a market without a price fills size, entry, collateral and liquidation price only", async function () {
      const { p, publicClient, addresses } = await setup(positionsFixture);
      await p.ethFeed.updateAnswer(0);
      const [eth, btc] = await getPositions(publicClient, {
        addresses,
        positions: [
          { account: addr(p.alice.address), market: ETH_ID },
          { account: addr(p.carol.address), market: BTC_ID },
        ],
      });
      const lens = await p.lens.healthBatch([
        { account: p.alice.address, market: ETH_ID },
        { account: p.carol.address, market: BTC_ID },
      ]);
      expect(eth.oracleStatus).to.equal("InvalidAnswer");
      expect(eth.size).to.equal(wad(10));
      expect(eth.liquidationPrice).to.equal(lens[0].liquidationPrice);
      expect(eth.liquidationPrice).to.be.greaterThan(0n);
      expect(eth.equity).to.equal(0n);
      expect(healthOf(eth)).to.deep.equal(healthOf(lens[0]));
      expect(btc.oracleStatus).to.equal("Ok");
      expect(healthOf(btc)).to.deep.equal(healthOf(lens[1]));
    });

    it("getOpenPositions pages through every open account, and a closed position drops out", async function () {
      const { p, publicClient, addresses } = await setup(positionsFixture);
      const { client, methods } = recordingWallet(addr(p.alice.address));
      const all = await getOpenPositions(client, { addresses, market: ETH_ID, pageSize: 3 });
      expect(methods.filter((m) => m === "eth_call")).to.have.length(2); // 4 accounts in pages of 3
      const count = await p.engine.openPositionCount(ETH_ID);
      const onChain: string[] = [];
      for (let i = 0n; i < count; i++) onChain.push(await p.engine.openPositionAt(ETH_ID, i));
      expect(all).to.deep.equal(onChain);
      expect([...all].sort()).to.deep.equal([p.alice.address, p.bob.address, p.carol.address, p.dave.address].sort());
      expect(await getOpenPositions(publicClient, { addresses, market: ETH_ID, pageSize: 1 })).to.deep.equal(all);
      expect(await getOpenPositions(publicClient, { addresses, market: ETH_ID, pageSize: 4 })).to.deep.equal(all);
      expect(await getOpenPositions(publicClient, { addresses, market: BTC_ID })).to.deep.equal([p.carol.address]);

      await p.engine.connect(p.bob).closePosition(ETH_ID, wad(3_100));
      const after = await getOpenPositions(publicClient, { addresses, market: ETH_ID, pageSize: 2 });
      expect(after).to.have.length(3);
      expect(after).to.not.include(p.bob.address);
      expect([...after].sort()).to.deep.equal([p.alice.address, p.carol.address, p.dave.address].sort());
    });

    it("quoteTrade equals the lens's quote and rounds the acceptable price against the trader", async function () {
      const { p, publicClient, addresses } = await setup(positionsFixture);
      await p.engine.setExposureParams(ETH_ID, { ...EXPOSURE_PARAMS, impactSkewScale: wad(10_000) });
      const bps = 37n;
      for (const sizeDelta of [wad("1.234567891234567891"), -wad("7.777777777777777777")]) {
        const q = await quoteTrade(publicClient, { addresses, market: ETH_ID, sizeDelta, slippageBps: bps });
        const lens = await p.lens.quoteTrade(ETH_ID, sizeDelta);
        expect({ oraclePrice: q.oraclePrice, fillPrice: q.fillPrice, priceImpact: q.priceImpact, fee: q.fee }).to.deep.equal({
          oraclePrice: lens.oraclePrice,
          fillPrice: lens.fillPrice,
          priceImpact: lens.priceImpact,
          fee: lens.fee,
        });
        expect(q.fillPrice).to.not.equal(q.oraclePrice); // impact is on
        const num = q.fillPrice * (sizeDelta > 0n ? BPS + bps : BPS - bps);
        expect(num % BPS).to.not.equal(0n); // the rounding direction matters for this fill
        // A buy's ceiling rounds down, a sell's floor rounds up: both at least as tight as asked.
        expect(q.acceptablePrice).to.equal(sizeDelta > 0n ? num / BPS : num / BPS + 1n);
      }
      const plain = await quoteTrade(publicClient, { addresses, market: ETH_ID, sizeDelta: wad(1) });
      expect(plain.acceptablePrice).to.equal(undefined);
    });

    it("getMaxTradeSize: a trade of that size opens, one wei more fails on margin (long and short)", async function () {
      const { p, addresses, wallets } = await setup(protocolFixture);
      const collateral = usd(1_234);
      for (const side of ["long", "short"] as const) {
        const max = await getMaxTradeSize(wallets.alice, { addresses, account: addr(p.alice.address), market: ETH_ID, side, collateral });
        expect(max.oraclePrice).to.equal(wad(3000));
        expect(max.size).to.be.greaterThan(wad(20)); // about 27: 2% margin past the first tier, plus fees
        const acceptablePrice = side === "long" ? wad(3_001) : wad(2_999);
        const snapshot = await networkHelpers.takeSnapshot();
        await openPosition(wallets.alice, { addresses, market: ETH_ID, side, size: max.size, collateral, acceptablePrice });
        const stored = await p.engine.getPosition(p.alice.address, ETH_ID);
        expect(stored.size).to.equal(side === "long" ? max.size : -max.size);
        await snapshot.restore();
        const nonce = await wallets.alice.getTransactionCount({ address: addr(p.alice.address) });
        const err = await expectContractError(
          () => openPosition(wallets.alice, { addresses, market: ETH_ID, side, size: max.size + 1n, collateral, acceptablePrice }),
          "PerpInsufficientMargin"
        );
        expect(err.args[0]).to.equal(p.alice.address);
        expect(err.args[2]).to.be.lessThan(BigInt(err.args[3]));
        expect(await wallets.alice.getTransactionCount({ address: addr(p.alice.address) })).to.equal(nonce);
      }
    });

    it("getMaxTradeSize of an increase on an open position is exact too", async function () {
      const { p, addresses, wallets } = await setup(positionsFixture);
      const account = addr(p.carol.address);
      const max = await getMaxTradeSize(wallets.carol, { addresses, account, market: ETH_ID, side: "long" });
      expect(max.size).to.be.greaterThan(0n);
      const snapshot = await networkHelpers.takeSnapshot();
      await increasePosition(wallets.carol, { addresses, market: ETH_ID, size: max.size, acceptablePrice: wad(3_001) });
      expect((await p.engine.getPosition(account, ETH_ID)).size).to.equal(wad(2) + max.size);
      await snapshot.restore();
      await expectContractError(
        () => increasePosition(wallets.carol, { addresses, market: ETH_ID, size: max.size + 1n, acceptablePrice: wad(3_001) }),
        "PerpInsufficientMargin"
      );
    });

    it("getMaxTradeSize is 0 when the feed gives no price", async function () {
      const { p, publicClient, addresses } = await setup(protocolFixture);
      await p.ethFeed.updateAnswer(0);
      const max = await getMaxTradeSize(publicClient, {
        addresses,
        account: addr(p.alice.address),
        market: ETH_ID,
        side: "long",
        collateral: usd(100),
      });
      expect(max).to.deep.equal({ size: 0n, oraclePrice: 0n });
    });
  });

  describe("write actions", function () {
    it("deposit approves exactly the amount when the allowance is short, then deposits", async function () {
      const { p, addresses, fresh, publicClient } = await setup(protocolFixture);
      const account = addr(p.fresh.address);
      const amount = usd("1234.5");
      expect(await p.token.allowance(account, addresses.engine)).to.equal(0n);
      const nonce = await publicClient.getTransactionCount({ address: account });
      const tokens = await p.token.balanceOf(account);
      const { hash, approvalHash } = await deposit(fresh, { addresses, amount });
      expect(approvalHash).to.be.a("string");
      const approval = await publicClient.getTransactionReceipt({ hash: approvalHash! });
      expect(approval.status).to.equal("success");
      // Right after the approval the allowance is exactly the amount; the deposit then spends all of it.
      const atApproval = await publicClient.readContract({
        address: addresses.collateralToken!,
        abi: erc20Abi,
        functionName: "allowance",
        args: [account, addresses.engine],
        blockNumber: approval.blockNumber,
      });
      expect(atApproval).to.equal(amount);
      expect((await publicClient.getTransactionReceipt({ hash })).status).to.equal("success");
      expect(await p.token.allowance(account, addresses.engine)).to.equal(0n);
      expect(await p.engine.freeBalance(account)).to.equal(amount);
      expect(await p.token.balanceOf(account)).to.equal(tokens - amount);
      expect(await publicClient.getTransactionCount({ address: account })).to.equal(nonce + 2);
    });

    it("deposit with approval max approves once; the next deposit sends no approval", async function () {
      const { p, addresses, fresh, publicClient } = await setup(protocolFixture);
      const account = addr(p.fresh.address);
      const first = await deposit(fresh, { addresses, amount: usd(100), approval: "max" });
      expect(first.approvalHash).to.be.a("string");
      expect(await p.token.allowance(account, addresses.engine)).to.equal(MAX_UINT256);
      const nonce = await publicClient.getTransactionCount({ address: account });
      const second = await deposit(fresh, { addresses, amount: usd(250) });
      expect(second.approvalHash).to.equal(undefined);
      expect(await publicClient.getTransactionCount({ address: account })).to.equal(nonce + 1);
      expect(await p.engine.freeBalance(account)).to.equal(usd(350));
    });

    it("deposit refuses an amount above the token balance before approving anything", async function () {
      const { p, addresses, fresh, publicClient } = await setup(protocolFixture);
      const account = addr(p.fresh.address);
      const tokens = await p.token.balanceOf(account);
      const nonce = await publicClient.getTransactionCount({ address: account });
      const err = await caughtError(() => deposit(fresh, { addresses, amount: tokens + 1n }));
      expect(err).to.be.instanceOf(TidemarkError);
      // One raw unit apart: both figures with all 6 decimals, so they do not read the same.
      const six = (x: bigint) => `${(x / 10n ** 6n).toLocaleString("en-US")}.${(x % 10n ** 6n).toString().padStart(6, "0")}`;
      expect((err as TidemarkError).shortMessage).to.equal(
        `Insufficient token balance: ${account} holds ${six(tokens)} USDC, ${six(tokens + 1n)} USDC needed`,
      );
      expect(await publicClient.getTransactionCount({ address: account })).to.equal(nonce);
      expect(await p.token.allowance(account, addresses.engine)).to.equal(0n);
    });

    it("deposit with an explicit nonce gives it to the approval and the next one to the deposit", async function () {
      const { p, addresses, fresh, publicClient } = await setup(protocolFixture);
      const account = addr(p.fresh.address);
      const nonce = await publicClient.getTransactionCount({ address: account });
      const { hash, approvalHash } = await deposit(fresh, { addresses, amount: usd(40), nonce });
      expect((await publicClient.getTransaction({ hash: approvalHash! })).nonce).to.equal(nonce);
      expect((await publicClient.getTransaction({ hash })).nonce).to.equal(nonce + 1);
      expect(await p.engine.freeBalance(account)).to.equal(usd(40));
    });

    it("deposit reads the collateral token from the engine when the addresses omit it", async function () {
      const { p, addresses, wallets } = await setup(protocolFixture);
      const { collateralToken: _, ...withoutToken } = addresses;
      const before = await p.engine.freeBalance(p.alice.address);
      const { approvalHash } = await deposit(wallets.alice, { addresses: withoutToken, amount: usd(7) });
      expect(approvalHash).to.equal(undefined); // the fixture approved the engine for everything
      expect(await p.engine.freeBalance(p.alice.address)).to.equal(before + usd(7));
    });

    it("withdraw moves tokens from the free balance to the wallet", async function () {
      const { p, addresses, wallets } = await setup(protocolFixture);
      const free = await p.engine.freeBalance(p.alice.address);
      const tokens = await p.token.balanceOf(p.alice.address);
      await withdraw(wallets.alice, { addresses, amount: usd("99.99") });
      expect(await p.engine.freeBalance(p.alice.address)).to.equal(free - usd("99.99"));
      expect(await p.token.balanceOf(p.alice.address)).to.equal(tokens + usd("99.99"));
    });

    it("openPosition with slippageBps bounds the price at the quote moved by the tolerance", async function () {
      const { p, addresses, wallets, publicClient } = await setup(protocolFixture);
      await p.engine.setExposureParams(ETH_ID, { ...EXPOSURE_PARAMS, impactSkewScale: wad(1_000) });
      const size = wad(4);
      const q = await p.lens.quoteTrade(ETH_ID, size);
      expect(q.fillPrice).to.be.greaterThan(wad(3000));
      const free = await p.engine.freeBalance(p.alice.address);
      const { hash, acceptablePrice } = await openPosition(wallets.alice, {
        addresses,
        market: ETH_ID,
        side: "long",
        size,
        collateral: usd(1_000),
        slippageBps: 50n,
      });
      expect(acceptablePrice).to.equal((q.fillPrice * (BPS + 50n)) / BPS);
      const tx = await publicClient.getTransaction({ hash });
      const { functionName, args } = decodeFunctionData({ abi: tidemarkEngineAbi, data: tx.input });
      expect(functionName).to.equal("modifyPosition");
      expect(args).to.deep.equal([ETH_ID, size, usd(1_000), acceptablePrice]);
      const stored = await p.engine.getPosition(p.alice.address, ETH_ID);
      expect(stored.size).to.equal(size);
      expect(stored.entryPrice).to.equal(q.fillPrice);
      expect(q.priceImpact).to.be.greaterThan(0n);
      expect(stored.collateral).to.equal(usd(1_000) - q.fee); // the impact is in the entry price, not the collateral
      expect(await p.engine.freeBalance(p.alice.address)).to.equal(free - usd(1_000));
    });

    it("openPosition short with slippageBps floors the price below the quote", async function () {
      const { p, addresses, wallets } = await setup(protocolFixture);
      await p.engine.setExposureParams(ETH_ID, { ...EXPOSURE_PARAMS, impactSkewScale: wad(1_000) });
      const q = await p.lens.quoteTrade(ETH_ID, -wad(3));
      const { acceptablePrice } = await openPosition(wallets.bob, {
        addresses,
        market: ETH_ID,
        side: "short",
        size: wad(3),
        collateral: usd(500),
        slippageBps: 25n,
      });
      const num = q.fillPrice * (BPS - 25n);
      expect(acceptablePrice).to.equal((num + BPS - 1n) / BPS);
      expect((await p.engine.getPosition(p.bob.address, ETH_ID)).size).to.equal(-wad(3));
    });

    it("openPosition passes an explicit acceptablePrice through unchanged", async function () {
      const { p, addresses, wallets, publicClient } = await setup(protocolFixture);
      const { hash, acceptablePrice } = await openPosition(wallets.alice, {
        addresses,
        market: BTC_ID,
        side: "short",
        size: wad("0.1"),
        collateral: usd(300),
        acceptablePrice: wad(59_123),
      });
      expect(acceptablePrice).to.equal(wad(59_123));
      const tx = await publicClient.getTransaction({ hash });
      expect(decodeFunctionData({ abi: tidemarkEngineAbi, data: tx.input }).args).to.deep.equal([
        BTC_ID,
        -wad("0.1"),
        usd(300),
        wad(59_123),
      ]);
      const stored = await p.engine.getPosition(p.alice.address, BTC_ID);
      expect(stored.size).to.equal(-wad("0.1"));
      expect(stored.entryPrice).to.equal(wad(60_000));
    });

    it("increasePosition adds size on the position's side and the extra collateral", async function () {
      const { p, addresses, wallets } = await setup(positionsFixture);
      const before = await p.engine.getPosition(p.bob.address, ETH_ID);
      const fee = (await p.lens.quoteTrade(ETH_ID, -wad(2))).fee;
      const free = await p.engine.freeBalance(p.bob.address);
      await increasePosition(wallets.bob, { addresses, market: ETH_ID, size: wad(2), collateral: usd(400), slippageBps: 10n });
      const after = await p.engine.getPosition(p.bob.address, ETH_ID);
      expect(after.size).to.equal(before.size - wad(2)); // bob is short: the increase sells
      expect(after.collateral).to.equal(before.collateral + usd(400) - fee);
      expect(await p.engine.freeBalance(p.bob.address)).to.equal(free - usd(400));
    });

    it("decreasePosition reduces the size and moves withdrawCollateral to the free balance", async function () {
      const { p, addresses, wallets, publicClient } = await setup(positionsFixture);
      const before = await p.engine.getPosition(p.carol.address, ETH_ID);
      const fee = (await p.lens.quoteTrade(ETH_ID, -wad("0.5"))).fee;
      const free = await p.engine.freeBalance(p.carol.address);
      const { hash, acceptablePrice } = await decreasePosition(wallets.carol, {
        addresses,
        market: ETH_ID,
        size: wad("0.5"),
        withdrawCollateral: usd(1_000),
        slippageBps: 100n,
      });
      expect(acceptablePrice).to.equal((wad(3000) * (BPS - 100n)) / BPS);
      const tx = await publicClient.getTransaction({ hash });
      expect(decodeFunctionData({ abi: tidemarkEngineAbi, data: tx.input }).args).to.deep.equal([
        ETH_ID,
        -wad("0.5"),
        -usd(1_000),
        acceptablePrice,
      ]);
      const after = await p.engine.getPosition(p.carol.address, ETH_ID);
      expect(after.size).to.equal(wad("1.5"));
      expect(after.collateral).to.equal(before.collateral - usd(1_000) - fee); // no PnL at an unchanged price
      expect(await p.engine.freeBalance(p.carol.address)).to.equal(free + usd(1_000));
    });

    it("closePosition closes the whole position and returns collateral minus the closing fee", async function () {
      const { p, addresses, wallets } = await setup(positionsFixture);
      const before = await p.engine.getPosition(p.bob.address, ETH_ID);
      const fee = (await p.lens.quoteTrade(ETH_ID, wad(5))).fee;
      const free = await p.engine.freeBalance(p.bob.address);
      const { acceptablePrice } = await closePosition(wallets.bob, { addresses, market: ETH_ID, slippageBps: 30n });
      expect(acceptablePrice).to.equal((wad(3000) * (BPS + 30n)) / BPS); // closing a short buys
      const after = await getPosition(wallets.bob, { addresses, account: addr(p.bob.address), market: ETH_ID });
      expect(after.exists).to.equal(false);
      expect(await p.engine.freeBalance(p.bob.address)).to.equal(free + before.collateral - fee);
      expect(await p.engine.openPositionCount(ETH_ID)).to.equal(3n);
    });

    it("addCollateral and removeCollateral move exact amounts between the free balance and the position", async function () {
      const { p, addresses, wallets } = await setup(positionsFixture);
      const start = (await p.engine.getPosition(p.alice.address, ETH_ID)).collateral;
      const free = await p.engine.freeBalance(p.alice.address);
      await addCollateral(wallets.alice, { addresses, market: ETH_ID, amount: usd("250.000001") });
      expect((await p.engine.getPosition(p.alice.address, ETH_ID)).collateral).to.equal(start + usd("250.000001"));
      expect(await p.engine.freeBalance(p.alice.address)).to.equal(free - usd("250.000001"));
      await removeCollateral(wallets.alice, { addresses, market: ETH_ID, amount: usd(200) });
      expect((await p.engine.getPosition(p.alice.address, ETH_ID)).collateral).to.equal(start + usd("50.000001"));
      expect(await p.engine.freeBalance(p.alice.address)).to.equal(free - usd("50.000001"));
    });

    it("modifyPosition sends the signed deltas: a decrease that also adds collateral", async function () {
      const { p, addresses, wallets, publicClient } = await setup(positionsFixture);
      const before = await p.engine.getPosition(p.carol.address, ETH_ID);
      const fee = (await p.lens.quoteTrade(ETH_ID, -wad("0.25"))).fee;
      const { hash, acceptablePrice } = await modifyPosition(wallets.carol, {
        addresses,
        market: ETH_ID,
        sizeDelta: -wad("0.25"),
        collateralDelta: usd(10),
        acceptablePrice: wad(2_999),
      });
      expect(acceptablePrice).to.equal(wad(2_999));
      const tx = await publicClient.getTransaction({ hash });
      expect(decodeFunctionData({ abi: tidemarkEngineAbi, data: tx.input }).args).to.deep.equal([
        ETH_ID,
        -wad("0.25"),
        usd(10),
        wad(2_999),
      ]);
      const after = await p.engine.getPosition(p.carol.address, ETH_ID);
      expect(after.size).to.equal(wad("1.75"));
      expect(after.collateral).to.equal(before.collateral + usd(10) - fee);
    });

    it("liquidate credits the keeper's free balance with the PositionLiquidated reward", async function () {
      const { p, addresses, wallets, publicClient } = await setup(positionsFixture);
      await p.ethFeed.updateAnswer(answer(2_912));
      expect(await p.engine.isLiquidatable(p.alice.address, ETH_ID)).to.equal(true);
      const free = await p.engine.freeBalance(p.keeper.address);
      const { hash } = await liquidate(wallets.keeper, { addresses, account: addr(p.alice.address), market: ETH_ID });
      const receipt = await publicClient.getTransactionReceipt({ hash });
      const [event] = parseEventLogs({ abi: tidemarkEngineAbi, logs: receipt.logs, eventName: "PositionLiquidated" });
      // Sent by the keeper, not by the liquidated account the parameters name.
      expect((await publicClient.getTransaction({ hash })).from.toLowerCase()).to.equal(p.keeper.address.toLowerCase());
      expect(event.args.account).to.equal(p.alice.address);
      expect(event.args.liquidator).to.equal(p.keeper.address);
      expect(event.args.keeperReward).to.be.greaterThan(0n);
      expect(await p.engine.freeBalance(p.keeper.address)).to.equal(free + event.args.keeperReward);
      // Whatever the plan closed, alice keeps what the event says remains.
      expect((await p.engine.getPosition(p.alice.address, ETH_ID)).size).to.equal(event.args.remainingSize);
      expect(await p.engine.isLiquidatable(p.alice.address, ETH_ID)).to.equal(false);
    });

    it("liquidateBatch liquidates the liquidatable positions, skips healthy ones and returns the count", async function () {
      const { p, addresses, wallets, publicClient } = await setup(positionsFixture);
      await p.ethFeed.updateAnswer(answer(2_912));
      const positions = [
        { account: addr(p.bob.address), market: ETH_ID },
        { account: addr(p.alice.address), market: ETH_ID },
        { account: addr(p.carol.address), market: ETH_ID },
        { account: addr(p.dave.address), market: ETH_ID },
        { account: addr(p.carol.address), market: BTC_ID },
      ];
      const stored = async (account: string) => {
        const { size, collateral, entryPrice, fundingIndex } = await p.engine.getPosition(account, ETH_ID);
        return { size, collateral, entryPrice, fundingIndex };
      };
      const bob = await stored(p.bob.address);
      const carol = await stored(p.carol.address);
      const free = await p.engine.freeBalance(p.keeper.address);
      const { hash, result } = await liquidateBatch(wallets.keeper, { addresses, positions });
      expect(result).to.equal(2n);
      const events = parseEventLogs({
        abi: tidemarkEngineAbi,
        logs: (await publicClient.getTransactionReceipt({ hash })).logs,
        eventName: "PositionLiquidated",
      });
      expect(events.map((e) => e.args.account)).to.deep.equal([p.alice.address, p.dave.address]);
      const rewards = events.reduce((sum, e) => sum + e.args.keeperReward, 0n);
      expect(await p.engine.freeBalance(p.keeper.address)).to.equal(free + rewards);
      expect((await p.engine.getPosition(p.dave.address, ETH_ID)).size).to.equal(0n);
      expect(await stored(p.bob.address)).to.deep.equal(bob);
      expect(await stored(p.carol.address)).to.deep.equal(carol);
    });

    it("a write action accepts an explicit account on a client without one", async function () {
      const { p, addresses } = await setup(protocolFixture);
      const client = createWalletClient({ chain: hardhat, transport: custom(conn.provider), pollingInterval: 20, cacheTime: 0 });
      const free = await p.engine.freeBalance(p.bob.address);
      await withdraw(client, { addresses, amount: usd(1), account: addr(p.bob.address) });
      expect(await p.engine.freeBalance(p.bob.address)).to.equal(free - usd(1));
      await expectInvalid(() => withdraw(client, { addresses, amount: usd(1) }), "account");
    });

    it("a write action works on a client without a chain (it sends to the transport's chain)", async function () {
      const { p, addresses } = await setup(protocolFixture);
      const client = createWalletClient({ transport: custom(conn.provider), account: addr(p.bob.address), pollingInterval: 20, cacheTime: 0 });
      expect(client.chain).to.equal(undefined);
      const free = await p.engine.freeBalance(p.bob.address);
      await withdraw(client, { addresses, amount: usd(2) });
      expect(await p.engine.freeBalance(p.bob.address)).to.equal(free - usd(2));
    });

    it("writes work with a local (viem-signed) account: deposit with approval, open, close", async function () {
      const { p, addresses, publicClient } = await setup(protocolFixture);
      const account = privateKeyToAccount(LOCAL_KEY);
      expect(account.address).to.equal((await ethers.getSigners())[9].address);
      await p.token.mint(account.address, usd(5_000));
      const client = createWalletClient({ chain: hardhat, transport: custom(conn.provider), account, pollingInterval: 20, cacheTime: 0 });
      const nonce = await publicClient.getTransactionCount({ address: account.address });
      const { approvalHash, hash } = await deposit(client, { addresses, amount: usd(2_000) });
      expect(approvalHash).to.be.a("string");
      expect((await publicClient.getTransaction({ hash })).from.toLowerCase()).to.equal(account.address.toLowerCase());
      expect(await p.engine.freeBalance(account.address)).to.equal(usd(2_000));
      await openPosition(client, { addresses, market: ETH_ID, side: "long", size: wad(1), collateral: usd(500), slippageBps: 10n });
      expect((await p.engine.getPosition(account.address, ETH_ID)).size).to.equal(wad(1));
      await closePosition(client, { addresses, market: ETH_ID, slippageBps: 10n });
      expect((await p.engine.getPosition(account.address, ETH_ID)).size).to.equal(0n);
      expect(await publicClient.getTransactionCount({ address: account.address })).to.equal(nonce + 4);
    });
  });

  describe("failure paths: typed errors, nothing sent", function () {
    /** Runs `fn` (which must fail with `name`) and checks `account`'s nonce did not move. */
    async function expectRefused<N extends TidemarkErrorName>(
      publicClient: { getTransactionCount: (a: { address: Address }) => Promise<number> },
      account: string,
      fn: () => Promise<unknown>,
      name: N
    ) {
      const nonce = await publicClient.getTransactionCount({ address: addr(account) });
      const err = await expectContractError(fn, name);
      expect(await publicClient.getTransactionCount({ address: addr(account) })).to.equal(nonce);
      expect(err.message).to.not.match(/undefined|NaN/);
      return err;
    }

    it("a bound tighter than the fill with price impact on throws PerpSlippage", async function () {
      const { p, addresses, wallets, publicClient } = await setup(protocolFixture);
      await p.engine.setExposureParams(ETH_ID, { ...EXPOSURE_PARAMS, impactSkewScale: wad(1_000) });
      const q = await p.lens.quoteTrade(ETH_ID, wad(5));
      const err = await expectRefused(
        publicClient,
        p.alice.address,
        () =>
          openPosition(wallets.alice, {
            addresses,
            market: ETH_ID,
            side: "long",
            size: wad(5),
            collateral: usd(1_000),
            acceptablePrice: wad(3000),
          }),
        "PerpSlippage"
      );
      expect(err.args).to.deep.equal([q.fillPrice, wad(3000)]);
      if (err.is("PerpSlippage")) {
        const fill: bigint = err.args[0];
        expect(fill).to.be.greaterThan(wad(3000));
      }
      // slippageBps 0 accepts exactly the quoted fill.
      await openPosition(wallets.alice, { addresses, market: ETH_ID, side: "long", size: wad(5), collateral: usd(1_000), slippageBps: 0n });
      expect((await p.engine.getPosition(p.alice.address, ETH_ID)).entryPrice).to.equal(q.fillPrice);
    });

    it("removing too much collateral throws PerpInsufficientMargin with the account, market and margin", async function () {
      const { p, addresses, wallets, publicClient } = await setup(positionsFixture);
      const amount = usd(900);
      const health = await p.lens.positionHealth(p.alice.address, ETH_ID);
      const err = await expectRefused(
        publicClient,
        p.alice.address,
        () => removeCollateral(wallets.alice, { addresses, market: ETH_ID, amount }),
        "PerpInsufficientMargin"
      );
      expect(err.args[0]).to.equal(p.alice.address);
      expect(err.args[1]).to.equal(ETH_ID);
      expect(err.args[2]).to.equal(health.equity - amount * SCALE);
      expect(err.args[3]).to.equal(health.initialMargin);
      expect((await p.engine.getPosition(p.alice.address, ETH_ID)).collateral).to.equal(health.collateral / SCALE);
    });

    it("withdrawing more than the free balance throws PerpInsufficientFreeBalance with balance and required", async function () {
      const { p, addresses, wallets, publicClient } = await setup(protocolFixture);
      const free = await p.engine.freeBalance(p.bob.address);
      const err = await expectRefused(
        publicClient,
        p.bob.address,
        () => withdraw(wallets.bob, { addresses, amount: free + 1n }),
        "PerpInsufficientFreeBalance"
      );
      expect(err.args).to.deep.equal([p.bob.address, free, free + 1n]);
    });

    it("liquidating a healthy position throws PerpPositionHealthy with the lens's health factor", async function () {
      const { p, addresses, wallets, publicClient } = await setup(positionsFixture);
      const err = await expectRefused(
        publicClient,
        p.keeper.address,
        () => liquidate(wallets.keeper, { addresses, account: addr(p.alice.address), market: ETH_ID }),
        "PerpPositionHealthy"
      );
      const hf = await p.lens.healthFactor(p.alice.address, ETH_ID);
      expect(hf).to.be.greaterThanOrEqual(wad(1));
      expect(err.args).to.deep.equal([p.alice.address, ETH_ID, hf]);
    });

    it("liquidating the same position twice: the second throws PerpNoPosition", async function () {
      const { p, addresses, wallets, publicClient } = await setup(positionsFixture);
      await p.ethFeed.updateAnswer(answer(2_912));
      await liquidate(wallets.keeper, { addresses, account: addr(p.dave.address), market: ETH_ID });
      expect((await p.engine.getPosition(p.dave.address, ETH_ID)).size).to.equal(0n);
      const err = await expectRefused(
        publicClient,
        p.keeper.address,
        () => liquidate(wallets.keeper, { addresses, account: addr(p.dave.address), market: ETH_ID }),
        "PerpNoPosition"
      );
      expect(err.args).to.deep.equal([p.dave.address, ETH_ID]);
    });

    it("a batch with nothing liquidatable throws PerpNothingLiquidated", async function () {
      const { p, addresses, wallets, publicClient } = await setup(positionsFixture);
      const err = await expectRefused(
        publicClient,
        p.keeper.address,
        () =>
          liquidateBatch(wallets.keeper, {
            addresses,
            positions: [
              { account: addr(p.alice.address), market: ETH_ID },
              { account: addr(p.keeper.address), market: ETH_ID },
            ],
          }),
        "PerpNothingLiquidated"
      );
      expect(err.args).to.deep.equal([]);
    });

    it("opening on a paused market throws PerpMarketPaused", async function () {
      const { p, addresses, wallets, publicClient } = await setup(protocolFixture);
      await p.engine.connect(p.guardian).setMarketPaused(ETH_ID, true);
      const err = await expectRefused(
        publicClient,
        p.alice.address,
        () =>
          openPosition(wallets.alice, { addresses, market: ETH_ID, side: "long", size: wad(1), collateral: usd(100), slippageBps: 10n }),
        "PerpMarketPaused"
      );
      expect(err.args).to.deep.equal([ETH_ID]);
      expect(err.shortMessage).to.contain("ETH-USD");
    });

    it("opening on a stale feed throws OracleStale with the round's time and the heartbeat", async function () {
      const { p, addresses, wallets, publicClient } = await setup(protocolFixture);
      await networkHelpers.time.increase(HEARTBEAT + 1);
      const [, , , updatedAt] = await p.ethFeed.latestRoundData();
      const err = await expectRefused(
        publicClient,
        p.alice.address,
        () =>
          openPosition(wallets.alice, { addresses, market: ETH_ID, side: "long", size: wad(1), collateral: usd(100), slippageBps: 10n }),
        "OracleStale"
      );
      expect(err.args).to.deep.equal([ETH_ID, updatedAt, BigInt(HEARTBEAT)]);
    });
  });

  describe("parameter validation before any RPC", function () {
    it("refuses zero amounts without touching the network", async function () {
      const { p, addresses } = await setup(protocolFixture);
      const { client, methods } = recordingWallet(addr(p.alice.address), true);
      await expectInvalid(() => deposit(client, { addresses, amount: 0n }), "amount");
      await expectInvalid(() => withdraw(client, { addresses, amount: 0n }), "amount");
      await expectInvalid(() => addCollateral(client, { addresses, market: ETH_ID, amount: 0n }), "amount");
      await expectInvalid(() => removeCollateral(client, { addresses, market: ETH_ID, amount: 0n }), "amount");
      await expectInvalid(() => requestDeposit(client, { addresses, assets: 0n }), "assets");
      await expectInvalid(() => requestRedeem(client, { addresses, shares: 0n }), "shares");
      await expectInvalid(() => claimDeposit(client, { addresses, assets: 0n }), "assets");
      await expectInvalid(() => claimDeposit(client, { addresses, shares: 0n }), "shares");
      await expectInvalid(() => claimRedeem(client, { addresses, assets: 0n }), "assets");
      await expectInvalid(() => claimRedeem(client, { addresses, shares: 0n }), "shares");
      await expectInvalid(
        () => openPosition(client, { addresses, market: ETH_ID, side: "long", size: 0n, collateral: usd(1), slippageBps: 1n }),
        "size"
      );
      await expectInvalid(
        () => openPosition(client, { addresses, market: ETH_ID, side: "long", size: wad(1), collateral: 0n, slippageBps: 1n }),
        "collateral"
      );
      await expectInvalid(() => increasePosition(client, { addresses, market: ETH_ID, size: 0n, slippageBps: 1n }), "size");
      await expectInvalid(() => decreasePosition(client, { addresses, market: ETH_ID, size: 0n, slippageBps: 1n }), "size");
      await expectInvalid(
        () => modifyPosition(client, { addresses, market: ETH_ID, sizeDelta: 0n, collateralDelta: 0n, acceptablePrice: 1n }),
        "sizeDelta"
      );
      // The engine refuses a zero size change (PerpZeroAmount); collateral alone moves through add/removeCollateral.
      await expectInvalid(
        () => modifyPosition(client, { addresses, market: ETH_ID, sizeDelta: 0n, collateralDelta: usd(1), slippageBps: 10n }),
        "sizeDelta"
      );
      await expectInvalid(() => liquidateBatch(client, { addresses, positions: [] }), "positions");
      expect(methods).to.deep.equal([]);
    });

    it("rejects a promise instead of throwing synchronously", async function () {
      const { p, addresses } = await setup(protocolFixture);
      const { client } = recordingWallet(addr(p.alice.address), true);
      const calls = [
        () => withdraw(client, { addresses, amount: 0n }),
        () => addCollateral(client, { addresses, market: ETH_ID, amount: 0n }),
        () => removeCollateral(client, { addresses, market: ETH_ID, amount: 0n }),
        () => liquidateBatch(client, { addresses, positions: [] }),
        () => claimRedeem(client, { addresses, shares: 0n }),
        () => requestDeposit(client, { addresses, assets: 0n }),
        () => cancelLpRequest(client, { addresses, kind: "withdraw" as never }),
        () => fulfillLpRequests(client, { addresses, requests: [] }),
        () => client.extend(tidemarkActions({ addresses })).withdraw({ amount: 0n }),
      ];
      for (const call of calls) {
        let promise: Promise<unknown> | undefined;
        expect(() => {
          promise = call();
        }).to.not.throw();
        let caught: unknown;
        await promise!.catch((err: unknown) => {
          caught = err;
        });
        expect(caught).to.be.instanceOf(InvalidParameterError);
      }
    });

    it("requires exactly one of slippageBps and acceptablePrice", async function () {
      const { p, addresses } = await setup(protocolFixture);
      const { client, methods } = recordingWallet(addr(p.alice.address), true);
      const base = { addresses, sizeDelta: wad(1), collateralDelta: usd(100), market: ETH_ID };
      await expectInvalid(() => modifyPosition(client, base as never), "slippage");
      await expectInvalid(() => modifyPosition(client, { ...base, slippageBps: 10n, acceptablePrice: wad(1) } as never), "slippage");
      await expectInvalid(() => modifyPosition(client, { ...base, slippageBps: 10_001n }), "slippageBps");
      await expectInvalid(() => modifyPosition(client, { ...base, slippageBps: -1n }), "slippageBps");
      expect(methods).to.deep.equal([]);
    });

    it("refuses openPosition over an existing position and decreasePosition of the whole size, sending nothing", async function () {
      const { p, addresses } = await setup(positionsFixture);
      const { client, methods } = recordingWallet(addr(p.alice.address));
      await expectInvalid(
        () => openPosition(client, { addresses, market: ETH_ID, side: "long", size: wad(1), collateral: usd(100), slippageBps: 10n }),
        "market"
      );
      await expectInvalid(() => decreasePosition(client, { addresses, market: ETH_ID, size: wad(10), slippageBps: 10n }), "size");
      await expectInvalid(() => decreasePosition(client, { addresses, market: ETH_ID, size: wad(11), slippageBps: 10n }), "size");
      await expectInvalid(() => increasePosition(client, { addresses, market: BTC_ID, size: wad(1), slippageBps: 10n }), "market");
      await expectInvalid(() => closePosition(client, { addresses, market: BTC_ID, slippageBps: 10n }), "market");
      // Each read the position once and nothing else: no quote, no simulation, no transaction.
      expect(methods).to.deep.equal(["eth_call", "eth_call", "eth_call", "eth_call", "eth_call"]);
    });

    it("getPositions and getOpenPositions refuse a batch or page size that would never advance", async function () {
      const { p, addresses } = await setup(protocolFixture);
      const { client, methods } = recordingWallet(addr(p.alice.address), true);
      const positions = [{ account: addr(p.alice.address), market: ETH_ID }];
      for (const batchSize of [0, -1, 1.5])
        await expectInvalid(() => getPositions(client, { addresses, positions, batchSize }), "batchSize");
      for (const pageSize of [0, -1, 1.5])
        await expectInvalid(() => getOpenPositions(client, { addresses, market: ETH_ID, pageSize }), "pageSize");
      expect(methods).to.deep.equal([]);
    });

    it("the LP actions refuse bad inputs before any RPC: both claim amounts, an unknown kind, no request, malformed updates", async function () {
      const { p, addresses } = await setup(protocolFixture);
      const { client, methods } = recordingWallet(addr(p.lp.address), true);
      for (const claim of [claimDeposit, claimRedeem]) {
        const err = await expectInvalid(() => claim(client, { addresses, assets: 1n, shares: 1n } as never), "amount");
        expect(err.shortMessage).to.equal("Invalid amount: give either assets or shares, not both");
        await expectInvalid(() => claim(client, { addresses, assets: -1n }), "assets");
        await expectInvalid(() => claim(client, { addresses, shares: 2n ** 256n }), "shares");
      }
      await expectInvalid(() => requestDeposit(client, { addresses, assets: -5n }), "assets");
      await expectInvalid(() => requestRedeem(client, { addresses, shares: 2n ** 256n }), "shares");
      const kind = await expectInvalid(() => cancelLpRequest(client, { addresses, kind: "withdraw" as never }), "kind");
      expect(kind.shortMessage).to.equal('Invalid kind: must be "deposit" or "redeem", got withdraw');
      await expectInvalid(() => fulfillLpRequests(client, { addresses, requests: [] }), "requests");
      const controller = addr(p.lp.address);
      await expectInvalid(
        () => fulfillLpRequests(client, { addresses, requests: [{ controller, kind: "sideways" as never, priceUpdate: [] }] }),
        "kind"
      );
      const bad = await expectInvalid(
        () => fulfillLpRequests(client, { addresses, requests: [{ controller, kind: "deposit", priceUpdate: ["0x12", "not hex" as Hex] }] }),
        "priceUpdate"
      );
      expect(bad.shortMessage).to.match(/^Invalid priceUpdate: of request 0 must be an array of hex strings/);
      await expectInvalid(() => fulfillLpRequests(client, { addresses, requests: [{ controller, kind: "redeem", priceUpdate: "0x" as never }] }), "priceUpdate");
      expect(methods).to.deep.equal([]);
    });

    it("marketId refuses an empty symbol and one over 32 bytes", function () {
      expect(marketId("ETH-USD")).to.equal(ETH_ID);
      expect(marketId("x".repeat(32))).to.equal(`0x${"78".repeat(32)}`);
      expect(() => marketId("x".repeat(33))).to.throw(InvalidParameterError);
      expect(() => marketId("é".repeat(17))).to.throw(InvalidParameterError); // 34 bytes in UTF-8
      expect(() => marketId("")).to.throw(InvalidParameterError);
    });

    it("addressesFromIgnition maps the deployment and refuses a missing or malformed entry", function () {
      const deployed = {
        "TidemarkLocal#MockERC20": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
        "TidemarkLocal#LiquidityPool": "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512",
        "TidemarkLocal#InsuranceFund": "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0",
        "TidemarkLocal#TidemarkEngine": "0xCf7Ed3AccA5a467e9e704C703E8D87F634fB0Fc9",
        "TidemarkLocal#TidemarkLens": "0xDc64a140Aa3E981100a9becA4E685f962f0cF6C9",
        "TidemarkLocal#ConfigLib": "0x5FC8d32690cc91D4c39d9d3abcBD16989F875707",
      };
      expect(addressesFromIgnition(deployed)).to.deep.equal({
        engine: deployed["TidemarkLocal#TidemarkEngine"],
        lens: deployed["TidemarkLocal#TidemarkLens"],
        pool: deployed["TidemarkLocal#LiquidityPool"],
        insuranceFund: deployed["TidemarkLocal#InsuranceFund"],
        collateralToken: deployed["TidemarkLocal#MockERC20"],
      });
      for (const missing of ["TidemarkLocal#TidemarkEngine", "TidemarkLocal#TidemarkLens", "TidemarkLocal#LiquidityPool"]) {
        const partial: Record<string, string> = { ...deployed };
        delete partial[missing];
        expect(() => addressesFromIgnition(partial)).to.throw(InvalidParameterError, /must all be deployed/);
      }
      expect(() => addressesFromIgnition({ ...deployed, "TidemarkLocal#TidemarkLens": "0x1234" })).to.throw(
        InvalidParameterError,
        /not an address/
      );
      expect(() => addressesFromIgnition({ ...deployed, "Other#TidemarkEngine": deployed["TidemarkLocal#TidemarkEngine"] })).to.throw(
        InvalidParameterError,
        /several/
      );
      const { "TidemarkLocal#MockERC20": _, "TidemarkLocal#InsuranceFund": __, ...core } = deployed;
      const minimal = addressesFromIgnition(core);
      expect(minimal.collateralToken).to.equal(undefined);
      expect(minimal.insuranceFund).to.equal(undefined);
    });
  });

  describe("calldata builders", function () {
    it("the write actions send exactly the builders' calldata", async function () {
      const { p, addresses, wallets, publicClient } = await setup(positionsFixture);
      const sent = async (hash: Hex) => {
        const tx = await publicClient.getTransaction({ hash });
        return { to: tx.to, data: tx.input, value: tx.value };
      };
      const lower = (c: { to: Address; data: Hex; value: bigint }) => ({ ...c, to: c.to.toLowerCase() });
      const same = async (hash: Hex, built: { to: Address; data: Hex; value: bigint }) =>
        expect(lower((await sent(hash)) as never)).to.deep.equal(lower(built));

      await same((await deposit(wallets.alice, { addresses, amount: usd(3) })).hash, buildDeposit({ addresses, amount: usd(3) }));
      await same((await withdraw(wallets.alice, { addresses, amount: usd(2) })).hash, buildWithdraw({ addresses, amount: usd(2) }));
      await same(
        (
          await openPosition(wallets.keeper, {
            addresses,
            market: BTC_ID,
            side: "long",
            size: wad("0.01"),
            collateral: usd(50),
            acceptablePrice: wad(60_100),
          })
        ).hash,
        buildModifyPosition({ addresses, market: BTC_ID, sizeDelta: wad("0.01"), collateralDelta: usd(50), acceptablePrice: wad(60_100) })
      );
      await same(
        (
          await addCollateral(wallets.keeper, { addresses, market: BTC_ID, amount: usd(5) })
        ).hash,
        buildAddCollateral({ addresses, market: BTC_ID, amount: usd(5) })
      );
      await same(
        (
          await removeCollateral(wallets.keeper, { addresses, market: BTC_ID, amount: usd(4) })
        ).hash,
        buildRemoveCollateral({ addresses, market: BTC_ID, amount: usd(4) })
      );
      await same(
        (
          await closePosition(wallets.keeper, { addresses, market: BTC_ID, acceptablePrice: wad(59_900) })
        ).hash,
        buildClosePosition({ addresses, market: BTC_ID, acceptablePrice: wad(59_900) })
      );
      await p.ethFeed.updateAnswer(answer(2_912));
      await same(
        (
          await liquidate(wallets.keeper, { addresses, account: addr(p.dave.address), market: ETH_ID })
        ).hash,
        buildLiquidate({ addresses, account: addr(p.dave.address), market: ETH_ID })
      );
      const positions = [
        { account: addr(p.bob.address), market: ETH_ID },
        { account: addr(p.alice.address), market: ETH_ID },
      ];
      await same((await liquidateBatch(wallets.keeper, { addresses, positions })).hash, buildLiquidateBatch({ addresses, positions }));
    });

    it("builder calldata sent through a wallet works: approve, deposit, open, close", async function () {
      const { p, addresses, fresh, publicClient } = await setup(protocolFixture);
      const account = addr(p.fresh.address);
      const send = async (c: { to: Address; data: Hex; value: bigint }) => {
        const hash = await fresh.sendTransaction({ to: c.to, data: c.data, value: c.value });
        expect((await publicClient.waitForTransactionReceipt({ hash })).status).to.equal("success");
      };
      const approve = buildApprove({ token: addresses.collateralToken!, spender: addresses.engine, amount: usd(600) });
      expect(approve.to).to.equal(addresses.collateralToken);
      await send(approve);
      expect(await p.token.allowance(account, addresses.engine)).to.equal(usd(600));
      await send(buildDeposit({ addresses, amount: usd(600) }));
      expect(await p.engine.freeBalance(account)).to.equal(usd(600));
      await send(
        buildModifyPosition({ addresses, market: ETH_ID, sizeDelta: -wad(1), collateralDelta: usd(500), acceptablePrice: wad(2_990) })
      );
      expect((await p.engine.getPosition(account, ETH_ID)).size).to.equal(-wad(1));
      await send(buildClosePosition({ addresses, market: ETH_ID, acceptablePrice: wad(3_010) }));
      expect((await p.engine.getPosition(account, ETH_ID)).size).to.equal(0n);
    });

    it("builders refuse values their ABI types cannot hold", function () {
      const addresses = { engine: addr(`0x${"11".repeat(20)}`), lens: addr(`0x${"22".repeat(20)}`), pool: addr(`0x${"33".repeat(20)}`) };
      expect(() => buildDeposit({ addresses, amount: 2n ** 256n })).to.throw(InvalidParameterError);
      expect(() => buildWithdraw({ addresses, amount: -1n })).to.throw(InvalidParameterError);
      expect(() =>
        buildModifyPosition({ addresses, market: ETH_ID, sizeDelta: 2n ** 255n, collateralDelta: 0n, acceptablePrice: 1n })
      ).to.throw(InvalidParameterError);
      expect(() => buildModifyPosition({ addresses, market: ETH_ID, sizeDelta: 1n, collateralDelta: 0n, acceptablePrice: -1n })).to.throw(
        InvalidParameterError
      );
      expect(() => buildApprove({ token: addresses.engine, spender: addresses.pool, amount: -1n })).to.throw(InvalidParameterError);
      expect(buildApprove({ token: addresses.engine, spender: addresses.pool, amount: 0n }).to).to.equal(addresses.engine);
    });
  });

  describe("decorator", function () {
    it("binds every action to the client and the deployment's addresses", async function () {
      const { p, addresses } = await setup(positionsFixture);
      const client = createWalletClient({
        chain: hardhat,
        transport: custom(conn.provider),
        account: addr(p.alice.address),
        pollingInterval: 20,
        cacheTime: 0,
      })
        .extend(publicActions)
        .extend(tidemarkActions({ addresses }));
      const account = addr(p.alice.address);
      const pos = await client.getPosition({ account, market: ETH_ID });
      expect(healthOf(pos.health!)).to.deep.equal(healthOf(await p.lens.positionHealth(account, ETH_ID)));
      expect(await client.getFreeBalance({ account })).to.equal(await p.engine.freeBalance(account));
      expect((await client.getMarkets({})).map((m) => m.symbol)).to.deep.equal(["ETH-USD", "BTC-USD"]);
      expect((await client.quoteTrade({ market: ETH_ID, sizeDelta: wad(1) })).fillPrice).to.equal(wad(3000));
      // viem's own actions are still there.
      expect(await client.getBlockNumber()).to.equal(BigInt(await ethers.provider.getBlockNumber()));

      await client.addCollateral({ market: ETH_ID, amount: usd(10) });
      expect((await p.engine.getPosition(account, ETH_ID)).collateral).to.equal(pos.stored.collateral + usd(10));
      await client.increasePosition({ market: ETH_ID, size: wad(1), slippageBps: 10n });
      expect((await p.engine.getPosition(account, ETH_ID)).size).to.equal(wad(11));
      const { approvalHash } = await client.deposit({ amount: usd(1) });
      expect(approvalHash).to.equal(undefined);
    });

    it("types every action on the decorated client, keeping the parameter unions", function () {
      // Compile-time checks (the file is type-checked by `tsc --noEmit`); the runtime assertion guards the same list.
      type Missing = Exclude<keyof typeof sdkActions, keyof TidemarkActions>;
      const nothingMissing: [Missing] extends [never] ? true : false = true;
      expect(nothingMissing).to.equal(true);
      const client = createWalletClient({ chain: hardhat, transport: custom(conn.provider) }).extend(
        tidemarkActions({
          addresses: { engine: addr(`0x${"11".repeat(20)}`), lens: addr(`0x${"22".repeat(20)}`), pool: addr(`0x${"33".repeat(20)}`) },
        })
      );
      const bound = (Object.keys(sdkActions) as (keyof typeof sdkActions)[]).filter((k) => typeof sdkActions[k] === "function");
      expect(bound.length).to.be.greaterThan(20);
      for (const name of bound) expect((client as unknown as Record<string, unknown>)[name], name).to.be.a("function");
      const typed = (_: () => unknown) => undefined;
      typed(() => client.claimRedeem({ shares: 1n }));
      typed(() => client.claimRedeem({ assets: 1n, receiver: addr(`0x${"44".repeat(20)}`) }));
      typed(() => client.claimDeposit({})); // everything claimable
      typed(() => client.requestDeposit({ assets: 1n, approval: "max" }));
      typed(() => client.requestRedeem({ shares: 1n, owner: addr(`0x${"44".repeat(20)}`) }));
      typed(() => client.cancelLpRequest({ kind: "redeem" }));
      typed(() => client.fulfillLpRequests({ requests: [{ controller: addr(`0x${"44".repeat(20)}`), kind: "deposit", priceUpdate: [] }] }));
      typed(() => client.getLpRequests({ account: addr(`0x${"44".repeat(20)}`) }));
      // @ts-expect-error assets and shares are exclusive
      typed(() => client.claimRedeem({ assets: 1n, shares: 1n }));
      // @ts-expect-error assets and shares are exclusive
      typed(() => client.claimDeposit({ assets: 1n, shares: 1n }));
      // @ts-expect-error the kind is required
      typed(() => client.cancelLpRequest({}));
      // @ts-expect-error slippageBps and acceptablePrice are exclusive
      typed(() => client.closePosition({ market: ETH_ID, slippageBps: 1n, acceptablePrice: 1n }));
      // @ts-expect-error the market is required
      typed(() => client.getPosition({ account: addr(`0x${"44".repeat(20)}`) }));
    });

    it("an explicit addresses parameter overrides the bound one", async function () {
      const { p, addresses } = await setup(protocolFixture);
      // Bound to a deployment where the "engine" is the lens: every engine read fails there.
      const wrong = { ...addresses, engine: addresses.lens };
      const client = createWalletClient({
        chain: hardhat,
        transport: custom(conn.provider),
        account: addr(p.bob.address),
        pollingInterval: 20,
        cacheTime: 0,
      })
        .extend(publicActions)
        .extend(tidemarkActions({ addresses: wrong }));
      let caught: unknown;
      try {
        await client.getFreeBalance({ account: addr(p.bob.address) });
      } catch (err) {
        caught = err;
      }
      expect(caught).to.be.instanceOf(UnknownRevertError); // the lens has no freeBalance and no fallback
      expect(await client.getFreeBalance({ account: addr(p.bob.address), addresses })).to.equal(usd(100_000));
      await client.withdraw({ amount: usd(5), addresses });
      expect(await p.engine.freeBalance(p.bob.address)).to.equal(usd(99_995));
    });
  });
});
