/**
 * A realistic population of positions, opened fast on a local `hardhat node` (benchmarks).
 *
 * - `readPopulationMarkets` reads what sizing needs from the engine: oracle price, tiers, fees, impact skew scale and
 *   the current skew.
 * - `generatePopulation` draws positions from a seeded generator: markets by weight, longs and shorts, notionals
 *   log-uniform inside bands that span the margin tiers, leverage from a weighted list clamped to what each
 *   notional's tiered initial margin allows. Collateral covers the margin for the drawn leverage plus the taker fee
 *   and the price impact (tracked along the opening order with the SDK's exact `fillPrice`), so the leverage is what
 *   the position has at the oracle price right after opening.
 * - `openPopulationFast` opens them with real `modifyPosition` transactions: every trader is an impersonated address
 *   (`hardhat_impersonateAccount`, gas from `hardhat_setBalance`), its free balance is written straight into the
 *   engine's `freeBalance` mapping (`hardhat_setStorageAt`; the mapping's slot is found by probing, so it survives
 *   storage layout changes) with the matching tokens minted to the engine so it stays solvent, and all transactions go
 *   out in JSON-RPC batches with automine off and are mined in a few large blocks. 2,000 positions take seconds.
 *
 * Local chains only (hardhat node): the cheat methods exist nowhere else.
 */
import {
  type Address,
  type Hex,
  type PublicClient,
  decodeErrorResult,
  encodeAbiParameters,
  encodeFunctionData,
  getAddress,
  keccak256,
  parseAbi,
  toHex,
} from "viem";

import {
  type RiskParams,
  type Tier,
  WAD,
  divUp,
  fillPrice,
  impactCost,
  requirement36,
  takerFee,
  tidemarkEngineAbi,
  tidemarkErrorsAbi,
} from "@tidemark/sdk";

import { type Rpc, RpcError } from "./rpc.ts";
import { rng } from "./scenario.ts";

const erc20Abi = parseAbi(["function mint(address to, uint256 amount)", "function decimals() view returns (uint8)"]);

/** What sizing a position on a market needs, read from the engine. */
export type PopulationMarket = {
  id: Hex;
  symbol: string;
  /** Oracle price, WAD. */
  price: bigint;
  tiers: readonly Tier[];
  params: RiskParams;
  impactSkewScale: bigint;
  /** Long minus short open interest (size, WAD) before the population. */
  skew: bigint;
  /** 10 ** (18 - token decimals). */
  scale: bigint;
};

export async function readPopulationMarkets(client: PublicClient, engine: Address, markets: readonly { id: Hex; symbol: string }[]): Promise<PopulationMarket[]> {
  const read = <T>(functionName: string, args: unknown[] = []) =>
    client.readContract({ address: engine, abi: tidemarkEngineAbi, functionName: functionName as never, args: args as never }) as Promise<T>;
  const token = await read<Address>("collateralToken");
  const decimals = await client.readContract({ address: token, abi: erc20Abi, functionName: "decimals" });
  const scale = 10n ** BigInt(18 - decimals);
  return Promise.all(
    markets.map(async ({ id, symbol }) => {
      const [[status, price], tiers, params, exposure, [long, short]] = await Promise.all([
        read<readonly [number, bigint]>("oracleStatus", [id]),
        read<readonly Tier[]>("marginTiers", [id]),
        read<RiskParams>("riskParams", [id]),
        read<{ impactSkewScale: bigint }>("exposureParams", [id]),
        read<readonly [bigint, bigint]>("openInterest", [id]),
      ]);
      if (status !== 0) throw new Error(`${symbol}: oracle status ${status}, not Ok: cannot size positions`);
      return { id, symbol, price, tiers, params, impactSkewScale: exposure.impactSkewScale, skew: long - short, scale };
    }),
  );
}

/** A position to open: `size` signed (positive long), `collateral` in token units. */
export type OpenSpec = { account: Address; market: Hex; size: bigint; collateral: bigint; acceptablePrice: bigint };

/** A generated position: what `openPopulationFast` needs plus what it was drawn as. */
export type GeneratedPosition = OpenSpec & {
  symbol: string;
  side: "long" | "short";
  /** USD, at the oracle price. */
  notional: number;
  /** Leverage at the oracle price after opening: notional / (collateral - fee - impact cost). */
  leverage: number;
  /** Index of the margin tier the notional ends in. */
  tier: number;
};

export type GenerateOptions = {
  count: number;
  seed?: number;
  /** Share of positions per market symbol (normalised). Default: equal. */
  marketWeights?: Record<string, number>;
  /** Probability of a long. Default 0.58. */
  longShare?: number;
  /** Notional bands (USD), each drawn log-uniformly with its share. Default: four bands spanning the local tiers. */
  sizeBands?: readonly { share: number; min: number; max: number }[];
  /** Leverage choices with weights (clamped per position to 95% of the maximum its tiers allow). */
  leverages?: readonly { value: number; weight: number }[];
  /** Probability that a position goes to an existing trader who has none on that market yet. Default 0.4. */
  reuseAccount?: number;
  /** Distinguishes the trader addresses of different populations on one chain. Default "tidemark population". */
  tag?: string;
};

export const DEFAULT_SIZE_BANDS = [
  { share: 0.75, min: 200, max: 50_000 }, // first tier (MMR 0.5% on the local markets)
  { share: 0.19, min: 50_000, max: 250_000 },
  { share: 0.05, min: 250_000, max: 1_000_000 },
  { share: 0.01, min: 1_000_000, max: 2_500_000 },
] as const;

export const DEFAULT_LEVERAGES = [
  { value: 2, weight: 6 },
  { value: 3, weight: 7 },
  { value: 5, weight: 14 },
  { value: 10, weight: 18 },
  { value: 15, weight: 12 },
  { value: 20, weight: 14 },
  { value: 25, weight: 8 },
  { value: 30, weight: 6 },
  { value: 40, weight: 7 },
  { value: 50, weight: 8 },
] as const;

const pick = <T extends { weight?: number; share?: number }>(items: readonly T[], r: number): T => {
  const w = (x: T) => x.weight ?? x.share ?? 1;
  let acc = r * items.reduce((s, x) => s + w(x), 0);
  for (const x of items) if ((acc -= w(x)) < 0) return x;
  return items[items.length - 1];
};

/** Trader address `i` of a population: the last 20 bytes of keccak256(tag, i). No key: used by impersonation. */
export const traderAddress = (tag: string, i: number): Address => getAddress(`0x${keccak256(toHex(`${tag} ${i}`)).slice(-40)}`);

/**
 * Draws `count` positions (deterministic for a seed). The opening order is the returned order; the price impact each
 * pays is computed along it from the markets' current skew.
 */
export function generatePopulation(markets: readonly PopulationMarket[], o: GenerateOptions): GeneratedPosition[] {
  const random = rng(o.seed ?? 2026);
  const tag = o.tag ?? "tidemark population";
  const bands = o.sizeBands ?? DEFAULT_SIZE_BANDS;
  const leverages = o.leverages ?? DEFAULT_LEVERAGES;
  const weighted = markets.map((m) => ({ m, weight: o.marketWeights?.[m.symbol] ?? 1 }));
  const skew = new Map(markets.map((m) => [m.id, m.skew]));
  /** Traders holding a position on some markets but not all, by the markets they hold. */
  const partial: { account: Address; held: Set<Hex> }[] = [];
  let traders = 0;
  const out: GeneratedPosition[] = [];
  for (let i = 0; i < o.count; i++) {
    const m = pick(weighted, random()).m;
    const long = random() < (o.longShare ?? 0.58);
    const band = pick(bands, random());
    const notional = Math.round(band.min * (band.max / band.min) ** random());
    const wanted = pick(leverages, random()).value;

    let account: Address | undefined;
    if (random() < (o.reuseAccount ?? 0.4)) {
      const j = partial.findIndex((t) => !t.held.has(m.id));
      if (j >= 0) {
        account = partial[j].account;
        partial[j].held.add(m.id);
        if (partial[j].held.size === markets.length) partial.splice(j, 1);
      }
    }
    if (account === undefined) {
      account = traderAddress(tag, traders++);
      if (markets.length > 1) partial.push({ account, held: new Set([m.id]) });
    }

    const scale = m.scale;
    const absSize = (BigInt(notional) * WAD * WAD) / m.price;
    const size = long ? absSize : -absSize;
    const n36 = absSize * m.price;
    const s0 = skew.get(m.id)!;
    const fill = fillPrice(m.price, s0, size, m.impactSkewScale);
    skew.set(m.id, s0 + size);
    const fee = takerFee(absSize, fill, m.params.takerFeeRate, scale);
    const impact = impactCost(size, fill, m.price, scale);
    // The most leverage the tiers allow: equity after opening (margin - closing fee) must cover the initial margin.
    const im36 = requirement36(m.tiers, n36, true);
    const closing36 = divUp(n36 * m.params.takerFeeRate, WAD);
    const maxLeverage = Number((n36 * 10_000n) / (im36 + closing36)) / 10_000;
    const leverage = Math.max(1, Math.min(wanted, Math.floor(maxLeverage * 0.95 * 100) / 100));
    const margin = divUp(n36 * 100n, WAD * scale * BigInt(Math.round(leverage * 100))); // token units
    const collateral = margin + fee + (impact > 0n ? impact : 0n) + 2n; // 2 token units of rounding slack
    let tier = 0;
    while (tier + 1 < m.tiers.length && n36 > m.tiers[tier + 1].notionalFloor * WAD) tier++;
    out.push({
      account,
      market: m.id,
      size,
      collateral,
      // Impact is capped at 1%: 2% either side never binds, and the price is static while the population opens.
      acceptablePrice: long ? (m.price * 102n) / 100n : (m.price * 98n) / 100n,
      symbol: m.symbol,
      side: long ? "long" : "short",
      notional,
      leverage,
      tier,
    });
  }
  return out;
}

/** The storage key of `mapping(address => uint256)` entry `account` whose mapping sits at `slot`. */
/** The storage key of `account`'s entry in a mapping at `slot`. */
export const mappingKey = (account: Address, slot: bigint): Hex =>
  keccak256(encodeAbiParameters([{ type: "address" }, { type: "uint256" }], [account, slot]));
const word = (x: bigint): Hex => toHex(x, { size: 32 });

/**
 * The storage slot of the engine's free-balance mapping, found by writing a distinct marker to the entry of a probe
 * address under every candidate slot, reading `freeBalance` back once, and restoring every candidate entry. Throws when
 * no slot below `maxSlot` matches. (Three round trips: the node may answer the requests of one batch in any order.)
 */
export async function findFreeBalanceSlot(rpc: Rpc, engine: Address, maxSlot = 256): Promise<bigint> {
  const probe = traderAddress("tidemark free balance slot probe", 0);
  const marker = 0x7469646d61726b00000n; // "tidemark" << 16, plus the candidate slot
  const keys = Array.from({ length: maxSlot }, (_, s) => mappingKey(probe, BigInt(s)));
  const before = await rpc.batch<Hex>(keys.map((key) => ({ method: "eth_getStorageAt", params: [engine, key, "latest"] })));
  if (before.some((v) => BigInt(v as Hex) !== 0n)) throw new Error("the free-balance slot probe address has storage in the engine");
  await rpc.batch(keys.map((key, s) => ({ method: "hardhat_setStorageAt", params: [engine, key, word(marker + BigInt(s))] })));
  let found: bigint;
  try {
    found = BigInt(
      await rpc.call<Hex>("eth_call", [{ to: engine, data: encodeFunctionData({ abi: tidemarkEngineAbi, functionName: "freeBalance", args: [probe] }) }, "latest"]),
    );
  } finally {
    await rpc.batch(keys.map((key) => ({ method: "hardhat_setStorageAt", params: [engine, key, word(0n)] })));
  }
  const slot = found - marker;
  if (slot < 0n || slot >= BigInt(maxSlot)) throw new Error(`no storage slot below ${maxSlot} holds the engine's free-balance mapping`);
  return slot;
}

export type OpenedPopulation = {
  positions: { account: Address; market: Hex }[];
  traders: number;
  /** Blocks the opening transactions were mined in. */
  blocks: number;
  gasUsed: bigint;
  /** Tokens minted to the engine to back the written free balances (token units). */
  minted: bigint;
  ms: number;
};

/**
 * Opens `positions` with real `modifyPosition` transactions from impersonated traders, in a few blocks. Every trader's
 * free balance is raised by the collateral of its positions (storage write plus the same amount of tokens minted to
 * the engine). Leaves the chain's automine setting and block gas limit as they were. Throws, with the engine's
 * decoded error, if any position fails to open.
 */
export async function openPopulationFast(
  rpc: Rpc,
  o: {
    engine: Address;
    token: Address;
    positions: readonly OpenSpec[];
    /** Gas limit of each opening transaction (default 800,000). */
    gasPerOpen?: bigint;
    /** Block gas limit while opening (default 200,000,000; restored afterwards). */
    blockGasLimit?: bigint;
    /** Transactions per block (default 200). */
    perBlock?: number;
    /** Seconds between the timestamps of the blocks mined (default: the node's clock). A fixed step makes funding
     * accrual, and so the positions' state, identical on every run. */
    blockSeconds?: number;
  },
): Promise<OpenedPopulation> {
  const started = Date.now();
  const [funder] = await rpc.call<Address[]>("eth_accounts");
  const automine = await rpc.call<boolean>("hardhat_getAutomine");
  const latest = await rpc.call<{ gasLimit: Hex; timestamp: Hex }>("eth_getBlockByNumber", ["latest", false]);
  let time = Number(latest.timestamp);
  const mine = () => rpc.call("evm_mine", o.blockSeconds === undefined ? [] : [toHex((time += o.blockSeconds))]);
  const slot = await findFreeBalanceSlot(rpc, o.engine);
  const debug = process.env.TIDEMARK_POPULATION_DEBUG ? (s: string) => console.error(`population ${Date.now() - started} ms: ${s}`) : () => {};
  debug(`free-balance slot ${slot}`);

  const need = new Map<Address, bigint>();
  for (const p of o.positions) need.set(p.account, (need.get(p.account) ?? 0n) + p.collateral);
  const accounts = [...need.keys()];
  const current = await rpc.batch<Hex>(accounts.map((a) => ({ method: "eth_getStorageAt", params: [o.engine, mappingKey(a, slot), "latest"] })));
  let minted = 0n;
  const setup = accounts.flatMap((a, i) => {
    minted += need.get(a)!;
    return [
      { method: "hardhat_impersonateAccount", params: [a] },
      { method: "hardhat_setBalance", params: [a, "0x8AC7230489E80000"] }, // 10 ETH of gas
      { method: "hardhat_setStorageAt", params: [o.engine, mappingKey(a, slot), word(BigInt(current[i] as Hex) + need.get(a)!)] },
    ];
  });
  await rpc.batch(setup, { chunk: 1500 });
  debug(`${accounts.length} traders set up`);

  const gas = o.gasPerOpen ?? 800_000n;
  try {
    await rpc.call("evm_setAutomine", [false]);
    await rpc.call("evm_setBlockGasLimit", [toHex(o.blockGasLimit ?? 200_000_000n)]);
    const mint = await rpc.call<Hex>("eth_sendTransaction", [
      { from: funder, to: o.token, data: encodeFunctionData({ abi: erc20Abi, functionName: "mint", args: [o.engine, minted] }) },
    ]);
    // Explicit nonce and fees: the node then need not work them out from its pending block for every transaction.
    const base = await rpc.call<{ baseFeePerGas?: Hex }>("eth_getBlockByNumber", ["pending", false]);
    const maxFeePerGas = toHex(BigInt(base.baseFeePerGas ?? "0x3b9aca00") * 4n + 10n ** 9n);
    const nonces = new Map<Address, number>();
    const nonceNow = await rpc.batch<Hex>(accounts.map((a) => ({ method: "eth_getTransactionCount", params: [a, "pending"] })));
    accounts.forEach((a, i) => nonces.set(a, Number(nonceNow[i])));
    const txs = o.positions.map((p) => {
      const nonce = nonces.get(p.account)!;
      nonces.set(p.account, nonce + 1);
      return {
        from: p.account,
        to: o.engine,
        gas: toHex(gas),
        nonce: toHex(nonce),
        maxFeePerGas,
        maxPriorityFeePerGas: "0x3b9aca00",
        data: encodeFunctionData({ abi: tidemarkEngineAbi, functionName: "modifyPosition", args: [p.market, p.size, p.collateral, p.acceptablePrice] }),
      };
    });
    // One by one, not in a batch: the node may take a batch's requests in any order, and the opening order sets each
    // position's price impact (the generator computed it along this order). A block every `perBlock` transactions
    // keeps the node's pending block small.
    const perBlock = o.perBlock ?? 200;
    const hashes: Hex[] = [];
    let blocks = 0;
    for (let i = 0; i < txs.length; i += perBlock) {
      for (const tx of txs.slice(i, i + perBlock)) hashes.push(await rpc.call<Hex>("eth_sendTransaction", [tx]));
      await mine();
      blocks++;
      debug(`${hashes.length} sent, block ${blocks} mined`);
    }
    const all = [mint, ...hashes];
    type Receipt = { status: Hex; blockNumber: Hex; gasUsed: Hex } | null;
    let receipts: Receipt[] = [];
    for (;;) {
      receipts = (await rpc.batch<Receipt>(all.map((h) => ({ method: "eth_getTransactionReceipt", params: [h] })))) as Receipt[];
      if (receipts.every((r) => r !== null)) break;
      if (blocks > 200) throw new Error(`${receipts.filter((r) => r === null).length} population transactions still pending after 200 blocks`);
      await mine();
      blocks++;
    }
    const failed = receipts.map((r, i) => (r!.status === "0x1" ? -1 : i)).filter((i) => i >= 0);
    if (failed.length > 0) {
      const i = failed[0];
      const reason = i === 0 ? "mint" : await revertReason(rpc, txs[i - 1]);
      throw new Error(`${failed.length} of ${all.length} population transactions failed; the first (${i === 0 ? "mint" : `position ${i - 1}`}): ${reason}`);
    }
    return {
      positions: o.positions.map(({ account, market }) => ({ account, market })),
      traders: accounts.length,
      blocks,
      gasUsed: receipts.reduce((s, r) => s + BigInt(r!.gasUsed), 0n),
      minted,
      ms: Date.now() - started,
    };
  } finally {
    await rpc.call("evm_setBlockGasLimit", [latest.gasLimit]);
    await rpc.call("evm_setAutomine", [automine]);
  }
}

/** The engine's error for a transaction replayed as a call at the latest block, decoded. */
async function revertReason(rpc: Rpc, tx: { from: Address; to: Address; data: Hex }): Promise<string> {
  try {
    await rpc.call("eth_call", [tx, "latest"]);
    return "succeeds when replayed (out of gas?)";
  } catch (err) {
    const data = err instanceof RpcError ? (err.data as Hex | { data?: Hex } | undefined) : undefined;
    const hex = typeof data === "string" ? data : data?.data;
    if (hex && hex.length >= 10) {
      try {
        const e = decodeErrorResult({ abi: [...tidemarkEngineAbi, ...tidemarkErrorsAbi], data: hex });
        return `${e.errorName}(${(e.args ?? []).map(String).join(", ")})`;
      } catch {
        return hex;
      }
    }
    return (err as Error).message;
  }
}
