/** Watchers: a reorg-aware eth_getLogs poller, the engine's position and liquidation events, and the margin-call watcher. */
export {
  ChainMovedError,
  type PollLogsArgs,
  type PollLogsLog,
  type PollLogsOptions,
  type PollLogsParameters,
  type PollLogsReturnType,
  pollLogs,
} from "./pollLogs.js";
export {
  type EngineEventAbi,
  type PositionEvent,
  type PositionEventName,
  type WatchPositionEventsParameters,
  type WatchPositionEventsReturnType,
  engineEvents,
  positionEventNames,
  watchPositionEvents,
} from "./watchPositionEvents.js";
export {
  type LiquidationEvent,
  type LiquidationEventName,
  type WatchLiquidationsParameters,
  type WatchLiquidationsReturnType,
  liquidationEventNames,
  watchLiquidations,
} from "./watchLiquidations.js";
export {
  DEFAULT_WARNING_THRESHOLD,
  type HealthChangeEvent,
  type HealthLevel,
  type WatchHealthErrorType,
  type WatchHealthParameters,
  type WatchHealthReturnType,
  healthLevel,
  watchHealth,
} from "./watchHealth.js";
