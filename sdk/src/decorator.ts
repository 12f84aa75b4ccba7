/**
 * `client.extend(tidemarkActions({ addresses }))`: every action bound to the client and the deployment, so
 * `client.getPosition({ account, market })`. The plain functions stay importable on their own and tree-shake; the
 * decorator pulls in all of them.
 */
import type { Account, Chain, Client, Transport } from "viem";

import * as readWriteActions from "./actions/index.js";
import { watchHealth, watchLiquidations, watchPositionEvents } from "./watch/index.js";
import type { TidemarkAddresses } from "./types.js";

const actions = { ...readWriteActions, watchHealth, watchLiquidations, watchPositionEvents };

// Distributes over unions (slippage, assets-or-shares), which a plain Omit would merge into one object type.
type Bound<P> = P extends unknown ? Omit<P, "addresses"> & { addresses?: TidemarkAddresses | undefined } : never;
const bind =
  <P extends { addresses: TidemarkAddresses }, R>(client: Client, addresses: TidemarkAddresses, fn: (client: never, p: P) => R) =>
  (p: Bound<P>): R =>
    fn(client as never, { ...p, addresses: p.addresses ?? addresses } as unknown as P);

export type TidemarkActions = {
  // Parameters are inferred, not matched against `{ addresses }`: an action whose parameters require more than the
  // addresses (nearly all) must not drop out of the type.
  [K in keyof typeof actions as (typeof actions)[K] extends (client: never, p: infer P) => unknown
    ? P extends { addresses: TidemarkAddresses }
      ? K
      : never
    : never]:
    (typeof actions)[K] extends (client: never, p: infer P extends { addresses: TidemarkAddresses }) => infer R ? (p: Bound<P>) => R : never;
};

/** The decorator: `createWalletClient(...).extend(tidemarkActions({ addresses }))`. Write actions need a client with an account or an `account` parameter. */
export function tidemarkActions(config: { addresses: TidemarkAddresses }) {
  return <C extends Client<Transport, Chain | undefined, Account | undefined>>(client: C): TidemarkActions => {
    const out: Record<string, unknown> = {};
    for (const [name, fn] of Object.entries(actions)) {
      if (typeof fn === "function") out[name] = bind(client, config.addresses, fn as never);
    }
    return out as TidemarkActions;
  };
}
