import { type Address, type Client, isAddressEqual } from "viem";

import type { AddressesParameter, MarketId } from "../types.js";
import { type PollLogsLog, type PollLogsOptions, type PollLogsReturnType, pollLogs } from "./pollLogs.js";
import { type EngineEventAbi, engineEvents } from "./watchPositionEvents.js";

export const liquidationEventNames = ["PositionLiquidated", "ShortfallCovered"] as const;
export type LiquidationEventName = (typeof liquidationEventNames)[number];
/** A decoded PositionLiquidated or ShortfallCovered log; `eventName` narrows `args`. */
export type LiquidationEvent = PollLogsLog<readonly EngineEventAbi<LiquidationEventName>[]>;

export type WatchLiquidationsParameters = AddressesParameter &
  PollLogsOptions & {
    /** Only liquidations of this trader (or of any of these). Default: all. */
    account?: Address | readonly Address[] | undefined;
    /** Only liquidations on this market (or any of these). Default: all. */
    market?: MarketId | readonly MarketId[] | undefined;
    /** Only liquidations sent by this keeper (or any of these), with the shortfalls they caused. Default: all. */
    liquidator?: Address | readonly Address[] | undefined;
    /** Logs in chain order, each once; after a reorg, orphaned ones again with `removed: true` (see pollLogs). */
    onLiquidations: (logs: LiquidationEvent[]) => void | Promise<void>;
    onError?: ((error: Error) => void) | undefined;
  };

/** Stops the watcher: no callback runs after it returns. */
export type WatchLiquidationsReturnType = PollLogsReturnType;

/**
 * Watches liquidations: PositionLiquidated, and ShortfallCovered where a liquidation left bad debt (or the keeper's
 * minimum reward unpaid) and the insurance fund and pool covered it. The shortfall is emitted in the same transaction,
 * just before the PositionLiquidated of the same account and market.
 *
 * A ShortfallCovered without a liquidation in its transaction (a trader closing a position with bad debt) is not a
 * liquidation and is not delivered; watch it with pollLogs. ShortfallCovered has no indexed liquidator, so `liquidator`
 * is applied here, not by the node: PositionLiquidated of other keepers are fetched and dropped.
 */
export function watchLiquidations(client: Client, parameters: WatchLiquidationsParameters): WatchLiquidationsReturnType {
  const { addresses, account, market, liquidator, onLiquidations, onError, ...options } = parameters;
  const liquidators = liquidator === undefined ? undefined : typeof liquidator === "string" ? [liquidator] : [...liquidator];
  return pollLogs(client, {
    ...options,
    address: addresses.engine,
    events: engineEvents(liquidationEventNames),
    args: { account, market },
    // A batch holds whole blocks, so a shortfall and its liquidation always arrive (or are retracted) together.
    onLogs: (logs) => {
      const key = (log: LiquidationEvent) => `${log.transactionHash}:${log.args.account}:${log.args.market}`.toLowerCase();
      const liquidations = new Set(
        logs
          .filter((log) => log.eventName === "PositionLiquidated")
          .filter((log) => !liquidators || liquidators.some((a) => isAddressEqual(a, log.args.liquidator)))
          .map(key),
      );
      const kept = logs.filter((log) => liquidations.has(key(log)));
      return kept.length > 0 ? onLiquidations(kept) : undefined;
    },
    onError,
  });
}
