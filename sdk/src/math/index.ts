/**
 * Pure bigint risk math mirroring the Tidemark contracts exactly, rounding included. No I/O: usable in browsers,
 * workers and bots, and importable alone as `@tidemark/sdk/math`.
 */
export * from "./constants.js";
export * from "./fixedPoint.js";
export * from "./funding.js";
export * from "./liquidation.js";
export * from "./pricing.js";
export * from "./risk.js";
export * from "./trade.js";
export * from "./types.js";
