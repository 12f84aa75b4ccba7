/** Viem clients over an in-process Hardhat network, for the SDK's tests. */
import type { NetworkConnection } from "hardhat/types/network";
import { type Address, type Hex, createPublicClient, createWalletClient, custom, publicActions } from "viem";
import { hardhat } from "viem/chains";

import type { TidemarkAddresses } from "../../../sdk/src/types.js";
import { deployProtocol } from "../helpers/fixture.js";

export type Protocol = Awaited<ReturnType<typeof deployProtocol>>;

/** Public client (fast polling) and one wallet client per named signer, all over the connection's provider. */
export async function sdkClients(conn: NetworkConnection, p: Protocol) {
  // No retries: Hardhat reports reverts with an error code viem would otherwise retry three times.
  const transport = custom(conn.provider, { retryCount: 0 });
  const publicClient = createPublicClient({ chain: hardhat, transport, pollingInterval: 20, cacheTime: 0 });
  // JSON-RPC accounts: Hardhat signs, like a browser wallet would.
  const wallet = (address: string) =>
    createWalletClient({ chain: hardhat, transport, account: address as Address, pollingInterval: 20, cacheTime: 0 }).extend(publicActions);
  const addresses: TidemarkAddresses = {
    engine: (await p.engine.getAddress()) as Address,
    lens: (await p.lens.getAddress()) as Address,
    pool: (await p.pool.getAddress()) as Address,
    insuranceFund: (await p.insurance.getAddress()) as Address,
    collateralToken: (await p.token.getAddress()) as Address,
  };
  return {
    publicClient,
    addresses,
    wallets: {
      alice: wallet(p.alice.address),
      bob: wallet(p.bob.address),
      carol: wallet(p.carol.address),
      keeper: wallet(p.keeper.address),
      lp: wallet(p.lp.address),
    },
  };
}

export const hex = (x: string) => x as Hex;
export const addr = (x: string) => x as Address;
