import { buildModule } from "@nomicfoundation/hardhat-ignition/modules";
import { parseUnits } from "ethers";

import { buildSystem } from "./tidemark-system.js";

const WAD = 10n ** 18n;
const wad = (x: string) => parseUnits(x, 18);

/**
 * Tiers as major venues set them, by position notional: MMR 0.5% (100x initial) up to 50,000 USD, 1% to 250,000,
 * 1.25% to 1,000,000 and 2.5% above (20x). Rates are marginal, like tax brackets.
 */
export const LOCAL_TIERS = [
  { notionalFloor: 0n, imr: wad("0.01"), mmr: wad("0.005") },
  { notionalFloor: 50_000n * WAD, imr: wad("0.02"), mmr: wad("0.01") },
  { notionalFloor: 250_000n * WAD, imr: wad("0.025"), mmr: wad("0.0125") },
  { notionalFloor: 1_000_000n * WAD, imr: wad("0.05"), mmr: wad("0.025") },
];

/** Pyth's feed ids for ETH/USD and BTC/USD (the same on every chain), used locally too so that a keeper's price
 * source is configured the same way everywhere. */
export const PYTH_PRICE_IDS = {
  "ETH-USD": "0xff61491a931112ddf1bd8147cd1b641375f79f5825126d665480874634fd0ace",
  "BTC-USD": "0xe62df6c8b4a85fe1a67db44dc12de5db330f7ac66b72dc658afedf0f4a415b43",
} as const;

export const LOCAL_RISK_PARAMS = {
  takerFeeRate: wad("0.0005"), // 5 bp
  liquidationFeeRate: wad("0.001"), // keeper reward 10 bp of notional closed
  liquidationPenaltyRate: wad("0.002"), // 20 bp to the insurance fund
  targetHealthFactor: wad("1.25"),
  minKeeperFee: 5n * WAD,
  maxKeeperFee: 1_000n * WAD,
  minPositionNotional: 10n * WAD,
  fullLiquidationNotional: 10_000n * WAD,
};

/**
 * The full system for a local chain (hardhat node or in-process): a 6-decimal mock USDC, Chainlink's own
 * MockV3Aggregator feeds for ETH-USD (3,000) and BTC-USD (60,000) with 8 decimals, Pyth's MockPyth for order prices,
 * both markets listed with the
 * tiers above, price impact on, open-interest caps at 2x the pool per side, funding at up to 0.1% per day. The
 * timelock delay defaults to 60 seconds and the deployer (account 0) is proposer, executor and guardian, so a local
 * governance round trip takes a minute. No sequencer feed (L1-like).
 * Parameters (module "TidemarkLocal"): minDelay, proposer, executor, guardian, ethPrice, btcPrice (8-decimal answers).
 */
export default buildModule("TidemarkLocal", (m) => {
  const deployer = m.getAccount(0);
  const token = m.contract("MockERC20", ["USD Coin (mock)", "USDC", 6]);
  const ethFeed = m.contract("MockV3Aggregator", [8, m.getParameter("ethPrice", 3_000n * 10n ** 8n)], { id: "EthUsdFeed" });
  const btcFeed = m.contract("MockV3Aggregator", [8, m.getParameter("btcPrice", 60_000n * 10n ** 8n)], { id: "BtcUsdFeed" });
  /** A local market: same tiers and fees everywhere; caps at 2x the pool per side; funding up to 0.1% per day. */
  const market = (
    symbol: string,
    feed: typeof ethFeed,
    pythPriceId: string,
    maxPrice: bigint,
    impactSkewScale: bigint,
    fundingSkewScale: bigint,
  ) => ({
    symbol,
    feed,
    pythPriceId,
    oracle: { heartbeat: 3_600, minPrice: WAD, maxPrice },
    riskParams: LOCAL_RISK_PARAMS,
    tiers: LOCAL_TIERS,
    exposure: { impactSkewScale, maxLongOpenInterestRatio: 2n * WAD, maxShortOpenInterestRatio: 2n * WAD },
    funding: { skewScale: fundingSkewScale, maxFundingRatePerDay: wad("0.001") },
  });
  // Pyth's own mock: verifies updates signed by nobody (abi-encoded price feeds), 1 wei per update.
  const pyth = m.contract("MockPyth", [60, 1]);
  const system = buildSystem(m, {
    token,
    pyth,
    minDelay: m.getParameter("minDelay", 60n),
    proposers: [m.getParameter("proposer", deployer)],
    executors: [m.getParameter("executor", deployer)],
    guardian: m.getParameter("guardian", deployer),
    markets: [
      market("ETH-USD", ethFeed, PYTH_PRICE_IDS["ETH-USD"], 1_000_000n * WAD, 1_000_000n * WAD, 10_000n * WAD),
      market("BTC-USD", btcFeed, PYTH_PRICE_IDS["BTC-USD"], 10_000_000n * WAD, 50_000n * WAD, 500n * WAD),
    ],
  });
  return { token, ethFeed, btcFeed, pyth, ...system };
});
