export * from "./abi.js";
export * from "./localPrices.js";
export * from "./mockPyth.js";
