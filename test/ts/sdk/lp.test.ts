/**
 * The SDK's LP actions against the pool's asynchronous (ERC-7540) flow on the in-process Hardhat network: request,
 * wait out the minimum delay, fulfil at the NAV of Pyth prices published after it (the SDK's local MockPyth publisher),
 * claim; cancellation after expiry; every refusal typed, in USDC or pool shares, with nothing sent. Figures are exact:
 * the fixture's pool holds 5,000,000 USDC for 5,000,000 pool shares (12 decimals), the execution fee is 0.50 USDC.
 */
import { expect } from "chai";
import { network } from "hardhat";
import { type Address, type Hex, createWalletClient, custom, parseEventLogs, publicActions } from "viem";
import { hardhat } from "viem/chains";

import {
  InvalidParameterError,
  LpRequestStateError,
  TidemarkContractError,
  TidemarkError,
  type TidemarkErrorName,
  buildCancelLpRequest,
  buildClaimDeposit,
  buildClaimRedeem,
  buildFulfillLpRequests,
  buildLocalPriceUpdates,
  buildRequestDeposit,
  buildRequestRedeem,
  cancelLpRequest,
  claimDeposit,
  claimRedeem,
  encodeMockPythUpdate,
  fulfillLpRequests,
  getLpRequests,
  getPool,
  liquidityPoolAbi,
  marketId,
  requestDeposit,
  requestRedeem,
  tidemarkActions,
  wadToPythPrice,
} from "../../../sdk/src/index.js";
import { ETH_PYTH_ID, deployProtocol, usd, wad } from "../helpers/fixture.js";
import { poolPriceUpdates } from "../helpers/flows.js";
import { encodeUpdate } from "../helpers/pyth.js";
import { type Protocol, addr, sdkClients } from "./helpers.js";

const conn = await network.create();
const { ethers, networkHelpers } = conn;

const ETH_ID = marketId("ETH-USD");
const BTC_ID = marketId("BTC-USD");
/** One pool share: the token's 6 decimals and the pool's offset of 6. */
const SHARE = 10n ** 12n;
const FEE = usd("0.5");
const MIN_DELAY = 60n;
const MAX_DELAY = 600n;
const iso = (t: bigint) => new Date(Number(t) * 1000).toISOString();

/**
 * The fixture's protocol with a 60 s minimum delay and a 600 s expiry (the defaults are 2 s and 300 s: 60 s keeps a
 * "not ready yet" deterministic whatever the wall clock does). Signer 8 ("fresh") holds 1,000,000 USDC and has
 * approved nothing.
 */
async function lpFixture() {
  const p = await deployProtocol(ethers);
  await p.engine.setOrderParams({ minDelay: MIN_DELAY, maxDelay: MAX_DELAY, maxPriceAge: 60, maxDeviation: wad("0.02"), executionFee: wad("0.5") });
  const fresh = (await ethers.getSigners())[8];
  await p.token.mint(fresh.address, usd(1_000_000));
  return { ...p, fresh };
}

/** lpFixture with open interest in both markets: alice long 10 ETH, bob short 4 ETH (a skew of 6 ETH), carol long 0.5 BTC. */
async function openInterestFixture() {
  const p = await lpFixture();
  for (const s of [p.alice, p.bob, p.carol]) await p.engine.connect(s).deposit(usd(100_000));
  await p.engine.connect(p.alice).modifyPosition(ETH_ID, wad(10), usd(1_000), wad(3_100));
  await p.engine.connect(p.bob).modifyPosition(ETH_ID, -wad(4), usd(2_000), wad(2_900));
  await p.engine.connect(p.carol).modifyPosition(BTC_ID, wad("0.5"), usd(3_000), wad(61_000));
  return p;
}

type Fixture = Awaited<ReturnType<typeof lpFixture>>;

async function setup(fixture: () => Promise<Fixture>) {
  const p = await networkHelpers.loadFixture(fixture);
  const c = await sdkClients(conn, p as unknown as Protocol);
  const fresh = createWalletClient({ chain: hardhat, transport: custom(conn.provider, { retryCount: 0 }), account: addr(p.fresh.address), pollingInterval: 20, cacheTime: 0 }).extend(publicActions);
  return { p, ...c, fresh };
}

const latest = async () => BigInt((await ethers.provider.getBlock("latest"))!.timestamp);
const receiptOf = async (publicClient: Awaited<ReturnType<typeof setup>>["publicClient"], hash: Hex) => {
  const receipt = await publicClient.waitForTransactionReceipt({ hash });
  expect(receipt.status).to.equal("success");
  return receipt;
};

/** Runs `fn`, which must fail with an error of class `kind` (and, for contract errors, `name`) and send nothing from `account`. */
async function refused<E extends Error>(account: string, fn: () => Promise<unknown>, kind: abstract new (...args: never[]) => E, name?: TidemarkErrorName): Promise<E> {
  const nonce = await ethers.provider.getTransactionCount(account);
  let caught: unknown;
  try {
    await fn();
  } catch (err) {
    caught = err;
  }
  expect(caught, "expected a refusal").to.be.instanceOf(kind);
  if (name !== undefined) expect((caught as TidemarkContractError).errorName).to.equal(name);
  expect((caught as Error).message).to.not.match(/undefined|NaN|raw/);
  expect(await ethers.provider.getTransactionCount(account), "nothing sent").to.equal(nonce);
  return caught as E;
}

describe("SDK LP actions (ERC-7540 requests)", function () {
  describe("a deposit: request, fulfil, claim", function () {
    it("requestDeposit approves exactly and takes the assets; fulfillLpRequests mints 20,000 shares at the NAV and pays the fee; claimDeposit claims them all", async function () {
      const { p, publicClient, addresses, wallets, fresh } = await setup(lpFixture);
      const account = addr(p.fresh.address);
      const assets = usd("20000.5"); // 20,000 USDC into the pool and the 0.50 USDC fee to the fulfiller

      const r = await requestDeposit(fresh, { addresses, assets });
      expect(r.result).to.equal(0n); // ERC-7540's aggregated request id
      expect(r.fee).to.equal(FEE);
      expect(r.approvalHash).to.be.a("string");
      const requestedAt = BigInt((await publicClient.getBlock({ blockNumber: (await receiptOf(publicClient, r.hash)).blockNumber })).timestamp);
      expect(await p.token.balanceOf(account)).to.equal(usd("979999.5"));
      expect(await p.token.allowance(account, addresses.pool)).to.equal(0n);

      const pending = { kind: "deposit", amount: assets, fee: FEE, requestedAt, readyAt: requestedAt + MIN_DELAY, expiresAt: requestedAt + MAX_DELAY };
      const none = { assets: 0n, shares: 0n };
      const waiting = await getLpRequests(publicClient, { addresses, account });
      expect(waiting).to.deep.equal({
        account,
        pendingDeposit: { ...pending, status: "waiting" },
        pendingRedeem: null,
        claimableDeposit: none,
        claimableRedeem: none,
        timestamp: requestedAt,
        blockNumber: waiting.blockNumber,
      });
      // Held by the pool, not its own: neither NAV nor capacity counts it.
      const held = await getPool(publicClient, { addresses, account });
      expect([held.balance, held.liquidBalance, held.pendingDepositAssets, held.totalAssets, held.capacity]).to.deep.equal([
        usd("5020000.5"),
        usd(5_000_000),
        assets,
        usd(5_000_000),
        usd(5_000_000),
      ]);
      expect(held.account!.pendingDeposit).to.deep.equal({ ...pending, status: "waiting" });

      // Before the minimum delay: the simulation refuses with the time it becomes fulfillable.
      const early = await refused(
        p.keeper.address,
        () => fulfillLpRequests(wallets.keeper, { addresses, requests: [{ controller: account, kind: "deposit", priceUpdate: [] }] }),
        TidemarkContractError,
        "VaultRequestNotReady",
      );
      expect(early.args).to.deep.equal([account, requestedAt + MIN_DELAY]);
      expect(early.shortMessage).to.equal(
        `VaultRequestNotReady: The request of ${account} can be fulfilled from ${iso(requestedAt + MIN_DELAY)} (its minimum delay), not before.`,
      );

      await networkHelpers.time.increaseTo(requestedAt + MIN_DELAY);
      expect((await getLpRequests(publicClient, { addresses, account })).pendingDeposit!.status).to.equal("ready");
      // No market has open interest: the pool's value needs no price, and the publisher returns no update.
      const priceUpdate = await buildLocalPriceUpdates(publicClient, { addresses, publishTime: requestedAt + MIN_DELAY });
      expect(priceUpdate).to.deep.equal([]);
      const keeperTokens = await p.token.balanceOf(p.keeper.address);
      const f = await fulfillLpRequests(wallets.keeper, { addresses, requests: [{ controller: account, kind: "deposit", priceUpdate }] });
      expect([f.result, f.value]).to.deep.equal([1n, 0n]);
      const [event] = parseEventLogs({ abi: liquidityPoolAbi, logs: (await receiptOf(publicClient, f.hash)).logs, eventName: "DepositFulfilled" });
      // 20,000 USDC × (5,000,000 shares + 1e6 virtual) / (5,000,000 USDC + 1): exactly 20,000 shares.
      expect(event.args).to.deep.equal({ controller: account, fulfiller: addr(p.keeper.address), assets, shares: 20_000n * SHARE, fee: FEE, nav: usd(5_000_000) });
      expect(await p.token.balanceOf(p.keeper.address)).to.equal(keeperTokens + FEE);
      const claimable = await getLpRequests(publicClient, { addresses, account });
      expect([claimable.pendingDeposit, claimable.claimableDeposit]).to.deep.equal([null, { assets: usd(20_000), shares: 20_000n * SHARE }]);

      // More than is claimable: the pool's error, in USDC (a claim by assets).
      const tooMuch = await refused(account, () => claimDeposit(fresh, { addresses, assets: usd(20_001) }), TidemarkContractError, "VaultInsufficientClaimable");
      expect(tooMuch.shortMessage).to.equal(
        `VaultInsufficientClaimable: ${account} has 20,000.00 USDC of fulfilled deposits to claim; 20,001.00 USDC asked.`,
      );

      const c = await claimDeposit(fresh, { addresses });
      expect(c.result).to.deep.equal({ assets: usd(20_000), shares: 20_000n * SHARE });
      await receiptOf(publicClient, c.hash);
      const after = await getPool(publicClient, { addresses, account });
      expect(after.account).to.deep.equal({
        shares: 20_000n * SHARE,
        assets: usd(20_000),
        pendingDeposit: null,
        pendingRedeem: null,
        claimableDeposit: none,
        claimableRedeem: none,
      });
      expect([after.totalAssets, after.totalSupply, after.sharePrice]).to.deep.equal([usd(5_020_000), 5_020_000n * SHARE, usd(1)]);

      const again = await refused(account, () => claimDeposit(fresh, { addresses }), LpRequestStateError);
      expect([again.reason, again.kind, again.controller]).to.deep.equal(["nothingClaimable", "deposit", account]);
      expect(again.shortMessage).to.equal(`${account} has nothing to claim from deposits and no deposit request pending`);
    });

    it("claimDeposit by shares claims part at the fulfilment's rate, the rest by default; to another receiver", async function () {
      const { p, publicClient, addresses, wallets, fresh } = await setup(lpFixture);
      const account = addr(p.fresh.address);
      await receiptOf(publicClient, (await requestDeposit(fresh, { addresses, assets: usd("1000.5"), approval: "max" })).hash);
      expect(await p.token.allowance(account, addresses.pool)).to.equal(2n ** 256n - 1n); // unlimited: never spent down
      await networkHelpers.time.increase(MIN_DELAY);
      await fulfillLpRequests(wallets.keeper, { addresses, requests: [{ controller: account, kind: "deposit", priceUpdate: [] }] });
      // 1,000 USDC bought 1,000 shares; a third of them uses a third of the assets, rounded up.
      const part = await claimDeposit(fresh, { addresses, shares: 333n * SHARE, receiver: addr(p.carol.address) });
      expect(part.result).to.deep.equal({ assets: usd(333), shares: 333n * SHARE });
      const rest = await claimDeposit(fresh, { addresses });
      expect(rest.result).to.deep.equal({ assets: usd(667), shares: 667n * SHARE });
      expect([await p.pool.balanceOf(p.carol.address), await p.pool.balanceOf(account)]).to.deep.equal([333n * SHARE, 667n * SHARE]);
    });
  });

  describe("a redemption with open interest: Pyth prices from the local publisher", function () {
    it("requestRedeem moves the shares; fulfilment at the Pyth NAV pays 2 wei to Pyth and the fee to the keeper; claimRedeem by assets, then the rest", async function () {
      const { p, publicClient, addresses, wallets } = await setup(openInterestFixture);
      const lp = addr(p.lp.address);
      const shares = 1_000_000n * SHARE;
      const r = await requestRedeem(wallets.lp, { addresses, shares });
      const requestedAt = BigInt((await publicClient.getBlock({ blockNumber: (await receiptOf(publicClient, r.hash)).blockNumber })).timestamp);
      expect(await p.pool.balanceOf(lp)).to.equal(4_000_000n * SHARE);
      const pool = await getPool(publicClient, { addresses, account: lp });
      expect(pool.pendingRedeemShares).to.equal(shares);
      expect(pool.capacity).to.equal((pool.liquidBalance * 4n) / 5n); // a fifth of the supply is on its way out
      expect(pool.account!.pendingRedeem).to.deep.equal({
        kind: "redeem",
        amount: shares,
        fee: FEE,
        requestedAt,
        readyAt: requestedAt + MIN_DELAY,
        expiresAt: requestedAt + MAX_DELAY,
        status: "waiting",
      });

      await networkHelpers.time.increaseTo(requestedAt + MIN_DELAY);
      const readyAt = requestedAt + MIN_DELAY;
      // Both markets have open interest: one update each, at their Chainlink prices, the first at or after readyAt.
      const priceUpdate = await buildLocalPriceUpdates(publicClient, { addresses, publishTime: readyAt });
      expect(priceUpdate).to.have.length(2);
      expect(priceUpdate).to.deep.equal(await poolPriceUpdates(p.engine, readyAt)); // the tests' ethers publisher

      // Without the updates, or with one that is not the first after readyAt, the simulation refuses.
      const missing = await refused(
        p.keeper.address,
        () => fulfillLpRequests(wallets.keeper, { addresses, requests: [{ controller: lp, kind: "redeem", priceUpdate: [] }] }),
        TidemarkContractError,
        "OrderPriceUpdateInvalid",
      );
      expect(missing.shortMessage).to.match(/^OrderPriceUpdateInvalid: Pyth rejected the price update for feed 0x[0-9a-f]{64} \(malformed, unsigned or without that feed\)\.$/);
      const late = await buildLocalPriceUpdates(publicClient, { addresses, publishTime: readyAt, prevPublishTime: readyAt });
      const notFirst = await refused(
        p.keeper.address,
        () => fulfillLpRequests(wallets.keeper, { addresses, requests: [{ controller: lp, kind: "redeem", priceUpdate: late }] }),
        TidemarkContractError,
        "OrderPriceNotFirst",
      );
      expect(notFirst.shortMessage).to.equal(
        `OrderPriceNotFirst: The price update from ${iso(readyAt)} is not the first one published at or after ${iso(readyAt)}; use that one.`,
      );

      const supply = await p.pool.totalSupply();
      const keeperTokens = await p.token.balanceOf(p.keeper.address);
      const f = await fulfillLpRequests(wallets.keeper, { addresses, requests: [{ controller: lp, kind: "redeem", priceUpdate }] });
      expect([f.result, f.value]).to.deep.equal([1n, 2n]); // MockPyth: 1 wei per update
      const receipt = await receiptOf(publicClient, f.hash);
      expect((await publicClient.getTransaction({ hash: f.hash })).value).to.equal(2n);
      const [event] = parseEventLogs({ abi: liquidityPoolAbi, logs: receipt.logs, eventName: "RedeemFulfilled" });
      const { assets, nav } = event.args;
      expect(event.args.shares).to.equal(shares);
      expect(event.args.fee).to.equal(FEE);
      // The pool's formula at the NAV of the fulfilment, which is the NAV left plus what left (same prices, same block).
      expect(assets).to.equal((shares * (nav + 1n)) / (supply + 10n ** 6n));
      expect(nav).to.equal((await p.pool.totalAssets({ blockTag: Number(receipt.blockNumber) })) + assets);
      expect(assets).to.be.within(usd(999_990), usd(1_000_010)); // about 1 USDC a share: the traders are flat at 3,000
      expect(await p.token.balanceOf(p.keeper.address)).to.equal(keeperTokens + FEE);
      const claimable = { assets: assets - FEE, shares };
      expect((await getLpRequests(publicClient, { addresses, account: lp })).claimableRedeem).to.deep.equal(claimable);
      expect((await getPool(publicClient, { addresses })).claimableRedeemAssets).to.equal(assets - FEE);

      // More shares than claimable: the pool's error, in pool shares, distinct to the last unit.
      const tooMany = await refused(lp, () => claimRedeem(wallets.lp, { addresses, shares: shares + 1n }), TidemarkContractError, "VaultInsufficientClaimable");
      expect(tooMany.shortMessage).to.equal(
        `VaultInsufficientClaimable: ${lp} has 1,000,000.000000000000 pool shares of fulfilled redemptions to claim; 1,000,000.000000000001 pool shares asked.`,
      );

      const tokens = await p.token.balanceOf(lp);
      const part = await claimRedeem(wallets.lp, { addresses, assets: usd(1_000) });
      const used = (usd(1_000) * shares + claimable.assets - 1n) / claimable.assets; // shares used round up
      expect(part.result).to.deep.equal({ assets: usd(1_000), shares: used });
      const rest = await claimRedeem(wallets.lp, { addresses });
      expect(rest.result).to.deep.equal({ assets: claimable.assets - usd(1_000), shares: shares - used });
      await receiptOf(publicClient, rest.hash);
      expect(await p.token.balanceOf(lp)).to.equal(tokens + claimable.assets);
      expect((await getLpRequests(publicClient, { addresses, account: lp })).claimableRedeem).to.deep.equal({ assets: 0n, shares: 0n });
    });

    it("the request is priced at the Pyth prices published, not Chainlink's, within the allowed deviation", async function () {
      const { p, publicClient, addresses, wallets } = await setup(openInterestFixture);
      const lp = addr(p.lp.address);
      const shares = 1_000_000n * SHARE;
      await receiptOf(publicClient, (await requestRedeem(wallets.lp, { addresses, shares })).hash);
      const { readyAt } = (await getLpRequests(publicClient, { addresses, account: lp })).pendingRedeem!;
      await networkHelpers.time.increaseTo(readyAt);

      // ETH 3.33% above Chainlink's 3,000: refused (the deviation limit is 2%), in USD.
      const far = await buildLocalPriceUpdates(publicClient, { addresses, publishTime: readyAt, prices: [{ market: ETH_ID, price: wad(3_100) }, { market: BTC_ID, price: wad(60_000) }] });
      const deviation = await refused(
        p.keeper.address,
        () => fulfillLpRequests(wallets.keeper, { addresses, requests: [{ controller: lp, kind: "redeem", priceUpdate: far }] }),
        TidemarkContractError,
        "OrderPriceDeviation",
      );
      expect(deviation.shortMessage).to.equal(
        "OrderPriceDeviation: Market ETH-USD: the Pyth price 3,100.00 USD is more than 2% from the Chainlink price 3,000.00 USD.",
      );

      // ETH at 3,030 (1% up): the 6 ETH of net long skew owes the pool 180 USD less than at Chainlink's price.
      const up = await buildLocalPriceUpdates(publicClient, { addresses, publishTime: readyAt, prices: [{ market: ETH_ID, price: wad(3_030) }, { market: BTC_ID, price: wad(60_000) }] });
      const f = await fulfillLpRequests(wallets.keeper, { addresses, requests: [{ controller: lp, kind: "redeem", priceUpdate: up }] });
      const receipt = await receiptOf(publicClient, f.hash);
      const [event] = parseEventLogs({ abi: liquidityPoolAbi, logs: receipt.logs, eventName: "RedeemFulfilled" });
      const atChainlink = (await p.pool.totalAssets({ blockTag: Number(receipt.blockNumber) })) + event.args.assets;
      const diff = atChainlink - usd(180) - event.args.nav;
      expect(diff >= 0n && diff <= 1n, `NAV ${event.args.nav} vs ${atChainlink} at Chainlink's prices`).to.equal(true); // one floor apart at most
    });

    it("fulfils a deposit and a redemption in one batch, each at its own prices; a request no longer pending is skipped and its Pyth fee refunded", async function () {
      const { p, publicClient, addresses, wallets, fresh } = await setup(openInterestFixture);
      const [account, lp] = [addr(p.fresh.address), addr(p.lp.address)];
      await receiptOf(publicClient, (await requestDeposit(fresh, { addresses, assets: usd("10000.5") })).hash);
      await networkHelpers.time.increase(7);
      await receiptOf(publicClient, (await requestRedeem(wallets.lp, { addresses, shares: 10_000n * SHARE })).hash);
      const deposit = (await getLpRequests(publicClient, { addresses, account })).pendingDeposit!;
      const redeem = (await getLpRequests(publicClient, { addresses, account: lp })).pendingRedeem!;
      expect(redeem.readyAt - deposit.readyAt).to.be.at.least(7n);
      await networkHelpers.time.increaseTo(redeem.readyAt);
      const requests = [
        { controller: account, kind: "deposit" as const, priceUpdate: await buildLocalPriceUpdates(publicClient, { addresses, publishTime: deposit.readyAt }) },
        { controller: lp, kind: "redeem" as const, priceUpdate: await buildLocalPriceUpdates(publicClient, { addresses, publishTime: redeem.readyAt }) },
      ];
      const keeperTokens = await p.token.balanceOf(p.keeper.address);
      const f = await fulfillLpRequests(wallets.keeper, { addresses, requests });
      expect([f.result, f.value]).to.deep.equal([2n, 4n]);
      const logs = (await receiptOf(publicClient, f.hash)).logs;
      expect(parseEventLogs({ abi: liquidityPoolAbi, logs, eventName: ["DepositFulfilled", "RedeemFulfilled"] }).map((e) => e.eventName)).to.deep.equal([
        "DepositFulfilled",
        "RedeemFulfilled",
      ]);
      expect(await p.token.balanceOf(p.keeper.address)).to.equal(keeperTokens + 2n * FEE);

      // Fulfilled already: skipped, nothing fulfilled, the 2 wei of its updates returned; the pool keeps no ETH.
      const again = await fulfillLpRequests(wallets.keeper, { addresses, requests: [requests[0]] });
      expect([again.result, again.value]).to.deep.equal([0n, 2n]);
      await receiptOf(publicClient, again.hash);
      expect(await ethers.provider.getBalance(addresses.pool)).to.equal(0n);
    });
  });

  describe("refusals and cancellation", function () {
    it("requestDeposit refuses an amount at or below the execution fee before approving, in USDC", async function () {
      const { p, addresses, fresh } = await setup(lpFixture);
      const account = addr(p.fresh.address);
      for (const [assets, text] of [
        [usd("0.5"), "0.50 USDC"],
        [usd("0.499999"), "0.49 USDC"], // truncated, and already distinct from the fee at 2 digits
        [1n, "0.000001 USDC"],
      ] as const) {
        const err = await refused(account, () => requestDeposit(fresh, { addresses, assets }), InvalidParameterError);
        expect(err.parameter).to.equal("assets");
        expect(err.shortMessage).to.equal(`Invalid assets: a deposit request must exceed the execution fee of 0.50 USDC it pays its fulfiller; ${text} requested`);
      }
      expect(await p.token.allowance(account, addresses.pool)).to.equal(0n);
      // Above it by one unit is a request.
      await requestDeposit(fresh, { addresses, assets: FEE + 1n });
      expect((await p.pool.depositRequest(account)).amount).to.equal(FEE + 1n);
    });

    it("a second request while one is pending is refused with the pending one in USDC or pool shares", async function () {
      const { p, publicClient, addresses, wallets, fresh } = await setup(lpFixture);
      const [account, lp] = [addr(p.fresh.address), addr(p.lp.address)];
      await receiptOf(publicClient, (await requestDeposit(fresh, { addresses, assets: usd(100) })).hash);
      const d = (await getLpRequests(publicClient, { addresses, account })).pendingDeposit!;
      const dup = await refused(account, () => requestDeposit(fresh, { addresses, assets: usd(50) }), LpRequestStateError);
      expect([dup.reason, dup.kind, dup.controller]).to.deep.equal(["pending", "deposit", account]);
      expect(dup.shortMessage).to.equal(
        `${account} already has a deposit request of 100.00 USDC made at ${iso(d.requestedAt)} (fulfillable from ${iso(d.readyAt)} to ${iso(d.expiresAt)}); ` +
          "one deposit request at a time: wait until it is fulfilled and claim it, or cancel it once expired",
      );
      // For another controller the same signer may request.
      await requestDeposit(fresh, { addresses, assets: usd(50), controller: addr(p.carol.address) });
      expect((await p.pool.depositRequest(p.carol.address)).amount).to.equal(usd(50));

      await receiptOf(publicClient, (await requestRedeem(wallets.lp, { addresses, shares: SHARE })).hash);
      const dupRedeem = await refused(lp, () => requestRedeem(wallets.lp, { addresses, shares: SHARE }), LpRequestStateError);
      expect(dupRedeem.shortMessage).to.match(new RegExp(`^${lp} already has a redemption request of 1\\.00 pool shares made at `));

      // Nothing to claim yet: the pending request says so.
      const early = await refused(account, () => claimDeposit(fresh, { addresses }), LpRequestStateError);
      expect(early.reason).to.equal("nothingClaimable");
      expect(early.shortMessage).to.equal(
        `${account} has nothing to claim from deposits yet: a deposit request of 100.00 USDC made at ${iso(d.requestedAt)} (fulfillable from ${iso(d.readyAt)} to ${iso(d.expiresAt)}) is still pending`,
      );
      const noRedeem = await refused(account, () => claimRedeem(fresh, { addresses }), LpRequestStateError);
      expect(noRedeem.shortMessage).to.equal(`${account} has nothing to claim from redemptions and no redemption request pending`);
    });

    it("requestRedeem of more shares than held: the pool share token's error in pool shares", async function () {
      const { p, addresses, fresh } = await setup(lpFixture);
      const account = addr(p.fresh.address);
      const err = await refused(account, () => requestRedeem(fresh, { addresses, shares: SHARE }), TidemarkContractError, "ERC20InsufficientBalance");
      expect(err.shortMessage).to.equal(`ERC20InsufficientBalance: The balance of ${account} is 0.00 pool shares; 1.00 pool shares needed.`);
      // Someone else's shares need their allowance: in pool shares too.
      const other = await refused(account, () => requestRedeem(fresh, { addresses, shares: SHARE, owner: addr(p.lp.address) }), TidemarkContractError, "ERC20InsufficientAllowance");
      expect(other.shortMessage).to.equal(`ERC20InsufficientAllowance: The allowance of spender ${account} is 0.00 pool shares; 1.00 pool shares needed (approve it first).`);
    });

    it("cancelLpRequest refuses before expiry with the time, then anyone cancels and the assets return; fulfilling is refused once expired", async function () {
      const { p, publicClient, addresses, wallets, fresh } = await setup(lpFixture);
      const account = addr(p.fresh.address);
      await receiptOf(publicClient, (await requestDeposit(fresh, { addresses, assets: usd(100) })).hash);
      const d = (await getLpRequests(publicClient, { addresses, account })).pendingDeposit!;
      const now = await latest();
      const notYet = await refused(account, () => cancelLpRequest(fresh, { addresses, kind: "deposit" }), LpRequestStateError);
      expect([notYet.reason, notYet.kind]).to.deep.equal(["notExpired", "deposit"]);
      expect(notYet.shortMessage).to.equal(
        `The deposit request of 100.00 USDC made at ${iso(d.requestedAt)} (fulfillable from ${iso(d.readyAt)} to ${iso(d.expiresAt)}) can be cancelled only after it expires at ${iso(d.expiresAt)} ` +
          `(in 601 seconds (10 min 1 s); the latest block is at ${iso(now)}); until then anyone may fulfil it`,
      );
      const nothing = await refused(account, () => cancelLpRequest(fresh, { addresses, kind: "redeem" }), LpRequestStateError);
      expect([nothing.reason, nothing.shortMessage]).to.deep.equal(["noRequest", `${account} has no pending redemption request to cancel (never made, or already fulfilled or cancelled)`]);

      // At the expiry it may still be fulfilled (and not cancelled); a second later only cancelled.
      await networkHelpers.time.increaseTo(d.expiresAt);
      expect((await getLpRequests(publicClient, { addresses, account })).pendingDeposit!.status).to.equal("ready");
      await refused(account, () => cancelLpRequest(fresh, { addresses, kind: "deposit" }), LpRequestStateError);
      await networkHelpers.time.increaseTo(d.expiresAt + 1n);
      expect((await getLpRequests(publicClient, { addresses, account })).pendingDeposit!.status).to.equal("expired");
      const expired = await refused(
        p.keeper.address,
        () => fulfillLpRequests(wallets.keeper, { addresses, requests: [{ controller: account, kind: "deposit", priceUpdate: [] }] }),
        TidemarkContractError,
        "VaultRequestExpired",
      );
      expect(expired.shortMessage).to.equal(`VaultRequestExpired: The request of ${account} expired at ${iso(d.expiresAt)}; it can only be cancelled.`);

      const tokens = await p.token.balanceOf(account);
      const c = await cancelLpRequest(wallets.keeper, { addresses, kind: "deposit", controller: account }); // anyone
      expect(c.amount).to.equal(usd(100));
      await receiptOf(publicClient, c.hash);
      expect(await p.token.balanceOf(account)).to.equal(tokens + usd(100));
      expect((await getLpRequests(publicClient, { addresses, account })).pendingDeposit).to.equal(null);
      expect((await getPool(publicClient, { addresses })).pendingDepositAssets).to.equal(0n);
    });

    it("a cancelled redemption returns the shares", async function () {
      const { p, publicClient, addresses, wallets } = await setup(lpFixture);
      const lp = addr(p.lp.address);
      await receiptOf(publicClient, (await requestRedeem(wallets.lp, { addresses, shares: 5n * SHARE })).hash);
      const r = (await getLpRequests(publicClient, { addresses, account: lp })).pendingRedeem!;
      await networkHelpers.time.increaseTo(r.expiresAt + 1n);
      const c = await cancelLpRequest(wallets.lp, { addresses, kind: "redeem" });
      expect(c.amount).to.equal(5n * SHARE);
      await receiptOf(publicClient, c.hash);
      expect(await p.pool.balanceOf(lp)).to.equal(5_000_000n * SHARE);
    });
  });

  describe("calldata builders and the decorator", function () {
    it("the LP write actions send exactly the builders' calldata, the fulfilment with its Pyth fee as value", async function () {
      const { p, publicClient, addresses, wallets, fresh } = await setup(openInterestFixture);
      const [account, lp] = [addr(p.fresh.address), addr(p.lp.address)];
      const same = async (hash: Hex, built: { to: Address; data: Hex; value: bigint }) => {
        const tx = await publicClient.getTransaction({ hash });
        expect({ to: tx.to!.toLowerCase(), data: tx.input, value: tx.value }).to.deep.equal({ ...built, to: built.to.toLowerCase() });
      };
      await same((await requestDeposit(fresh, { addresses, assets: usd(300) })).hash, buildRequestDeposit({ addresses, assets: usd(300), controller: account, owner: account }));
      await same((await requestRedeem(wallets.lp, { addresses, shares: 200n * SHARE })).hash, buildRequestRedeem({ addresses, shares: 200n * SHARE, controller: lp, owner: lp }));
      const { readyAt } = (await getLpRequests(publicClient, { addresses, account: lp })).pendingRedeem!;
      await networkHelpers.time.increaseTo(readyAt);
      const { readyAt: depositReady } = (await getLpRequests(publicClient, { addresses, account })).pendingDeposit!;
      const requests = [
        { controller: account, kind: "deposit" as const, priceUpdate: await buildLocalPriceUpdates(publicClient, { addresses, publishTime: depositReady }) },
        { controller: lp, kind: "redeem" as const, priceUpdate: await buildLocalPriceUpdates(publicClient, { addresses, publishTime: readyAt }) },
      ];
      const f = await fulfillLpRequests(wallets.keeper, { addresses, requests });
      await same(f.hash, buildFulfillLpRequests({ addresses, requests, value: 4n }));
      const claimable = (await getLpRequests(publicClient, { addresses, account })).claimableDeposit;
      await same((await claimDeposit(fresh, { addresses })).hash, buildClaimDeposit({ addresses, shares: claimable.shares, receiver: account, controller: account }));
      await same(
        (await claimRedeem(wallets.lp, { addresses, assets: usd(10), receiver: account })).hash,
        buildClaimRedeem({ addresses, assets: usd(10), receiver: account, controller: lp }),
      );
      await receiptOf(publicClient, (await requestDeposit(fresh, { addresses, assets: usd(5) })).hash);
      await networkHelpers.time.increase(MAX_DELAY + 1n);
      await same((await cancelLpRequest(fresh, { addresses, kind: "deposit" })).hash, buildCancelLpRequest({ addresses, kind: "deposit", controller: account }));
      // The builders refuse what the pool would: a zero, both amounts, an unknown kind.
      expect(() => buildRequestDeposit({ addresses, assets: 0n, controller: account, owner: account })).to.throw(InvalidParameterError);
      expect(() => buildClaimDeposit({ addresses, assets: 1n, shares: 1n, receiver: account, controller: account } as never)).to.throw(InvalidParameterError);
      expect(() => buildCancelLpRequest({ addresses, kind: "mint" as never, controller: account })).to.throw(InvalidParameterError);
      expect(() => buildFulfillLpRequests({ addresses, requests, value: -1n })).to.throw(InvalidParameterError);
    });

    it("the decorated client runs the whole flow with its bound addresses", async function () {
      const { p, publicClient, addresses } = await setup(lpFixture);
      const account = addr(p.fresh.address);
      const client = createWalletClient({ chain: hardhat, transport: custom(conn.provider), account, pollingInterval: 20, cacheTime: 0 })
        .extend(publicActions)
        .extend(tidemarkActions({ addresses }));
      await receiptOf(publicClient, (await client.requestDeposit({ assets: usd("2000.5") })).hash);
      const { pendingDeposit } = await client.getLpRequests({ account });
      await networkHelpers.time.increaseTo(pendingDeposit!.readyAt);
      await client.fulfillLpRequests({ requests: [{ controller: account, kind: "deposit", priceUpdate: await buildLocalPriceUpdates(client, { addresses, publishTime: pendingDeposit!.readyAt }) }] });
      expect((await client.claimDeposit({})).result).to.deep.equal({ assets: usd(2_000), shares: 2_000n * SHARE });
      expect((await client.getPool({ account })).account!.shares).to.equal(2_000n * SHARE);
    });
  });

  describe("the local price publisher (MockPyth updates)", function () {
    it("encodes the bytes MockPyth verifies, the same as the tests' ethers encoder, prevPublishTime one second earlier by default", function () {
      const cases = [
        { id: ETH_PYTH_ID as Hex, price: 300_000_000_000n, publishTime: 1_700_000_060n },
        { id: `0x${"ab".repeat(32)}` as Hex, price: 1n, publishTime: 1n, prevPublishTime: 0n, expo: -18, conf: 7n },
        { id: `0x${"01".repeat(32)}` as Hex, price: 2n ** 63n - 1n, publishTime: 2n ** 64n - 1n, prevPublishTime: 5n, expo: 0 },
      ];
      for (const c of cases) {
        const prev = c.prevPublishTime ?? c.publishTime - 1n;
        expect(encodeMockPythUpdate(c)).to.equal(encodeUpdate(c.id, c.price, c.publishTime, prev, c.expo ?? -8, c.conf ?? 0n));
      }
      expect(wadToPythPrice(wad("3000.12345678"))).to.equal(300_012_345_678n);
      expect(wadToPythPrice(wad("3000.123456789"))).to.equal(300_012_345_678n); // truncated at 8 decimals
      expect(wadToPythPrice(wad(3), -18)).to.equal(wad(3));
      expect(wadToPythPrice(wad(3), 0)).to.equal(3n);
      expect(wadToPythPrice(7n, -20)).to.equal(700n);
    });

    it("refuses what the encoding cannot hold, before any RPC", async function () {
      const id = ETH_PYTH_ID as Hex;
      const invalid = (fn: () => unknown, parameter: string) => {
        expect(fn).to.throw(InvalidParameterError);
        try {
          fn();
        } catch (err) {
          expect((err as InvalidParameterError).parameter).to.equal(parameter);
        }
      };
      invalid(() => encodeMockPythUpdate({ id: "0x1234", price: 1n, publishTime: 1n }), "id");
      invalid(() => encodeMockPythUpdate({ id, price: 2n ** 63n, publishTime: 1n }), "price");
      invalid(() => encodeMockPythUpdate({ id, price: 1n, emaPrice: -(2n ** 63n) - 1n, publishTime: 1n }), "emaPrice");
      invalid(() => encodeMockPythUpdate({ id, price: 1n, expo: 1.5, publishTime: 1n }), "expo");
      invalid(() => encodeMockPythUpdate({ id, price: 1n, conf: -1n, publishTime: 1n }), "conf");
      invalid(() => encodeMockPythUpdate({ id, price: 1n, publishTime: -1n }), "publishTime");
      invalid(() => encodeMockPythUpdate({ id, price: 1n, publishTime: 5n, prevPublishTime: 2n ** 64n }), "prevPublishTime");
      invalid(() => wadToPythPrice(1n, 1), "expo");
      const offline = createWalletClient({
        chain: hardhat,
        transport: custom({
          request: async ({ method }) => {
            throw new Error(`no RPC expected, got ${method}`);
          },
        }),
      });
      const addresses = { engine: addr(`0x${"11".repeat(20)}`), lens: addr(`0x${"22".repeat(20)}`), pool: addr(`0x${"33".repeat(20)}`) };
      let caught: unknown;
      await buildLocalPriceUpdates(offline, { addresses, publishTime: -1n }).catch((err: unknown) => (caught = err));
      expect(caught).to.be.instanceOf(InvalidParameterError);
    });

    it("builds one update per market with open interest at its Chainlink price, or for the markets and prices given", async function () {
      const { p, publicClient, addresses } = await setup(openInterestFixture);
      const t = (await latest()) - 5n;
      const updates = await buildLocalPriceUpdates(publicClient, { addresses, publishTime: t });
      const btcId = (await p.engine.pythPriceId(BTC_ID)) as Hex;
      expect(updates).to.deep.equal([
        encodeMockPythUpdate({ id: ETH_PYTH_ID as Hex, price: 3_000n * 10n ** 8n, publishTime: t }),
        encodeMockPythUpdate({ id: btcId, price: 60_000n * 10n ** 8n, publishTime: t }),
      ]);
      expect(await buildLocalPriceUpdates(publicClient, { addresses, publishTime: t, prices: [{ market: BTC_ID, price: wad("61000.5") }], expo: -2 })).to.deep.equal([
        encodeMockPythUpdate({ id: btcId, price: 6_100_050n, expo: -2, publishTime: t }),
      ]);
      // MockPyth stores what it verifies: the ETH update read back.
      const pyth = await ethers.getContractAt("MockPyth", await p.engine.pyth());
      await pyth.updatePriceFeeds([updates[0]], { value: 1n });
      const stored = await pyth.getPriceUnsafe(ETH_PYTH_ID);
      expect([stored.price, stored.expo, stored.publishTime]).to.deep.equal([3_000n * 10n ** 8n, -8n, t]);
      // A market the engine has no Pyth feed for: said so.
      let caught: unknown;
      await buildLocalPriceUpdates(publicClient, { addresses, publishTime: t, prices: [{ market: marketId("SOL-USD"), price: wad(150) }] }).catch(
        (err: unknown) => (caught = err),
      );
      expect(caught).to.be.instanceOf(TidemarkError);
      expect((caught as TidemarkError).shortMessage).to.equal("Market SOL-USD has no Pyth price feed id set in the engine; nothing to publish for it");
    });
  });
});
