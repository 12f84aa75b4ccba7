/**
 * The keeper's part of `npm run bench` on its own: `npm run bench:keeper` (runs under `hardhat run`). Progress lines
 * go to stderr; the figures, as JSON, to stdout. What is measured and how: scripts/bench/keeper.ts.
 */
import { benchKeeper } from "./bench/keeper.ts";

const result = await benchKeeper();
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
