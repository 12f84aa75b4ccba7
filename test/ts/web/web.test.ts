/**
 * The web example (examples/web) end to end: the page built with Vite and served by scripts/web.ts, `hardhat node` in
 * a child process with the TidemarkLocal Ignition module deployed on it, and Debian's Chromium driven headless with
 * playwright-core. The page lists the markets, mints test USDC, seeds the pool through the pool's asynchronous flow
 * (a deposit request shown pending, then claimable once the page has fulfilled it after the minimum delay, then
 * claimed; all amounts in USDC and pool shares), deposits, shows the decoded errors of a withdrawal above the free
 * balance (in USDC, with its decimals) and of an under-margined open (in USD), opens 1 ETH long with 300 USDC and
 * shows the health factor and liquidation price the lens reports at the same block, seeds the pool again with the
 * position open (the page publishing the ETH-USD price the request is priced at) and closes the position.
 *
 * Chromium: $CHROMIUM_PATH, else /usr/bin/chromium (Debian's `apt-get install chromium`); `.ci/run` installs it.
 */
import type { ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";

import { expect } from "chai";
import { encodeBytes32String } from "ethers";
import { network } from "hardhat";
import { type Browser, type Page, chromium } from "playwright-core";

import { formatHealthFactor, formatLiquidationPrice, formatWad } from "../../../examples/web/src/format.js";
import TidemarkLocalModule from "../../../ignition/modules/TidemarkLocal.js";
import { buildWeb, readDeployment, serveWeb } from "../../../scripts/web.js";
import { ROOT, freePort, startNode } from "../helpers/node.js";

const DEPLOYMENT_ID = "web-e2e";
const ETH = encodeBytes32String("ETH-USD");
const CHROMIUM_CANDIDATES = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"];

function chromiumPath(): string {
  const path = process.env.CHROMIUM_PATH ?? CHROMIUM_CANDIDATES.find((p) => existsSync(p));
  if (path === undefined || !existsSync(path)) {
    throw new Error(`No Chromium found (tried ${process.env.CHROMIUM_PATH ?? CHROMIUM_CANDIDATES.join(", ")}): install Debian's \`chromium\` or set CHROMIUM_PATH`);
  }
  return path;
}

describe("Web example in Chromium against hardhat node", function () {
  this.timeout(180_000);
  let node: ChildProcess | undefined;
  let browser: Browser | undefined;
  let server: Awaited<ReturnType<typeof serveWeb>> | undefined;
  let page: Page;
  let lens: any;
  const pageErrors: string[] = [];
  const timings: string[] = [];
  let started = 0;

  const timed = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = Date.now();
    const result = await fn();
    timings.push(`${what} ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return result;
  };

  const byTestId = (id: string) => page.locator(`[data-testid="${id}"]`);

  /** Waits until the element's text satisfies `check` (Playwright's core has no expect); fails with the last text. */
  async function textOf(id: string, check: (text: string) => boolean, what: string, timeoutMs = 30_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let last: string | null = null;
    for (;;) {
      last = await byTestId(id).first().textContent({ timeout: 1_000 }).catch(() => null);
      if (last !== null && check(last)) return last;
      if (Date.now() > deadline) {
        const error = await byTestId("error").textContent().catch(() => "");
        throw new Error(`${what}: [data-testid="${id}"] is ${JSON.stringify(last)} after ${timeoutMs} ms (page error box: ${JSON.stringify(error)}; page errors: ${pageErrors.join(" | ")})`);
      }
      await page.waitForTimeout(100);
    }
  }

  /** Clicks and waits for the action to finish; returns the activity line's final state. */
  async function act(click: () => Promise<void>): Promise<string> {
    await click(); // the page marks the activity "pending" synchronously in the handler
    await page.locator('[data-testid="activity"]:not([data-state="pending"])').waitFor({ timeout: 60_000 });
    return (await byTestId("activity").getAttribute("data-state")) ?? "";
  }

  before(async function () {
    started = Date.now();
    const executablePath = chromiumPath();
    await rm(join(ROOT, "ignition/deployments", DEPLOYMENT_ID), { recursive: true, force: true });
    await timed("vite build", () => buildWeb({ quiet: true }));
    const port = await freePort();
    node = await timed("hardhat node", () => startNode(port));
    const rpcUrl = `http://127.0.0.1:${port}`;
    const deployed = await timed("ignition deploy", async () => {
      const conn = await network.create({ network: "localhost", override: { url: rpcUrl } });
      return conn.ignition.deploy(TidemarkLocalModule, { deploymentId: DEPLOYMENT_ID });
    });
    lens = deployed.lens;
    // What an operator passes to `npm run web -- --deployment <dir>`.
    const deployment = readDeployment(join(ROOT, "ignition/deployments", DEPLOYMENT_ID));
    server = await serveWeb({ config: { rpcUrl, deployment } });
    browser = await timed("chromium launch", () =>
      chromium.launch({
        executablePath,
        headless: true,
        args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
      }),
    );
    page = await browser.newPage();
    page.on("pageerror", (err) => pageErrors.push(err.message));
    page.on("console", (msg) => {
      if (msg.type() === "error") pageErrors.push(`${msg.text()} (${msg.location().url})`);
    });
  });

  after(async function () {
    await browser?.close();
    await server?.close();
    node?.kill();
    await rm(join(ROOT, "ignition/deployments", DEPLOYMENT_ID), { recursive: true, force: true });
    timings.push(`total ${((Date.now() - started) / 1000).toFixed(1)} s`);
    console.log(`      web example timings: ${timings.join(", ")}`);
  });

  it("loads and lists both markets with their oracle prices", async function () {
    await page.goto(server!.url);
    await textOf("market-ETH-USD-price", (t) => t === "3,000.00", "ETH-USD oracle price");
    await textOf("market-BTC-USD-price", (t) => t === "60,000.00", "BTC-USD oracle price");
    expect(await byTestId("market-ETH-USD-status").textContent()).to.equal("Ok");
    expect(await byTestId("market-ETH-USD-oi-long").textContent()).to.equal("0.0000 ETH");
    expect(await byTestId("account-warning").textContent()).to.match(/never use it on a real network/);
    expect(await byTestId("no-positions").isVisible()).to.equal(true);
  });

  /** The pool request log's entries as [state, text]. */
  const lpLog = async () =>
    Promise.all(
      (await page.locator('[data-testid="lp-request-log"] li').all()).map(async (li) => [(await li.getAttribute("data-state")) ?? "", (await li.textContent()) ?? ""] as const),
    );
  const ISO = "\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d{3}Z";

  it("mints test USDC, seeds the pool (request pending, claimable, claimed) and deposits, every token amount with its symbol", async function () {
    expect(await act(() => byTestId("mint").click())).to.equal("done");
    await textOf("wallet-balance", (t) => t === "10,000.00 USDC", "wallet balance after the mint");
    expect(await byTestId("lp-request").getAttribute("data-state")).to.equal("none");
    expect(await timed("seed the pool (request, 2 s delay, fulfil, claim)", () => act(() => byTestId("seed-pool").click()))).to.equal("done");
    // The request went through its three states, in order, each shown in USDC and pool shares.
    const log = await lpLog();
    expect(log.map(([state]) => state)).to.deep.equal(["pending", "claimable", "claimed"]);
    expect(log[0][1]).to.match(new RegExp(`^pending: Deposit request of 1,000,000\\.50 USDC pending \\(execution fee 0\\.50 USDC\\): fulfillable from ${ISO}$`));
    expect(log[1][1]).to.equal(
      "claimable: 1,000,000.00 pool shares claimable for 1,000,000.00 USDC: fulfilled by this page, no market has open interest, " +
        "so no price update was needed; its 0.50 USDC execution fee came back to it",
    );
    expect(log[2][1]).to.equal("claimed: Claimed 1,000,000.00 pool shares for 1,000,000.00 USDC");
    expect(await byTestId("lp-request").getAttribute("data-state")).to.equal("claimed");
    expect(await byTestId("lp-request").textContent()).to.equal("Claimed 1,000,000.00 pool shares for 1,000,000.00 USDC");
    await textOf("pool-nav", (t) => t === "1,000,000.00 USDC", "pool NAV after seeding");
    await textOf("lp-shares", (t) => t === "1,000,000.00 pool shares (1,000,000.00 USDC)", "the page's pool shares");
    // The 0.50 USDC fee the request carried came back to the page as its fulfiller.
    await textOf("wallet-balance", (t) => t === "10,000.50 USDC", "wallet balance after seeding");
    await byTestId("deposit-amount").fill("300");
    expect(await act(() => byTestId("deposit-submit").click())).to.equal("done");
    await textOf("free-balance", (t) => t === "300.00 USDC", "free balance after the deposit");
    await textOf("wallet-balance", (t) => t === "9,700.50 USDC", "wallet balance after the deposit");
  });

  it("shows a withdrawal above the free balance as the SDK's decoded error in USDC with its decimals", async function () {
    const account = (await byTestId("account-address").textContent())!;
    await byTestId("withdraw-amount").fill("1000");
    expect(await act(() => byTestId("withdraw-submit").click())).to.equal("failed");
    expect(await byTestId("error").getAttribute("data-error-name")).to.equal("PerpInsufficientFreeBalance");
    expect(await byTestId("error").textContent()).to.equal(
      `PerpInsufficientFreeBalance: The free balance of ${account} is 300.00 USDC; 1,000.00 USDC needed.`,
    );
    // One token unit more than the free balance: both amounts with all 6 decimals, so they do not read the same.
    await byTestId("withdraw-amount").fill("300.000001");
    expect(await act(() => byTestId("withdraw-submit").click())).to.equal("failed");
    expect(await byTestId("error").textContent()).to.equal(
      `PerpInsufficientFreeBalance: The free balance of ${account} is 300.000000 USDC; 300.000001 USDC needed.`,
    );
    // More decimals than the token has: refused by the page before any call.
    await byTestId("withdraw-amount").fill("1.0000001");
    expect(await act(() => byTestId("withdraw-submit").click())).to.equal("failed");
    expect(await byTestId("error").textContent()).to.equal('Withdraw: USDC has 6 decimals, got "1.0000001"');
    await textOf("free-balance", (t) => t === "300.00 USDC", "free balance after the refused withdrawals");
  });

  it("shows the SDK's decoded error when the collateral is too small", async function () {
    await byTestId("trade-market").selectOption("ETH-USD");
    await byTestId("trade-side").selectOption("long");
    await byTestId("trade-size").fill("1");
    await byTestId("trade-collateral").fill("10");
    await byTestId("trade-slippage").fill("50");
    expect(await act(() => byTestId("trade-submit").click())).to.equal("failed");
    expect(await byTestId("error").getAttribute("data-error-name")).to.equal("PerpInsufficientMargin");
    const text = (await byTestId("error").textContent())!;
    // WAD USD values: 2 digits with separators (the 1 % initial margin of about 3,000 USD of notional).
    const m = /^PerpInsufficientMargin: Market ETH-USD: the equity of ([\d,]+\.\d{2,}) USD would be below the required margin of ([\d,]+\.\d{2,}) USD\.$/.exec(text);
    expect(m, text).to.not.equal(null);
    expect(m![1]).to.not.equal(m![2]);
    expect(Number(m![2].replace(/,/g, ""))).to.be.within(29, 32);
    expect(await byTestId("no-positions").isVisible()).to.equal(true);
  });

  it("opens 1 ETH long with 300 USDC and shows the health factor and liquidation price the lens reports", async function () {
    await byTestId("trade-collateral").fill("300");
    expect(await act(() => byTestId("trade-submit").click())).to.equal("done");
    expect(await byTestId("error").textContent()).to.equal("");
    await textOf("position-ETH-USD-size", (t) => t === "1.0000", "position size");
    await textOf("position-ETH-USD-level", (t) => t === "healthy", "watchHealth level");
    expect(await byTestId("position-ETH-USD-side").textContent()).to.equal("long");
    await textOf("free-balance", (t) => t === "0.00 USDC", "free balance after the open");

    // Compare with the lens at the block the page read.
    const account = (await byTestId("account-address").textContent())!;
    const block = Number(await byTestId("position-ETH-USD").getAttribute("data-block"));
    const h = await lens.positionHealth(account, ETH, { blockTag: block });
    const hfText = await byTestId("position-ETH-USD-hf").textContent();
    const liqText = await byTestId("position-ETH-USD-liq").textContent();
    expect(hfText).to.equal(formatHealthFactor(h.healthFactor));
    expect(await byTestId("position-ETH-USD-hf").getAttribute("data-wad")).to.equal(h.healthFactor.toString());
    expect(liqText).to.equal(formatLiquidationPrice(h.liquidationPrice));
    expect(await byTestId("position-ETH-USD-liq").getAttribute("data-wad")).to.equal(h.liquidationPrice.toString());
    expect(await byTestId("position-ETH-USD-equity").textContent()).to.equal(formatWad(h.equity));
    // 300 USDC on 3,000 USD notional with a 0.5% maintenance margin (15 USD): a health factor near 20, liquidated
    // after a fall of about 9.5%.
    expect(Number(hfText)).to.be.within(19, 20);
    expect(Number(liqText!.replace(/,/g, ""))).to.be.within(2_700, 2_730);
  });

  it("seeds the pool again with the position open: the page publishes the ETH-USD price the request is priced at", async function () {
    expect(await act(() => byTestId("seed-pool").click())).to.equal("done");
    const log = (await lpLog()).slice(3);
    expect(log.map(([state]) => state)).to.deep.equal(["pending", "claimable", "claimed"]);
    // The NAV includes the opening fee and the position's mark to market: a little under one share per USDC.
    const m = /^claimable: ([\d,]+\.\d{2}) pool shares claimable for 1,000,000\.00 USDC: fulfilled by this page, priced with 1 local Pyth price update \(ETH-USD\); its 0\.50 USDC execution fee came back to it$/.exec(log[1][1]);
    expect(m, log[1][1]).to.not.equal(null);
    expect(Number(m![1].replace(/,/g, ""))).to.be.within(999_990, 1_000_000);
    expect(log[2][1]).to.equal(`claimed: Claimed ${m![1]} pool shares for 1,000,000.00 USDC`);
    await textOf("wallet-balance", (t) => t === "9,701.00 USDC", "wallet balance after the second seed");
    expect(await byTestId("error").textContent()).to.equal("");
  });

  it("closes it: the collateral and PnL return to the free balance", async function () {
    expect(await act(() => byTestId("position-ETH-USD-close").click())).to.equal("done");
    await page.locator('[data-testid="no-positions"]:visible').waitFor({ timeout: 30_000 });
    // 300 less the opening and closing taker fees (5 bp of 3,000 USD each) and the price impact.
    const freeText = await textOf("free-balance", (t) => t !== "0.00 USDC", "free balance after the close");
    expect(freeText).to.match(/^[\d,]+\.\d{2} USDC$/);
    const free = Number(freeText.replace(/,/g, "").replace(" USDC", ""));
    expect(free).to.be.within(296, 300);
    expect(await byTestId("market-ETH-USD-oi-long").textContent()).to.equal("0.0000 ETH");
    expect(pageErrors, pageErrors.join("\n")).to.deep.equal([]);
  });
});
