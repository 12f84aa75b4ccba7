/**
 * Prometheus metrics and the health endpoint. `/metrics` serves the registry; `/healthz` answers 200 while the keeper
 * keeps up with the chain and its signer can pay for gas, 503 with the reasons otherwise.
 */
import { type Server, createServer } from "node:http";

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export type KeeperMetrics = ReturnType<typeof createMetrics>;

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "tidemark_keeper_process_" });
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
    signerBalance: new Gauge({ name: "tidemark_keeper_signer_balance", help: "Signer's native token balance (ether units)", registers: [registry] }),
  };
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
