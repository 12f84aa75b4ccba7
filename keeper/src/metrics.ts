/**
 * Prometheus metrics and the health endpoint. `/metrics` serves the registry; `/healthz` answers 200 while the keeper
 * reads the chain, keeps up with it and its signer can pay for gas, 503 with the reasons otherwise. The server is up
 * before the chain is first reached, so both answer while the RPC endpoint is down.
 *
 * Every metric is named `tidemark_keeper_*`: prom-client's default process and Node.js metrics included
 * (`tidemark_keeper_process_cpu_seconds_total`, `tidemark_keeper_nodejs_eventloop_lag_seconds`, ...).
 */
import { type Server, createServer } from "node:http";

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export type KeeperMetrics = ReturnType<typeof createMetrics>;

export const METRIC_PREFIX = "tidemark_keeper_";

/**
 * Outcomes of `tidemark_keeper_liquidation_attempts_total`, counted per position when the attempt's result is known:
 * - success: liquidated by this keeper (its PositionLiquidated event names this signer);
 * - lost: not liquidatable any more when simulated, or liquidated by another keeper first (also a transaction of ours
 *   that reverted because nothing was left to liquidate);
 * - reverted: our transaction reverted although the position was still liquidatable (out of gas, most likely);
 * - skipped: the batch's reward did not beat its gas cost by --min-profit;
 * - error: the simulation or the send failed, or another transaction of the signer took the nonce;
 * - dry_run: simulated and found worth sending, not sent (--dry-run).
 */
export const LIQUIDATION_OUTCOMES = ["success", "lost", "reverted", "skipped", "error", "dry_run"] as const;
export type LiquidationOutcome = (typeof LIQUIDATION_OUTCOMES)[number];

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX });
  const m = {
    registry,
    positionsTracked: new Gauge({ name: "tidemark_keeper_positions_tracked", help: "Open positions in the index", registers: [registry] }),
    positionsOwned: new Gauge({ name: "tidemark_keeper_positions_owned", help: "Positions this shard watches", registers: [registry] }),
    liquidatable: new Gauge({ name: "tidemark_keeper_positions_liquidatable", help: "Positions with health factor below 1 at the last scan", registers: [registry] }),
    healthFactor: new Histogram({
      name: "tidemark_keeper_health_factor",
      help: "Health factor of the watched positions at each scan",
      buckets: [0.5, 0.9, 1, 1.05, 1.1, 1.25, 1.5, 2, 3, 5, 10],
      registers: [registry],
    }),
    scanSeconds: new Histogram({
      name: "tidemark_keeper_scan_seconds",
      help: "Time to recompute every watched position's health",
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers: [registry],
    }),
    liquidationsSent: new Counter({ name: "tidemark_keeper_liquidations_sent_total", help: "Positions sent in liquidation transactions", registers: [registry] }),
    liquidationsSucceeded: new Counter({ name: "tidemark_keeper_liquidations_succeeded_total", help: "Positions this keeper liquidated", registers: [registry] }),
    liquidationsLost: new Counter({ name: "tidemark_keeper_liquidations_lost_total", help: "Positions another keeper liquidated first (lost races)", registers: [registry] }),
    transactionsFailed: new Counter({ name: "tidemark_keeper_transactions_failed_total", help: "Liquidation transactions that failed or reverted", registers: [registry] }),
    liquidationDelay: new Histogram({
      name: "tidemark_keeper_liquidation_delay_seconds",
      help: "Seconds from a position first seen liquidatable to its liquidation receipt",
      buckets: [0.5, 1, 2, 5, 10, 30, 60, 300],
      registers: [registry],
    }),
    inFlight: new Gauge({ name: "tidemark_keeper_transactions_in_flight", help: "Liquidation transactions pending", registers: [registry] }),
    headBlock: new Gauge({ name: "tidemark_keeper_head_block", help: "Last block processed", registers: [registry] }),
    headLagSeconds: new Gauge({ name: "tidemark_keeper_head_lag_seconds", help: "Seconds since the timestamp of the last processed block", registers: [registry] }),
    signerBalance: new Gauge({ name: "tidemark_keeper_signer_balance", help: "Signer's native token balance, ETH", registers: [registry] }),
    rewardsUsd: new Counter({
      name: "tidemark_keeper_rewards_usd_total",
      help: "Keeper rewards earned by this signer, USD (collateral token valued at 1 USD, as the profit check does)",
      registers: [registry],
    }),
    gasSpentEth: new Counter({
      name: "tidemark_keeper_gas_spent_eth_total",
      help: "Gas paid for this keeper's mined liquidation transactions (gas used x effective gas price), ETH",
      registers: [registry],
    }),
    rpcErrors: new Counter({
      name: "tidemark_keeper_rpc_errors_total",
      help: "Failed JSON-RPC requests by method and kind (transport: no usable answer; revert: execution reverted; node: other JSON-RPC error)",
      labelNames: ["method", "kind"] as const,
      registers: [registry],
    }),
    liquidationAttempts: new Counter({
      name: "tidemark_keeper_liquidation_attempts_total",
      help: "Positions attempted, by outcome: success, lost, reverted, skipped, error, dry_run",
      labelNames: ["outcome"] as const,
      registers: [registry],
    }),
  };
  // Every outcome is exported from the start (at 0), so rates and alerts work before the first of each.
  for (const outcome of LIQUIDATION_OUTCOMES) m.liquidationAttempts.inc({ outcome }, 0);
  return m;
}

/** What /healthz checks, read at each request. */
export type HealthCheck = () => { ok: boolean; reasons: string[] };

/** Starts the HTTP server for /metrics and /healthz; resolves once listening, with the port. */
export async function startMetricsServer(
  metrics: KeeperMetrics,
  health: HealthCheck,
  host: string,
  port: number,
): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/metrics") {
      metrics.registry
        .metrics()
        .then((text) => {
          res.writeHead(200, { "content-type": metrics.registry.contentType });
          res.end(text);
        })
        .catch((err: Error) => {
          res.writeHead(500);
          res.end(err.message);
        });
      return;
    }
    if (path === "/healthz") {
      const h = health();
      res.writeHead(h.ok ? 200 : 503, { "content-type": "application/json" });
      res.end(JSON.stringify({ ok: h.ok, reasons: h.reasons }));
      return;
    }
    res.writeHead(404);
    res.end("not found: /metrics, /healthz\n");
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  return { server, port: typeof address === "object" && address !== null ? address.port : port };
}
