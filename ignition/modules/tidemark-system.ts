import type { IgnitionModuleBuilder } from "@nomicfoundation/ignition-core";
import { encodeBytes32String, id as keccakId, ZeroAddress } from "ethers";

/** Role ids of TidemarkEngine (keccak256 of the role name; the admin role is zero). */
export const ROLES = {
  admin: "0x0000000000000000000000000000000000000000000000000000000000000000",
  governor: keccakId("GOVERNOR_ROLE"),
  guardian: keccakId("GUARDIAN_ROLE"),
} as const;

/** Market id as the engine stores it: the market symbol as bytes32, e.g. "ETH-USD". */
export const marketId = (symbol: string) => encodeBytes32String(symbol);

type Value = any; // a literal, a module parameter or a future: Ignition resolves it at execution

/** One market of the initial listing: its id and everything `listMarket` and the follow-up setters take. */
export interface MarketSpec {
  symbol: string; // e.g. "ETH-USD"; also the prefix of the market's Ignition futures
  feed: Value; // Chainlink aggregator address
  pythPriceId: Value; // Pyth price feed id (bytes32) the market's orders execute at
  oracle: { heartbeat: Value; minPrice: Value; maxPrice: Value };
  riskParams: Value; // RiskParams struct as an object
  tiers: Value; // Tier[] as objects
  exposure: Value; // ExposureParams struct
  funding: Value; // FundingParams struct
}

export interface SystemSpec {
  token: Value; // collateral token address (or future)
  pyth: Value; // Pyth contract (MockPyth on local chains) verifying the prices orders and LP requests execute at
  minDelay: Value; // timelock minimum delay, seconds
  proposers: Value; // timelock proposers (and cancellers)
  executors: Value; // timelock executors (the zero address: anyone)
  guardian: Value; // pause-only role, outside the timelock
  sequencer?: { feed: Value; gracePeriod: Value }; // L2 sequencer uptime feed; omit on L1
  markets: MarketSpec[];
}

/**
 * Deploys the whole protocol and hands it to governance, in one Ignition module:
 *  1. TimelockController(minDelay, proposers, executors, admin = none);
 *  2. the engine's linked libraries, the pool, the insurance fund, the engine (deployer as temporary admin), the lens;
 *  3. binds the pool and the fund to the engine;
 *  4. as temporary governor, lists the initial markets and sets their exposure and funding parameters and Pyth
 *     feed ids, and the sequencer feed;
 *  5. grants GUARDIAN_ROLE to the guardian, DEFAULT_ADMIN_ROLE and GOVERNOR_ROLE to the timelock, and renounces the
 *     deployer's roles. From then on every parameter change and listing goes through the timelock.
 */
export function buildSystem(m: IgnitionModuleBuilder, spec: SystemSpec) {
  const deployer = m.getAccount(0);
  const timelock = m.contract("TimelockController", [spec.minDelay, spec.proposers, spec.executors, ZeroAddress]);

  const libraries = {
    ConfigLib: m.library("ConfigLib"),
    TradeLib: m.library("TradeLib"),
    LiquidationLib: m.library("LiquidationLib"),
    OrderLib: m.library("OrderLib"),
  };
  const pool = m.contract("LiquidityPool", [spec.token, "Tidemark LP", "tmLP"]);
  const insurance = m.contract("InsuranceFund", [spec.token]);
  const engine = m.contract("TidemarkEngine", [spec.token, pool, insurance, spec.pyth, deployer], { libraries });
  const bindPool = m.call(pool, "bindEngine", [engine], { id: "Pool_bindEngine" });
  const bindFund = m.call(insurance, "bindEngine", [engine], { id: "InsuranceFund_bindEngine" });
  const lens = m.contract("TidemarkLens", [engine]);

  const bootstrap = m.call(engine, "grantRole", [ROLES.governor, deployer], { id: "grantDeployerGovernor" });
  const configured = [];
  let previous: any = bootstrap; // markets are listed one after another, so listedMarkets() keeps the spec's order
  for (const market of spec.markets) {
    const key = market.symbol.replace(/[^A-Za-z0-9]/g, "_");
    const list = m.call(
      engine,
      "listMarket",
      [
        marketId(market.symbol),
        { feed: market.feed, decimals: 0, ...market.oracle },
        market.riskParams,
        market.tiers,
      ],
      { id: `${key}_listMarket`, after: [previous] },
    );
    previous = list;
    configured.push(
      m.call(engine, "setExposureParams", [marketId(market.symbol), market.exposure], {
        id: `${key}_setExposureParams`,
        after: [list],
      }),
      m.call(engine, "setFundingParams", [marketId(market.symbol), market.funding], {
        id: `${key}_setFundingParams`,
        after: [list],
      }),
      m.call(engine, "setPythPriceId", [marketId(market.symbol), market.pythPriceId], {
        id: `${key}_setPythPriceId`,
        after: [list],
      }),
    );
  }
  if (spec.sequencer) {
    configured.push(
      m.call(engine, "setSequencerConfig", [spec.sequencer.feed, spec.sequencer.gracePeriod], { after: [bootstrap] }),
    );
  }

  const handOver = [
    m.call(engine, "grantRole", [ROLES.guardian, spec.guardian], { id: "grantGuardian" }),
    m.call(engine, "grantRole", [ROLES.governor, timelock], { id: "grantTimelockGovernor" }),
    m.call(engine, "grantRole", [ROLES.admin, timelock], { id: "grantTimelockAdmin" }),
  ];
  const renounceGovernor = m.call(engine, "renounceRole", [ROLES.governor, deployer], {
    id: "renounceDeployerGovernor",
    after: [...configured, ...handOver, bindPool, bindFund],
  });
  m.call(engine, "renounceRole", [ROLES.admin, deployer], {
    id: "renounceDeployerAdmin",
    after: [renounceGovernor],
  });

  return { timelock, engine, pool, insurance, lens, ...libraries };
}
