/**
 * @tidemark/sdk: typed viem actions, exact risk math, decoded errors and watchers for the Tidemark protocol.
 *
 * Plain functions (`getPosition(client, { addresses, account, market })`) tree-shake; the decorator binds them all
 * (`client.extend(tidemarkActions({ addresses }))`). Browser-safe: no Node built-ins anywhere.
 */
export * from "./abi/index.js";
export * from "./actions/index.js";
export * from "./calldata.js";
export * from "./decorator.js";
export * from "./errors/base.js";
export * from "./errors/contract.js";
export * from "./format.js";
export type { ApprovalMode } from "./internal/approve.js";
export type { SlippageParameters } from "./internal/slippage.js";
export type { WalletClient, WriteOptions, WriteResult } from "./internal/write.js";
export * from "./math/index.js";
export * from "./pyth/index.js";
export * from "./types.js";
export * from "./watch/index.js";
