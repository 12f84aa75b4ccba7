/**
 * A market scenario on a local deployment of the TidemarkLocal Ignition module, driven through the SDK: fund the pool
 * (an ERC-7540 deposit request the LP fulfils itself at local Pyth prices once the minimum delay has passed, then
 * claims), give traders collateral, open a population of positions at various leverage, move the mock Chainlink feeds
 * along a price path. Shared by the one-command demo (in-process chain) and `npm run scenario:crash` (against `hardhat node`).
 */
import {
  type Account,
  type Address,
  type Chain,
  type Hex,
  type PublicClient,
  type Transport,
  type WalletClient,
  createPublicClient,
  createWalletClient,
  formatUnits,
  keccak256,
  parseAbi,
  publicActions,
  toHex,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";

import {
  type TidemarkAddresses,
  buildLocalPriceUpdates,
  claimDeposit,
  deposit,
  fulfillLpRequests,
  getLpRequests,
  getPool,
  getPositions,
  marketId,
  openPosition,
  requestDeposit,
} from "@tidemark/sdk";

import { rng } from "./rng.ts";

export const ETH = marketId("ETH-USD");
export const BTC = marketId("BTC-USD");
export const USDC = (x: number) => BigInt(Math.round(x * 1e6));
const WAD = 10n ** 18n;

const mockTokenAbi = parseAbi(["function mint(address to, uint256 amount)", "function balanceOf(address) view returns (uint256)"]);
const mockFeedAbi = parseAbi(["function updateAnswer(int256 answer)"]);

export type Local = {
  publicClient: PublicClient;
  addresses: TidemarkAddresses & { collateralToken: Address };
  feeds: { eth: Address; btc: Address };
  /** Index 0: deployer and LP (index 1 the same, unused); from index 2 on, the traders. */
  wallets: WalletClient<Transport, Chain | undefined, Account>[];
};

/**
 * Clients over `transport`: account 0 of the node (deployer, LP, feed updates) and `traders` local accounts derived
 * from a fixed seed, given gas with `hardhat_setBalance` (a local chain only).
 */
export async function connect(transport: Transport, deployed: Record<string, string>, addresses: TidemarkAddresses, traders: number): Promise<Local> {
  const publicClient = createPublicClient({ transport, pollingInterval: 50, cacheTime: 0 }) as PublicClient;
  const [deployer] = await publicClient.request({ method: "eth_accounts" as never }) as Address[];
  const accounts: (Address | ReturnType<typeof privateKeyToAccount>)[] = [deployer, deployer];
  for (let i = 0; i < traders; i++) {
    const account = privateKeyToAccount(keccak256(toHex(`tidemark demo trader ${i}`)));
    await publicClient.request({ method: "hardhat_setBalance" as never, params: [account.address, "0x56BC75E2D63100000"] as never }); // 100 ETH
    accounts.push(account);
  }
  const wallets = accounts.map((account) => createWalletClient({ account, transport, pollingInterval: 50, cacheTime: 0 }).extend(publicActions));
  const feed = (name: string) => {
    const hit = Object.entries(deployed).find(([k]) => k.endsWith(`#${name}`));
    if (!hit) throw new Error(`no ${name} in the deployment`);
    return hit[1] as Address;
  };
  return {
    publicClient,
    addresses: { ...addresses, collateralToken: addresses.collateralToken ?? feed("MockERC20") },
    feeds: { eth: feed("EthUsdFeed"), btc: feed("BtcUsdFeed") },
    wallets: wallets as Local["wallets"],
  };
}

async function mint(l: Local, to: Address, amount: bigint) {
  const hash = await l.wallets[0].writeContract({ address: l.addresses.collateralToken, abi: mockTokenAbi, functionName: "mint", args: [to, amount], chain: null });
  await l.publicClient.waitForTransactionReceipt({ hash });
}

/** Waits for a transaction and fails when it reverted. */
async function mined(l: Local, hash: Hex) {
  const receipt = await l.publicClient.waitForTransactionReceipt({ hash });
  if (receipt.status !== "success") throw new Error(`transaction ${hash} reverted`);
}

/**
 * `wallet` puts `assets` token units into the pool through the ERC-7540 flow, as one party on a local chain: requests
 * `assets` plus the execution fee, mines an empty block at the request's ready time when the chain is not there yet
 * (a local chain only: `evm_mine` with a timestamp), fulfils its own request at the local Pyth prices of the markets
 * with open interest (the SDK's MockPyth publisher, Chainlink's prices; the fee comes back to it), then claims every
 * share. Returns the shares.
 */
export async function lpDeposit(l: Local, wallet: Local["wallets"][number], assets: bigint): Promise<bigint> {
  const { addresses, publicClient } = l;
  const controller = wallet.account.address;
  const { executionFee } = await getPool(publicClient, { addresses });
  await mined(l, (await requestDeposit(wallet, { addresses, assets: assets + executionFee })).hash);
  const { pendingDeposit } = await getLpRequests(publicClient, { addresses, account: controller });
  const readyAt = pendingDeposit!.readyAt;
  if ((await publicClient.getBlock()).timestamp < readyAt) await publicClient.request({ method: "evm_mine" as never, params: [toHex(readyAt)] as never });
  const priceUpdate = await buildLocalPriceUpdates(publicClient, { addresses, publishTime: readyAt });
  await mined(l, (await fulfillLpRequests(wallet, { addresses, requests: [{ controller, kind: "deposit", priceUpdate }] })).hash);
  const claimed = await claimDeposit(wallet, { addresses });
  await mined(l, claimed.hash);
  return claimed.result.shares;
}

/**
 * The LP (account 0) puts `usd` into the pool (`lpDeposit`), the insurance fund receives `insurance`, and the traders
 * deposit `perTrader` each.
 */
export async function fund(l: Local, usd: number, insurance: number, traders: number, perTrader: number) {
  if (l.addresses.insuranceFund !== undefined && insurance > 0) await mint(l, l.addresses.insuranceFund, USDC(insurance));
  const lp = l.wallets[0];
  const { executionFee } = await getPool(l.publicClient, { addresses: l.addresses });
  await mint(l, lp.account.address, USDC(usd) + executionFee); // the fee pays the fulfiller, here the LP itself
  await lpDeposit(l, lp, USDC(usd));
  for (const w of l.wallets.slice(2, 2 + traders)) {
    await mint(l, w.account.address, USDC(perTrader));
    const d = await deposit(w, { addresses: l.addresses, amount: USDC(perTrader) });
    await l.publicClient.waitForTransactionReceipt({ hash: d.hash });
  }
}

export type Opened = { account: Address; market: Hex; symbol: string; side: "long" | "short"; leverage: number; notional: number };

export { rng };

/**
 * Opens `count` positions round-robin over the traders and both markets (an account holds one position per market),
 * 1,000 to 40,000 USD, mostly long, leverage 2x to 50x, through the SDK's `openPosition` with 1% slippage.
 */
export async function openPositions(l: Local, count: number, traders: number, seed = 42): Promise<Opened[]> {
  const random = rng(seed);
  const out: Opened[] = [];
  const prices = { [ETH]: 3000, [BTC]: 60_000 } as Record<Hex, number>;
  for (let i = 0; i < count; i++) {
    const w = l.wallets[2 + (Math.floor(i / 2) % traders)];
    const market = i % 2 === 0 ? ETH : BTC;
    if (out.some((o) => o.account === w.account.address && o.market === market)) continue; // one position per market
    const notional = 1_000 + Math.floor(random() * 39_000);
    const leverage = [2, 3, 5, 8, 10, 12, 15, 20, 25, 30, 40, 50][Math.floor(random() * 12)];
    const side = random() < 0.75 ? "long" : "short";
    const size = (BigInt(notional) * WAD * WAD) / (BigInt(prices[market]) * WAD);
    const r = await openPosition(w, {
      addresses: l.addresses,
      market,
      side,
      size,
      collateral: USDC(notional / leverage + notional * 0.002),
      slippageBps: 100n,
    });
    await l.publicClient.waitForTransactionReceipt({ hash: r.hash });
    out.push({ account: w.account.address, market, symbol: market === ETH ? "ETH-USD" : "BTC-USD", side, leverage, notional });
  }
  return out;
}

/** Sets both mock feeds (8 decimals) in one block each; returns the block of the last update. */
export async function setPrices(l: Local, eth: number, btc: number): Promise<bigint> {
  let block = 0n;
  for (const [address, price] of [
    [l.feeds.eth, eth],
    [l.feeds.btc, btc],
  ] as const) {
    const hash = await l.wallets[0].writeContract({
      address,
      abi: mockFeedAbi,
      functionName: "updateAnswer",
      args: [BigInt(Math.round(price * 1e8))],
      chain: null,
    });
    block = (await l.publicClient.waitForTransactionReceipt({ hash })).blockNumber;
  }
  return block;
}

/**
 * The crash path: each step's prices, from 3,000 / 60,000 down 25% in 1.5% to 3% steps, with one relief bounce. Steps
 * smaller than a position's margin buffer let the keeper catch some positions while they still have equity (partial
 * liquidations); the larger ones push highly leveraged positions straight into bad debt.
 */
export const CRASH_PATH: { eth: number; btc: number }[] = [
  [3000, 60_000], [2955, 59_200], [2910, 58_300], [2850, 57_300], [2790, 56_200], [2850, 57_100], [2760, 55_500],
  [2700, 54_300], [2625, 52_900], [2550, 51_500], [2490, 50_100], [2400, 48_600], [2325, 47_100], [2250, 45_000],
].map(([eth, btc]) => ({ eth, btc }));

/** Health of the positions through the lens: one call. */
export async function healthOf(l: Local, positions: readonly { account: Address; market: Hex }[]) {
  return getPositions(l.publicClient, { addresses: l.addresses, positions: positions.map(({ account, market }) => ({ account, market })) });
}

export const usd = (x: bigint, decimals = 6) =>
  Number(formatUnits(x, decimals)).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
export const price = (x: bigint) => Number(formatUnits(x, 18)).toLocaleString("en-US", { maximumFractionDigits: 2 });
export const hf = (x: bigint) => (x >= 10n ** 30n ? "∞" : Number(formatUnits(x, 18)).toFixed(3));
