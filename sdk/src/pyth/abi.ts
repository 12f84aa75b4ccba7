/** The part of Pyth's IPyth the SDK calls: the fee for a set of price updates (wei). */
export const pythUpdateFeeAbi = [
  {
    type: "function",
    name: "getUpdateFee",
    stateMutability: "view",
    inputs: [{ name: "updateData", type: "bytes[]" }],
    outputs: [{ name: "feeAmount", type: "uint256" }],
  },
] as const;
