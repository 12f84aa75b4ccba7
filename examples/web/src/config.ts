/**
 * Where the page finds its chain. Two sources, the query string winning field by field:
 *
 *   ?rpc=<JSON-RPC URL>&deployment=<URL-encoded deployed_addresses.json>&key=<0x private key>
 *   config.json next to the page: { "rpcUrl": "...", "deployment": { ...deployed_addresses.json... }, "privateKey"?: "0x..." }
 *
 * `npm run web` serves a config.json built from the local Ignition deployment; the end-to-end test does the same.
 */
import { addressesFromIgnition, type TidemarkAddresses } from "@tidemark/sdk";
import { type Hex, isHex } from "viem";

/** Hardhat's default account #2: a public test key, funded with test ether on every `hardhat node`. */
export const DEFAULT_TEST_KEY: Hex = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a";

/** Chain ids of local development chains (Hardhat, Anvil/Ganache): the only chains the page signs on. */
export const LOCAL_CHAIN_IDS: readonly number[] = [31337, 1337];

export type PageConfig = {
  rpcUrl: string;
  addresses: TidemarkAddresses;
  /** The collateral token is the deployment's MockERC20, which anyone may mint: the page offers test-token buttons. */
  mockToken: boolean;
  privateKey: Hex;
};

type RawConfig = { rpcUrl?: unknown; deployment?: unknown; privateKey?: unknown };

/** Reads the configuration; throws an Error whose message tells the user what to pass. */
export async function loadConfig(location: Location = window.location): Promise<PageConfig> {
  const query = new URLSearchParams(location.search);
  let file: RawConfig = {};
  if (!query.has("deployment") || !query.has("rpc")) {
    const response = await fetch(new URL("config.json", location.href), { cache: "no-store" }).catch(() => undefined);
    if (response?.ok) file = (await response.json()) as RawConfig;
  }
  const rpcUrl = query.get("rpc") ?? file.rpcUrl;
  const deploymentText = query.get("deployment");
  const deployment: unknown = deploymentText !== null ? JSON.parse(deploymentText) : file.deployment;
  const privateKey = query.get("key") ?? file.privateKey ?? DEFAULT_TEST_KEY;
  if (typeof rpcUrl !== "string" || typeof deployment !== "object" || deployment === null) {
    throw new Error(
      "No chain configured. Start the page with `npm run web` (it serves config.json), or pass " +
        "?rpc=<JSON-RPC URL>&deployment=<URL-encoded Ignition deployed_addresses.json>.",
    );
  }
  if (typeof privateKey !== "string" || !isHex(privateKey) || privateKey.length !== 66) {
    throw new Error("The key must be a 32-byte hex private key (0x followed by 64 hex digits).");
  }
  const entries = deployment as Record<string, string>;
  return {
    rpcUrl,
    addresses: addressesFromIgnition(entries),
    mockToken: Object.keys(entries).some((k) => k.endsWith("#MockERC20")),
    privateKey,
  };
}
