import { buildModule } from "@nomicfoundation/hardhat-ignition/modules";

import { buildSystem, type MarketSpec } from "./tidemark-system.js";

/**
 * The system for a real network, every address and parameter from a parameters file (module "Tidemark"):
 *   collateralToken, pyth, minDelay, proposers, executors, guardian, sequencerFeed, gracePeriod, and per initial market
 *   (ETH-USD and BTC-USD; further markets are listed later through the timelock with `npm run gov`):
 *   <M>Feed, <M>PythPriceId, <M>Heartbeat, <M>MinPrice, <M>MaxPrice, <M>RiskParams, <M>Tiers, <M>Exposure, <M>Funding
 *   where <M> is "eth" or "btc". See ignition/parameters/arbitrum-one.example.json.
 * Deploy: npx hardhat ignition deploy ignition/modules/Tidemark.ts --network <net> --parameters <file>
 */
export const INITIAL_MARKETS = [
  { prefix: "eth", symbol: "ETH-USD" },
  { prefix: "btc", symbol: "BTC-USD" },
] as const;

export default buildModule("Tidemark", (m) => {
  const markets: MarketSpec[] = INITIAL_MARKETS.map(({ prefix, symbol }) => ({
    symbol,
    feed: m.getParameter(`${prefix}Feed`),
    pythPriceId: m.getParameter(`${prefix}PythPriceId`),
    oracle: {
      heartbeat: m.getParameter(`${prefix}Heartbeat`),
      minPrice: m.getParameter(`${prefix}MinPrice`),
      maxPrice: m.getParameter(`${prefix}MaxPrice`),
    },
    riskParams: m.getParameter(`${prefix}RiskParams`),
    tiers: m.getParameter(`${prefix}Tiers`),
    exposure: m.getParameter(`${prefix}Exposure`),
    funding: m.getParameter(`${prefix}Funding`),
  }));
  return buildSystem(m, {
    token: m.getParameter("collateralToken"),
    pyth: m.getParameter("pyth"),
    minDelay: m.getParameter("minDelay"),
    proposers: m.getParameter("proposers"),
    executors: m.getParameter("executors"),
    guardian: m.getParameter("guardian"),
    sequencer: { feed: m.getParameter("sequencerFeed"), gracePeriod: m.getParameter("gracePeriod") },
    markets,
  });
});
