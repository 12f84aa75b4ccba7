import type { HardhatEthers } from "@nomicfoundation/hardhat-ethers/types";
import { type BaseContract, encodeBytes32String, keccak256, parseUnits, toUtf8Bytes } from "ethers";

import { lpDeposit } from "./flows.js";

/** Market id of the ETH-USD market listed by the fixture. */
export const ETH = encodeBytes32String("ETH-USD");
/** Market id of the BTC-USD market listed by the fixture. */
export const BTC = encodeBytes32String("BTC-USD");

export const WAD = 10n ** 18n;
/** Collateral token decimals in the fixture (USDC-like). */
export const TOKEN_DECIMALS = 6;
/** WAD per collateral token unit. */
export const SCALE = 10n ** 12n;
export const FEED_DECIMALS = 8;
export const HEARTBEAT = 3600;
/** Pyth price feed ids of the fixture's markets (any 32 bytes work with MockPyth). */
export const ETH_PYTH_ID = keccak256(toUtf8Bytes("Crypto.ETH/USD"));
export const BTC_PYTH_ID = keccak256(toUtf8Bytes("Crypto.BTC/USD"));
/** Wei MockPyth charges per price update in the fixture: non-zero, so a missing or wrong fee is caught. */
export const PYTH_UPDATE_FEE = 1n;

/** USD amount in collateral token units. */
export const usd = (x: string | number) => parseUnits(String(x), TOKEN_DECIMALS);
/** WAD amount (sizes, prices, WAD money). */
export const wad = (x: string | number) => parseUnits(String(x), 18);
/** Feed answer (8 decimals). */
export const answer = (x: string | number) => parseUnits(String(x), FEED_DECIMALS);

/** Tiers as major venues set them: 100x to 50k USD, rising to 20x above 1M USD. MMR is half of IMR. */
export const TIERS = [
  { notionalFloor: 0n, imr: wad("0.01"), mmr: wad("0.005") },
  { notionalFloor: wad(50_000), imr: wad("0.02"), mmr: wad("0.01") },
  { notionalFloor: wad(250_000), imr: wad("0.025"), mmr: wad("0.0125") },
  { notionalFloor: wad(1_000_000), imr: wad("0.05"), mmr: wad("0.025") },
];

export const RISK_PARAMS = {
  takerFeeRate: wad("0.0005"), // 5 bp
  liquidationFeeRate: wad("0.001"), // 10 bp keeper reward
  liquidationPenaltyRate: wad("0.002"), // 20 bp to insurance
  targetHealthFactor: wad("1.25"),
  minKeeperFee: wad(5),
  maxKeeperFee: wad(1_000),
  minPositionNotional: wad(10),
  fullLiquidationNotional: wad(10_000),
};

/** No price impact; each side may reach 10 times the pool's assets (the hard maximum), so caps bind only where a
 * test sets them lower. */
export const EXPOSURE_PARAMS = {
  impactSkewScale: 0n,
  maxLongOpenInterestRatio: wad(10),
  maxShortOpenInterestRatio: wad(10),
};

/** Deploys the engine's linked libraries; returns the `libraries` option for deploying TidemarkEngine. */
export async function deployEngineLibraries(ethers: HardhatEthers) {
  const names = ["ConfigLib", "TradeLib", "LiquidationLib", "OrderLib"] as const;
  const out: Record<string, string> = {};
  for (const name of names) out[name] = await (await ethers.deployContract(name)).getAddress();
  return out;
}

export const oracleConfig = (feed: string) => ({
  feed,
  heartbeat: HEARTBEAT,
  decimals: 0, // read from the feed by the engine
  minPrice: wad(1),
  maxPrice: wad(1_000_000),
});

/**
 * Deploys the whole protocol on the given connection: 6-decimal collateral token, pool, insurance fund, linked
 * libraries, engine, lens, Chainlink mock feeds for ETH (3,000 USD) and BTC (60,000 USD), MockPyth with both markets'
 * feed ids set, both markets listed, roles
 * granted (deployer is admin and governor, `guardian` is guardian). Traders are funded and approved.
 */
export async function deployProtocol(ethers: HardhatEthers) {
  const token = await ethers.deployContract("MockERC20", ["USD Coin", "USDC", TOKEN_DECIMALS]);
  return deployProtocolOn(ethers, token);
}

/** Options of deployProtocolOn. */
export type DeployOptions = {
  /** Deposit 5,000,000 USD of pool liquidity from `lp` (default true); false leaves the pool empty. */
  seedPool?: boolean;
  /** Token units minted to the insurance fund (default 100,000 USD). */
  insuranceFunds?: bigint;
};

/**
 * deployProtocol on a collateral token the caller deployed (6 decimals, with `mint(to, amount)` and `approve`), such
 * as the adversarial test tokens. Returns the token with its own type.
 */
export async function deployProtocolOn<T extends BaseContract>(ethers: HardhatEthers, token: T, opts: DeployOptions = {}) {
  const [deployer, guardian, alice, bob, carol, keeper, lp] = await ethers.getSigners();
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const t = token as any;
  const pool = await ethers.deployContract("LiquidityPool", [token, "Tidemark LP", "tmLP"]);
  const insurance = await ethers.deployContract("InsuranceFund", [token]);
  const libraries = await deployEngineLibraries(ethers);
  const pyth = await ethers.deployContract("MockPyth", [60, PYTH_UPDATE_FEE]);
  const engine = await ethers.deployContract("TidemarkEngine", [token, pool, insurance, pyth, deployer.address], { libraries });
  await pool.bindEngine(engine);
  await insurance.bindEngine(engine);
  const lens = await ethers.deployContract("TidemarkLens", [engine]);

  const ethFeed = await ethers.deployContract("MockV3Aggregator", [FEED_DECIMALS, answer(3000)]);
  const btcFeed = await ethers.deployContract("MockV3Aggregator", [FEED_DECIMALS, answer(60_000)]);

  await engine.grantRole(await engine.GOVERNOR_ROLE(), deployer.address);
  await engine.grantRole(await engine.GUARDIAN_ROLE(), guardian.address);
  await engine.listMarket(ETH, oracleConfig(await ethFeed.getAddress()), RISK_PARAMS, TIERS);
  await engine.listMarket(BTC, oracleConfig(await btcFeed.getAddress()), RISK_PARAMS, TIERS);
  await engine.setExposureParams(ETH, EXPOSURE_PARAMS);
  await engine.setExposureParams(BTC, EXPOSURE_PARAMS);
  await engine.setPythPriceId(ETH, ETH_PYTH_ID);
  await engine.setPythPriceId(BTC, BTC_PYTH_ID);

  for (const s of [alice, bob, carol, keeper, lp]) {
    await t.mint(s.address, usd(10_000_000));
    await t.connect(s).approve(engine, ethers.MaxUint256);
    await t.connect(s).approve(pool, ethers.MaxUint256);
  }
  // Pool liquidity and an insurance fund balance, so trader profits and shortfalls can be paid.
  if (opts.seedPool ?? true) await lpDeposit(ethers, pool, engine, lp, usd(5_000_000));
  const insuranceFunds = opts.insuranceFunds ?? usd(100_000);
  if (insuranceFunds !== 0n) await t.mint(await insurance.getAddress(), insuranceFunds);

  return { deployer, guardian, alice, bob, carol, keeper, lp, token, pool, insurance, engine, lens, ethFeed, btcFeed, pyth, libraries };
}
