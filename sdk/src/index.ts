export * from "./abi/index.js";
export * from "./errors/base.js";
export * from "./errors/contract.js";
export * from "./math/index.js";
