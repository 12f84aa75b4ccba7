import type { Address, BlockNumber, Client } from "viem";
import { readContract } from "viem/actions";

import { insuranceFundAbi } from "../abi/insurance.js";
import { withDecodedErrors } from "../errors/contract.js";
import { insuranceFundOf } from "../internal/read.js";
import type { AddressesParameter } from "../types.js";

export type GetInsuranceFundParameters = AddressesParameter & { blockNumber?: BlockNumber | undefined };
export type GetInsuranceFundReturnType = { address: Address; /** Token units. */ balance: bigint };

/** The insurance fund: collects liquidation penalties, first to absorb bad debt. */
export async function getInsuranceFund(client: Client, parameters: GetInsuranceFundParameters): Promise<GetInsuranceFundReturnType> {
  const address = await insuranceFundOf(client, parameters.addresses);
  const balance = await withDecodedErrors(() =>
    readContract(client, { address, abi: insuranceFundAbi, functionName: "balance", blockNumber: parameters.blockNumber }),
  );
  return { address, balance };
}
