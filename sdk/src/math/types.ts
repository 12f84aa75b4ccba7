/** One margin tier (`Tier` in DataTypes.sol): rates apply to the notional from `notionalFloor` up to the next floor. */
export type Tier = {
  /** WAD USD; the first tier's floor is 0. */
  notionalFloor: bigint;
  /** Initial margin rate, WAD. */
  imr: bigint;
  /** Maintenance margin rate, WAD. */
  mmr: bigint;
};

/** A market's fee and liquidation parameters (`RiskParams` in DataTypes.sol). Rates WAD, USD amounts WAD. */
export type RiskParams = {
  takerFeeRate: bigint;
  liquidationFeeRate: bigint;
  liquidationPenaltyRate: bigint;
  targetHealthFactor: bigint;
  minKeeperFee: bigint;
  maxKeeperFee: bigint;
  minPositionNotional: bigint;
  fullLiquidationNotional: bigint;
};

/**
 * A position with everything its risk depends on (`RiskContext`, as returned by the engine's `riskContext` view).
 * `collateral` is in token units; `scale` = 10 ** (18 - token decimals); `fundingOwed` is WAD USD owed by the position
 * (positive) or to it (negative) at the pending funding index.
 */
export type RiskContext = {
  size: bigint;
  entryPrice: bigint;
  collateral: bigint;
  fundingOwed: bigint;
  scale: bigint;
  tiers: readonly Tier[];
  params: RiskParams;
};

/** Oracle status codes of the engine's `OracleStatus` enum. */
export const OracleStatus = {
  Ok: 0,
  Stale: 1,
  InvalidAnswer: 2,
  OutOfBounds: 3,
  SequencerDown: 4,
  GracePeriod: 5,
} as const;
export type OracleStatusName = keyof typeof OracleStatus;

/** The name of an `OracleStatus` code. */
export function oracleStatusName(code: number): OracleStatusName {
  const name = (Object.keys(OracleStatus) as OracleStatusName[]).find((k) => OracleStatus[k] === code);
  if (name === undefined) throw new RangeError(`unknown oracle status code ${code}`);
  return name;
}
