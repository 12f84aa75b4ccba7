/** The one-command demo (`npm run demo`) as a newcomer runs it: exit 0, the report, the chart. */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";

import { expect } from "chai";

import { ROOT } from "./helpers/node.js";

describe("npm run demo", function () {
  this.timeout(180_000);

  it("deploys, opens about 50 positions, crashes, and the keeper liquidates everything due; it prints the report and writes the chart", async function () {
    const run = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(
        process.execPath,
        [join(ROOT, "node_modules/hardhat/dist/src/cli.js"), "run", "scripts/demo.ts"],
        { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 },
        (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      ),
    );
    expect(run.code, run.stderr).to.equal(0);
    const out = run.stdout;
    const opened = Number(/opened (\d+) positions through the SDK/.exec(out)?.[1]);
    expect(opened).to.be.within(40, 60);
    for (const section of ["Positions before the crash", "Crash path", "Liquidations (reward", "Positions after the crash", "Summary:"]) {
      expect(out).to.include(section);
    }
    const [, total, full, partial] = /liquidations\s+(\d+) \((\d+) full, (\d+) partial\), all by the keeper/.exec(out) ?? [];
    expect(Number(total)).to.be.greaterThan(10);
    expect(Number(full) + Number(partial)).to.equal(Number(total));
    expect(Number(partial), "the path is fine enough for partial liquidations").to.be.greaterThan(0);
    expect(out).to.match(/still liquidatable\s+0\n/);
    expect(out).to.match(/insurance fund\s+[\d,.]+ -> [\d,.]+ USDC/);
    expect(out).to.match(/pool NAV\s+[\d,.]+ -> [\d,.]+ USDC/);
    const chartPath = /Chart of the price path with the liquidations marked: (.+\.svg)/.exec(out)?.[1];
    const chart = readFileSync(chartPath!, "utf8");
    expect(chart.startsWith("<svg")).to.equal(true);
    expect(chart.match(/<circle /g)?.length, "one dot per liquidation plus two in the legend").to.equal(Number(total) + 2);
  });
});
