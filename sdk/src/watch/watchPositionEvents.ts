import type { Address, Client } from "viem";

import { tidemarkEngineAbi } from "../abi/engine.js";
import type { AddressesParameter, MarketId } from "../types.js";
import { type PollLogsLog, type PollLogsOptions, type PollLogsReturnType, pollLogs } from "./pollLogs.js";

type EngineAbiItem = (typeof tidemarkEngineAbi)[number];
/** The ABI item of the engine event `N`. */
export type EngineEventAbi<N extends string> = Extract<EngineAbiItem, { type: "event"; name: N }>;

/** The engine's ABI items of the named events (typed: logs decoded with them have typed `args`). */
export function engineEvents<const N extends EngineEventAbi<string>["name"]>(names: readonly N[]): readonly EngineEventAbi<N>[] {
  return tidemarkEngineAbi.filter(
    (item): item is EngineEventAbi<N> => item.type === "event" && (names as readonly string[]).includes(item.name),
  );
}

export const positionEventNames = ["PositionModified", "CollateralModified", "PositionLiquidated", "FundingSettled"] as const;
export type PositionEventName = (typeof positionEventNames)[number];
/** A decoded PositionModified, CollateralModified, PositionLiquidated or FundingSettled log; `eventName` narrows `args`. */
export type PositionEvent = PollLogsLog<readonly EngineEventAbi<PositionEventName>[]>;

export type WatchPositionEventsParameters = AddressesParameter &
  PollLogsOptions & {
    /** Only events of this trader (or of any of these). Default: all. */
    account?: Address | readonly Address[] | undefined;
    /** Only events on this market (or any of these). Default: all. */
    market?: MarketId | readonly MarketId[] | undefined;
    /** Events in chain order, each once; after a reorg, orphaned ones again with `removed: true` (see pollLogs). */
    onEvents: (events: PositionEvent[]) => void | Promise<void>;
    onError?: ((error: Error) => void) | undefined;
  };

/** Stops the watcher: no callback runs after it returns. */
export type WatchPositionEventsReturnType = PollLogsReturnType;

/**
 * Watches the engine's position events (PositionModified, CollateralModified, PositionLiquidated, FundingSettled),
 * filtered on chain by the indexed `account` and `market`. Polls eth_getLogs, reorg-aware: see pollLogs.
 */
export function watchPositionEvents(client: Client, parameters: WatchPositionEventsParameters): WatchPositionEventsReturnType {
  const { addresses, account, market, onEvents, onError, ...options } = parameters;
  return pollLogs(client, {
    ...options,
    address: addresses.engine,
    events: engineEvents(positionEventNames),
    args: { account, market },
    onLogs: onEvents,
    onError,
  });
}
