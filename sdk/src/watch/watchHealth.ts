import type { Address, BlockNumber, Client } from "viem";
import { getBlockNumber } from "viem/actions";

import { type GetPositionReturnType, getPosition } from "../actions/getPosition.js";
import { InvalidParameterError } from "../errors/base.js";
import { type LoopState, report, startLoop } from "../internal/loop.js";
import { readEngine } from "../internal/read.js";
import { WAD } from "../math/fixedPoint.js";
import type { AddressesParameter, MarketId } from "../types.js";
import { pollLogs } from "./pollLogs.js";
import { engineEvents, positionEventNames } from "./watchPositionEvents.js";

/**
 * A position's margin level: "healthy" (health factor ≥ the warning threshold), "warning" (1 ≤ HF < threshold),
 * "liquidatable" (HF < 1), "closed" (no position) or "unpriced" (the oracle gives no usable price to value it at).
 */
export type HealthLevel = "healthy" | "warning" | "liquidatable" | "closed" | "unpriced";

export type HealthChangeEvent = {
  level: HealthLevel;
  /** The level at the previous callback; undefined at the first. */
  previousLevel: HealthLevel | undefined;
  /** WAD; null when the level is "closed" or "unpriced". */
  healthFactor: bigint | null;
  /** The evaluation: getPosition at `blockNumber`. */
  position: GetPositionReturnType;
  blockNumber: BlockNumber;
};

/** Default warning threshold: health factor 1.3 (WAD). */
export const DEFAULT_WARNING_THRESHOLD = 13n * 10n ** 17n;

export type WatchHealthParameters = AddressesParameter & {
  account: Address;
  market: MarketId;
  /** Health factor (WAD, > 1e18) below which a position is in "warning". Default 1.3e18. */
  warningThreshold?: bigint | undefined;
  /**
   * true (default): re-evaluate at every new block (an oracle answer lands in a block, so it is seen with that block).
   * false: re-evaluate only when the market's feed emits AnswerUpdated or the position has an engine event
   * (PositionModified, CollateralModified, PositionLiquidated, FundingSettled): fewer calls when watching many
   * positions, but funding accrued between events is seen only at the next one.
   */
  everyBlock?: boolean | undefined;
  /**
   * Contracts whose `AnswerUpdated(int256 indexed current, uint256 indexed roundId, uint256 updatedAt)` triggers an
   * evaluation when `everyBlock` is false. Default: the market's feed, `engine.oracleConfig(market).feed`, read at
   * start (restart the watcher if governance changes the feed). On mainnet that feed is an EACAggregatorProxy, which
   * emits nothing: pass the underlying aggregator (`proxy.aggregator()`, which changes when Chainlink upgrades it).
   */
  oracleFeeds?: readonly Address[] | undefined;
  /** Milliseconds between polls. Default: the client's `pollingInterval`. */
  pollingInterval?: number | undefined;
  /**
   * Called at the first evaluation and whenever the level changes, never twice in a row with the same level. A
   * returned promise is awaited before the next evaluation; a throw goes to `onError`.
   */
  onChange: (event: HealthChangeEvent) => void | Promise<void>;
  /** Failed evaluations or polls; the watcher keeps going and retries. */
  onError?: ((error: Error) => void) | undefined;
};

/** Stops the watcher: no callback runs after it returns. */
export type WatchHealthReturnType = () => void;
export type WatchHealthErrorType = InvalidParameterError;

/** The level of a position (see HealthLevel) for a warning threshold (WAD). */
export function healthLevel(position: Pick<GetPositionReturnType, "exists" | "health">, warningThreshold: bigint): HealthLevel {
  if (!position.exists) return "closed";
  if (position.health === null) return "unpriced";
  if (position.health.healthFactor < WAD) return "liquidatable";
  return position.health.healthFactor < warningThreshold ? "warning" : "healthy";
}

const answerUpdatedEvent = {
  type: "event",
  name: "AnswerUpdated",
  anonymous: false,
  inputs: [
    { indexed: true, name: "current", type: "int256" },
    { indexed: true, name: "roundId", type: "uint256" },
    { indexed: false, name: "updatedAt", type: "uint256" },
  ],
} as const;

/**
 * The margin-call watcher: recomputes a position's health with getPosition (the SDK's exact math, one consistent
 * block) and calls `onChange` when its level changes: healthy ↔ warning ↔ liquidatable, and closed or unpriced.
 * Evaluations never overlap; blocks mined during one are coalesced into one evaluation at the newest block.
 *
 * Throws InvalidParameterError, before any request, for a warning threshold ≤ 1e18.
 */
export function watchHealth(client: Client, parameters: WatchHealthParameters): WatchHealthReturnType {
  const { addresses, account, market, onChange, onError, everyBlock = true } = parameters;
  const warningThreshold = parameters.warningThreshold ?? DEFAULT_WARNING_THRESHOLD;
  if (warningThreshold <= WAD) {
    throw new InvalidParameterError("warningThreshold", `${warningThreshold} must be above 1e18 (health factor 1)`);
  }
  const interval = parameters.pollingInterval ?? client.pollingInterval;
  if (!Number.isSafeInteger(interval) || interval < 1) throw new InvalidParameterError("pollingInterval", `${interval} must be an integer ≥ 1`);

  const watcher = { active: true };
  let previous: HealthLevel | undefined;
  let evaluatedBlock: bigint | undefined;

  /** Evaluates at `blockNumber` (default: the newest) and calls back on a level change. */
  const evaluate = async (blockNumber?: bigint) => {
    const position = await getPosition(client, { addresses, account, market, blockNumber });
    if (!watcher.active) return;
    evaluatedBlock = position.blockNumber;
    const level = healthLevel(position, warningThreshold);
    if (level === previous) return;
    const event: HealthChangeEvent = {
      level,
      previousLevel: previous,
      healthFactor: level === "closed" || level === "unpriced" ? null : position.health!.healthFactor,
      position,
      blockNumber: position.blockNumber,
    };
    previous = level;
    try {
      await onChange(event);
    } catch (err) {
      if (watcher.active) report(onError, err);
    }
  };

  const stops: (() => void)[] = [];
  const stop = () => {
    watcher.active = false;
    for (const s of stops) s();
  };

  if (everyBlock) {
    stops.push(
      startLoop(
        async () => {
          const tip = await getBlockNumber(client, { cacheTime: 0 });
          if (watcher.active && tip !== evaluatedBlock) await evaluate(tip);
        },
        { interval, onError },
      ),
    );
    return stop;
  }

  // Event-driven: a trigger marks the position dirty; flush evaluates until it is clean. A failed evaluation leaves it
  // dirty, and the loop below retries it (with backoff) until it succeeds.
  let dirty = true;
  let flushing: Promise<void> | undefined;
  const flush = () =>
    (flushing ??= (async () => {
      try {
        while (dirty && watcher.active) {
          dirty = false;
          try {
            await evaluate();
          } catch (err) {
            dirty = true;
            throw err;
          }
        }
      } finally {
        flushing = undefined;
      }
    })());

  let watching = false;
  stops.push(
    startLoop(
      async (state: LoopState) => {
        if (!watching) {
          // Start: the feed, a first evaluation, then logs from the block after it (no gap for a change to slip through).
          const feeds = parameters.oracleFeeds ?? [(await readEngine(client, addresses, "oracleConfig", [market])).feed];
          await flush();
          if (!state.active || !watcher.active || evaluatedBlock === undefined) return;
          watching = true;
          stops.push(
            pollLogs(client, {
              address: [addresses.engine, ...feeds],
              // account and market filter the engine's events; AnswerUpdated has neither, so it is not filtered.
              events: [...engineEvents(positionEventNames), answerUpdatedEvent],
              args: { account, market },
              fromBlock: evaluatedBlock + 1n,
              pollingInterval: interval,
              onLogs: () => {
                dirty = true;
                return flush();
              },
              onError,
            }),
          );
        } else if (dirty) await flush();
      },
      { interval, onError },
    ),
  );
  return stop;
}
