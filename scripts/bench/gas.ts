/**
 * Gas section of `npm run bench`: the figures of gas-snapshot.json (written by `npm run gas`, production profile)
 * beside published figures of peer protocols, and the gas targets.
 */
import { readFile } from "node:fs/promises";

export type GasSnapshot = Record<string, number>;

/** A published peer figure: a single value or a range, and where it comes from. */
export type PeerFigure = { protocol: string; operation: string; low: number; high: number; source: string };

/** Tidemark's operation compared with a peer's closest equivalent. */
export type PeerComparison = { ours: string; peer: PeerFigure; why: string };

const AAVE = "Aave v3 gas report (as quoted in Tidemark issue 8)";
const COMPOUND = "Compound III (Comet) gas figures (as quoted in Tidemark issue 8)";

export const PEERS = {
  aaveLiquidationFull: { protocol: "Aave v3", operation: "liquidationCall (full)", low: 349_519, high: 349_519, source: AAVE },
  aaveLiquidationPartial: { protocol: "Aave v3", operation: "liquidationCall (partial)", low: 340_429, high: 340_429, source: AAVE },
  aaveSupply: { protocol: "Aave v3", operation: "supply", low: 139_678, high: 164_191, source: AAVE },
  aaveBorrow: { protocol: "Aave v3", operation: "borrow", low: 209_306, high: 245_394, source: AAVE },
  compoundAbsorb: { protocol: "Compound III", operation: "absorb (one account)", low: 155_000, high: 155_000, source: COMPOUND },
} satisfies Record<string, PeerFigure>;

export const COMPARISONS: PeerComparison[] = [
  { ours: "deposit", peer: PEERS.aaveSupply, why: "collateral in" },
  { ours: "openPosition", peer: PEERS.aaveBorrow, why: "taking on leverage against posted collateral" },
  { ours: "liquidateFull", peer: PEERS.aaveLiquidationFull, why: "closing an unhealthy account in full" },
  { ours: "liquidatePartial", peer: PEERS.aaveLiquidationPartial, why: "closing part of an unhealthy account" },
  { ours: "liquidateFull", peer: PEERS.compoundAbsorb, why: "protocol takes over an unhealthy account" },
  { ours: "liquidateBatchPerPosition", peer: PEERS.compoundAbsorb, why: "absorb also takes a list of accounts" },
];

/** Gas targets of issue 8 (production profile): the snapshot key and the most it may cost. */
export const GAS_TARGETS: { key: string; label: string; max: number }[] = [
  { key: "liquidateFull", label: "full liquidation", max: 120_000 },
  { key: "liquidateBatchPerPosition", label: "batch liquidation, per position at 50", max: 60_000 },
  { key: "openPosition", label: "open", max: 150_000 },
  { key: "closePosition", label: "close", max: 100_000 },
];

export async function readGasSnapshot(root: URL): Promise<GasSnapshot> {
  const snapshot = JSON.parse(await readFile(new URL("gas-snapshot.json", root), "utf8")) as GasSnapshot;
  for (const c of COMPARISONS) {
    if (!Number.isInteger(snapshot[c.ours])) throw new Error(`gas-snapshot.json has no integer "${c.ours}": run npm run gas`);
  }
  return snapshot;
}

const fmt = (n: number) => n.toLocaleString("en-US");
const ratio = (ours: number, peer: number) => (ours / peer).toFixed(2);

/** Markdown: every snapshot figure, then the peer comparison with ratios (ours / peer; below 1 is cheaper). */
export function renderGas(snapshot: GasSnapshot): string {
  const lines = [
    "| Operation | Gas |",
    "| --- | ---: |",
    ...Object.entries(snapshot).map(([k, v]) => `| \`${k}\` | ${fmt(v)} |`),
    "",
    "| Tidemark | Gas | Peer | Peer gas | Ratio (Tidemark / peer) | Why comparable |",
    "| --- | ---: | --- | ---: | ---: | --- |",
  ];
  for (const c of COMPARISONS) {
    const ours = snapshot[c.ours];
    const range = c.peer.low === c.peer.high ? fmt(c.peer.low) : `${fmt(c.peer.low)} – ${fmt(c.peer.high)}`;
    const r = c.peer.low === c.peer.high ? ratio(ours, c.peer.low) : `${ratio(ours, c.peer.high)} – ${ratio(ours, c.peer.low)}`;
    lines.push(`| \`${c.ours}\` | ${fmt(ours)} | ${c.peer.protocol} ${c.peer.operation} | ${range} | ${r} | ${c.why} |`);
  }
  return lines.join("\n");
}
