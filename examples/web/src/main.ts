/**
 * Tidemark in the browser with @tidemark/sdk and viem, no framework: the markets, a local test account's balances,
 * deposit, withdraw and open/close forms, and the account's positions with health factor and liquidation price,
 * refreshed at every new block and with the SDK's watchHealth for the margin level. Token amounts show with the
 * collateral token's decimals and symbol ("1,000.00 USDC"), errors with the SDK's decoded message in the same units.
 * On the local deployment a button adds pool liquidity through the pool's asynchronous (ERC-7540) flow, the page
 * acting as the fulfiller: request, wait out the minimum delay, fulfil at local Pyth prices, claim.
 *
 * It signs with a local private key (Hardhat's public test account #2 by default) and refuses to sign on any chain but
 * a local development chain: never put a real key into this page.
 */
import {
  type GetMarketsReturnType,
  type GetPoolAccount,
  type GetPoolReturnType,
  type GetPositionReturnType,
  type HealthLevel,
  type LpClaimable,
  type LpPendingRequest,
  type MarketId,
  TidemarkContractError,
  type TokenUnits,
  buildLocalPriceUpdates,
  claimDeposit,
  closePosition,
  deposit,
  formatPoolShares,
  fulfillLpRequests,
  getFreeBalance,
  getLpRequests,
  getMarkets,
  getPool,
  getPosition,
  marketId,
  openPosition,
  requestDeposit,
  watchHealth,
  withdraw,
} from "@tidemark/sdk";
import { type Address, type Hash, createClient, defineChain, erc20Abi, http, parseAbi, parseUnits } from "viem";
import { privateKeyToAccount } from "viem/accounts";
// Plain clients with the actions imported one by one (not viem's decorated public and wallet clients): the bundle
// carries only what the page uses.
import { getBlock, getBlockNumber, getChainId, readContract, waitForTransactionReceipt, watchBlockNumber, writeContract } from "viem/actions";

import { LOCAL_CHAIN_IDS, type PageConfig, loadConfig } from "./config.js";
import { formatHealthFactor, formatLiquidationPrice, formatRatePerDay, formatToken, formatWad } from "./format.js";

/** The mock token's open mint (MockERC20 in the local deployment). */
const mockTokenAbi = parseAbi(["function mint(address to, uint256 amount)"]);

/* ----------------------------------------------------------------------------------------------- tiny DOM helper */

type Attrs = Record<string, string | boolean | undefined>;
type Child = Node | string;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (name === "testid") node.setAttribute("data-testid", value as string);
    else node.setAttribute(name, value === true ? "" : value);
  }
  node.append(...children);
  return node;
}

const byId = (id: string) => document.getElementById(id)!;
const statusLine = byId("status");

/* ------------------------------------------------------------------------------------------------------ startup */

async function main(): Promise<void> {
  let config: PageConfig;
  try {
    config = await loadConfig();
  } catch (err) {
    statusLine.textContent = errorText(err);
    statusLine.setAttribute("data-state", "unconfigured");
    return;
  }
  const { rpcUrl, addresses } = config;
  const transport = http(rpcUrl, { retryCount: 0 });
  const chainId = await getChainId(createClient({ transport }));
  const chain = defineChain({
    id: chainId,
    name: `Local chain ${chainId}`,
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  });
  const publicClient = createClient({ chain, transport, pollingInterval: 1_000, cacheTime: 0 });
  const account = privateKeyToAccount(config.privateKey);
  // The key is a public test key (or whatever the URL passed): sign only on a local development chain.
  const canSign = LOCAL_CHAIN_IDS.includes(chainId);
  const wallet = createClient({ chain, transport, account, pollingInterval: 1_000, cacheTime: 0 });

  const token: Address =
    addresses.collateralToken ??
    (await readContract(publicClient, { address: addresses.engine, abi: parseAbi(["function collateralToken() view returns (address)"]), functionName: "collateralToken" }));
  const [decimals, tokenSymbol] = await Promise.all([
    readContract(publicClient, { address: token, abi: erc20Abi, functionName: "decimals" }),
    readContract(publicClient, { address: token, abi: erc20Abi, functionName: "symbol" }),
  ]);
  /** The collateral token's units: every token amount on the page, and in its errors, reads "1,234.56 USDC". */
  const tokenUnits: TokenUnits = { symbol: tokenSymbol, decimals };
  pageUnits = tokenUnits;
  /** A token amount typed by the user, in token units; refuses what the token cannot represent. */
  const units = (text: string, what: string) => {
    const t = text.trim();
    if (!/^\d+(\.\d+)?$/.test(t)) throw new Error(`${what}: enter a positive number, got "${text}"`);
    const fraction = t.split(".")[1] ?? "";
    if (fraction.length > decimals) throw new Error(`${what}: ${tokenSymbol} has ${decimals} decimals, got "${text}"`);
    return parseUnits(t, decimals);
  };

  /* ----------------------------------------------------------------------------------------------- skeleton */

  const marketsBody = el("tbody");
  const marketsSection = el(
    "section",
    {},
    el("h2", {}, "Markets"),
    el(
      "table",
      { testid: "markets" },
      el(
        "thead",
        {},
        el("tr", {}, ...["Market", "Oracle price (USD)", "Oracle status", "Open interest long", "Open interest short", "Funding rate"].map((h) => el("th", {}, h))),
      ),
      marketsBody,
    ),
  );

  const walletBalance = el("dd", { testid: "wallet-balance" }, "…");
  const freeBalance = el("dd", { testid: "free-balance" }, "…");
  const poolNav = el("dd", { testid: "pool-nav" }, "…");
  const poolAvailable = el("dd", { testid: "pool-available" }, "…");
  const lpShares = el("dd", { testid: "lp-shares" }, "…");
  // The page's pool deposit request: none → pending → claimable → claimed, each step also logged below it.
  const lpRequest = el("dd", { testid: "lp-request", "data-state": "none" }, "none");
  const lpLog = el("ol", { testid: "lp-request-log", class: "muted" });
  const mintButton = el("button", { type: "button", class: "secondary", testid: "mint" }, `Mint 10,000 test ${tokenSymbol}`);
  const seedButton = el("button", { type: "button", class: "secondary", testid: "seed-pool" }, `Add 1,000,000 test ${tokenSymbol} to the pool`);
  const depositAmount = el("input", { testid: "deposit-amount", inputmode: "decimal", value: "1000" });
  const depositForm = el(
    "form",
    { testid: "deposit-form" },
    el("label", {}, `Deposit (${tokenSymbol})`, depositAmount),
    el("button", { type: "submit", testid: "deposit-submit" }, "Deposit"),
  );
  const withdrawAmount = el("input", { testid: "withdraw-amount", inputmode: "decimal", value: "100" });
  const withdrawForm = el(
    "form",
    { testid: "withdraw-form" },
    el("label", {}, `Withdraw from the free balance (${tokenSymbol})`, withdrawAmount),
    el("button", { type: "submit", class: "secondary", testid: "withdraw-submit" }, "Withdraw"),
  );
  const accountSection = el(
    "section",
    {},
    el("h2", {}, "Account"),
    el(
      "p",
      { class: "warning", testid: "account-warning" },
      canSign
        ? "Local test account (a public Hardhat key): never use it on a real network."
        : `Chain ${chainId} is not a local development chain: this page signs only on chain ids ${LOCAL_CHAIN_IDS.join(", ")}. Read-only.`,
    ),
    el(
      "dl",
      {},
      el("dt", {}, "Address"),
      el("dd", {}, el("code", { testid: "account-address" }, account.address)),
      el("dt", {}, "Wallet"),
      walletBalance,
      el("dt", {}, "Free balance in the engine"),
      freeBalance,
      el("dt", {}, "Pool NAV"),
      poolNav,
      el("dt", {}, "Pool available liquidity"),
      poolAvailable,
      el("dt", {}, "Your pool shares"),
      lpShares,
      el("dt", {}, "Your pool deposit request"),
      el("div", {}, lpRequest, lpLog),
    ),
    config.mockToken ? el("div", { class: "row" }, mintButton, seedButton, el("span", { class: "muted" }, "local mock token: anyone may mint it")) : "",
    el("div", { class: "row" }, depositForm, withdrawForm),
  );

  const tradeMarket = el("select", { testid: "trade-market" });
  const tradeSide = el("select", { testid: "trade-side" }, el("option", { value: "long" }, "Long"), el("option", { value: "short" }, "Short"));
  const tradeSize = el("input", { testid: "trade-size", inputmode: "decimal", value: "1" });
  const tradeCollateral = el("input", { testid: "trade-collateral", inputmode: "decimal", value: "300" });
  const tradeSlippage = el("input", { testid: "trade-slippage", inputmode: "numeric", value: "50" });
  const tradeDepositFirst = el("input", { type: "checkbox", testid: "trade-deposit-first", checked: true });
  const tradeForm = el(
    "form",
    { testid: "trade-form" },
    el("label", {}, "Market", tradeMarket),
    el("label", {}, "Side", tradeSide),
    el("label", {}, "Size (base units)", tradeSize),
    el("label", {}, `Collateral (${tokenSymbol})`, tradeCollateral),
    el("label", {}, "Slippage (bps)", tradeSlippage),
    el("label", { class: "inline" }, tradeDepositFirst, "deposit what the free balance lacks first"),
    el("button", { type: "submit", testid: "trade-submit" }, "Open position"),
  );
  const tradeSection = el("section", {}, el("h2", {}, "Open a position"), tradeForm);
  // Progress and errors of every action (deposit, withdraw, trade, close), between the forms and the positions.
  const activity = el("div", { id: "activity", testid: "activity" });
  const errorBox = el("div", { id: "error", testid: "error", role: "alert" });
  const activitySection = el("section", {}, el("h2", {}, "Activity"), activity, errorBox);

  const positionsBody = el("tbody");
  const noPositions = el("p", { class: "muted", testid: "no-positions" }, "No open position.");
  const positionsSection = el(
    "section",
    {},
    el("h2", {}, "Positions"),
    el(
      "table",
      { testid: "positions" },
      el(
        "thead",
        {},
        el(
          "tr",
          {},
          ...["Market", "Side", "Size", "Entry price", "Collateral (USD)", "Equity (USD)", "Health factor", "Liquidation price", "Level", ""].map((h) => el("th", {}, h)),
        ),
      ),
      positionsBody,
    ),
    noPositions,
  );
  byId("app").append(marketsSection, accountSection, tradeSection, activitySection, positionsSection);

  const actionButtons = () => [...document.querySelectorAll<HTMLButtonElement>("button")];
  for (const b of actionButtons()) b.disabled = !canSign;

  /* ------------------------------------------------------------------------------------------------ refresh */

  let markets: GetMarketsReturnType = [];
  const levels = new Map<string, HealthLevel>();
  let positions: GetPositionReturnType[] = [];
  let busy = false;

  const renderMarkets = () => {
    marketsBody.replaceChildren(
      ...markets.map((m) => {
        const base = m.symbol.split("-")[0];
        const cell = (name: string, text: string) => el("td", { testid: `market-${m.symbol}-${name}` }, text);
        return el(
          "tr",
          { testid: `market-${m.symbol}` },
          el("td", {}, m.symbol),
          cell("price", m.oraclePrice === 0n ? "—" : formatWad(m.oraclePrice)),
          cell("status", m.oracleStatus + (m.paused ? ", paused" : "")),
          cell("oi-long", `${formatWad(m.openInterest.long, 4)} ${base}`),
          cell("oi-short", `${formatWad(m.openInterest.short, 4)} ${base}`),
          cell("funding", formatRatePerDay(m.funding.ratePerDay)),
        );
      }),
    );
    if (tradeMarket.options.length === 0) tradeMarket.append(...markets.map((m) => el("option", { value: m.symbol }, m.symbol)));
  };

  const renderPositions = () => {
    const open = positions.filter((p) => p.exists);
    noPositions.hidden = open.length > 0;
    positionsBody.replaceChildren(
      ...open.map((p) => {
        const symbol = markets.find((m) => m.id === p.market)?.symbol ?? p.market;
        const h = p.health;
        const cell = (name: string, text: string, wad?: bigint) =>
          el("td", { testid: `position-${symbol}-${name}`, "data-wad": wad === undefined ? undefined : wad.toString() }, text);
        const level = levels.get(symbol) ?? "…";
        const close = el("button", { type: "button", class: "secondary", testid: `position-${symbol}-close` }, "Close");
        close.disabled = busy || !canSign;
        close.addEventListener("click", () => act(`Closing ${symbol}`, async () => {
          const r = await closePosition(wallet, { addresses, market: p.market, slippageBps: 100n });
          return confirm(r.hash);
        }));
        return el(
          "tr",
          { testid: `position-${symbol}`, "data-block": p.blockNumber.toString() },
          el("td", {}, symbol),
          cell("side", p.stored.size > 0n ? "long" : "short"),
          cell("size", formatWad(p.stored.size < 0n ? -p.stored.size : p.stored.size, 4), p.stored.size),
          cell("entry", formatWad(p.stored.entryPrice), p.stored.entryPrice),
          cell("collateral", h ? formatWad(h.collateral) : "—", h?.collateral),
          cell("equity", h ? formatWad(h.equity) : "—", h?.equity),
          cell("hf", h ? formatHealthFactor(h.healthFactor) : "—", h?.healthFactor),
          cell("liq", h ? formatLiquidationPrice(h.liquidationPrice) : "—", h?.liquidationPrice),
          el("td", { testid: `position-${symbol}-level`, class: `level-${level}` }, level),
          el("td", {}, close),
        );
      }),
    );
  };

  /* ----------------------------------------------------------------------------------- the LP request's state */

  const shares = (x: bigint) => formatPoolShares(x, tokenUnits);
  const utc = (t: bigint) => new Date(Number(t) * 1000).toISOString();
  const pendingText = (r: LpPendingRequest) =>
    `Deposit request of ${formatToken(r.amount, tokenUnits)} pending (execution fee ${formatToken(r.fee, tokenUnits)}): fulfillable from ${utc(r.readyAt)}`;
  const claimableText = (c: LpClaimable) => `${shares(c.shares)} claimable for ${formatToken(c.assets, tokenUnits)}`;
  /** While the page runs the flow it owns the state; otherwise the chain's (a reload mid-flow shows where it stands). */
  let lpFlowRunning = false;
  const showLp = (state: "pending" | "claimable" | "claimed", text: string, log = true) => {
    lpRequest.textContent = text;
    lpRequest.setAttribute("data-state", state);
    if (log) lpLog.append(el("li", { "data-state": state }, `${state}: ${text}`));
  };
  const renderLp = (a: GetPoolAccount) => {
    lpShares.textContent = `${shares(a.shares)} (${formatToken(a.assets, tokenUnits)})`;
    if (lpFlowRunning) return;
    if (a.pendingDeposit !== null) showLp("pending", pendingText(a.pendingDeposit), false);
    else if (a.claimableDeposit.shares !== 0n) showLp("claimable", claimableText(a.claimableDeposit), false);
  };

  const renderAccount = (free: bigint, held: bigint, pool: GetPoolReturnType) => {
    walletBalance.textContent = formatToken(held, tokenUnits);
    freeBalance.textContent = formatToken(free, tokenUnits);
    poolNav.textContent = formatToken(pool.totalAssets, tokenUnits);
    poolAvailable.textContent = formatToken(pool.availableLiquidity, tokenUnits);
    if (pool.account !== undefined) renderLp(pool.account);
  };

  /** Everything at one block, so the numbers on screen are consistent with each other. */
  const refreshOnce = async () => {
    const blockNumber = await getBlockNumber(publicClient, { cacheTime: 0 });
    const [m, free, held, pool] = await Promise.all([
      getMarkets(publicClient, { addresses, blockNumber }),
      getFreeBalance(publicClient, { addresses, account: account.address, blockNumber }),
      readContract(publicClient, { address: token, abi: erc20Abi, functionName: "balanceOf", args: [account.address], blockNumber }),
      getPool(publicClient, { addresses, account: account.address, blockNumber }),
    ]);
    positions = await Promise.all(m.map((x) => getPosition(publicClient, { addresses, account: account.address, market: x.id, blockNumber })));
    markets = m;
    renderMarkets();
    renderAccount(free, held, pool);
    renderPositions();
    statusLine.textContent = `Chain ${chainId} at block ${blockNumber} · RPC ${rpcUrl} · engine ${addresses.engine}`;
    statusLine.setAttribute("data-state", "ready");
    statusLine.setAttribute("data-block", blockNumber.toString());
  };

  let refreshing: Promise<void> | undefined;
  let again = false;
  const refresh = (): Promise<void> => {
    if (refreshing) {
      again = true;
      return refreshing;
    }
    refreshing = (async () => {
      do {
        again = false;
        try {
          await refreshOnce();
        } catch (err) {
          statusLine.textContent = `Refresh failed (retrying at the next block): ${errorText(err)}`;
          statusLine.setAttribute("data-state", "error");
        }
      } while (again);
    })().finally(() => (refreshing = undefined));
    return refreshing;
  };

  /* ------------------------------------------------------------------------------------------------ actions */

  /** Waits for a transaction and fails when it reverted. */
  const confirm = async (hash: Hash) => {
    const receipt = await waitForTransactionReceipt(publicClient, { hash });
    if (receipt.status !== "success") throw new Error(`Transaction ${hash} reverted`);
    return hash;
  };

  /** Runs one user action: buttons disabled meanwhile, progress in the activity line, errors decoded. */
  async function act(label: string, fn: () => Promise<string | void>): Promise<void> {
    if (busy) return;
    busy = true;
    for (const b of actionButtons()) b.disabled = true;
    errorBox.textContent = "";
    errorBox.removeAttribute("data-error-name");
    activity.textContent = `${label}…`;
    activity.setAttribute("data-state", "pending");
    try {
      const hash = await fn();
      activity.textContent = `${label}: done${hash ? ` (${hash})` : ""}`;
      activity.setAttribute("data-state", "done");
    } catch (err) {
      activity.textContent = `${label}: failed`;
      activity.setAttribute("data-state", "failed");
      errorBox.textContent = errorText(err);
      const name = (err as { errorName?: unknown }).errorName;
      if (typeof name === "string") errorBox.setAttribute("data-error-name", name);
    } finally {
      busy = false;
      for (const b of actionButtons()) b.disabled = !canSign;
      await refresh();
    }
  }

  mintButton.addEventListener("click", () =>
    act(`Minting 10,000 test ${tokenSymbol}`, async () => {
      const hash = await writeContract(wallet, { address: token, abi: mockTokenAbi, functionName: "mint", args: [account.address, parseUnits("10000", decimals)] });
      return confirm(hash);
    }),
  );

  /**
   * Until the chain's latest block is at `t` or later: fulfilments are simulated at the latest block, and a local
   * chain mines only when it is sent something. Waits out the time by the clock, then mines empty blocks (evm_mine, a
   * local development chain's method) until one is late enough.
   */
  const untilChainTime = async (t: bigint) => {
    for (let attempt = 0; ; attempt++) {
      const latest = (await getBlock(publicClient, { blockTag: "latest" })).timestamp;
      if (latest >= t) return;
      if (attempt >= 30) throw new Error(`The chain's time did not reach ${utc(t)} (latest block at ${utc(latest)})`);
      await new Promise((resolve) => setTimeout(resolve, attempt === 0 ? Number(t - latest) * 1_000 : 1_000));
      await publicClient.request({ method: "evm_mine" } as never);
    }
  };

  seedButton.addEventListener("click", () => {
    const label = `Adding 1,000,000 test ${tokenSymbol} to the pool`;
    void act(label, async () => {
      lpFlowRunning = true;
      try {
        const assets = parseUnits("1000000", decimals);
        // The request carries the execution fee on top; this page fulfils it itself, so the fee comes back to it.
        const { executionFee } = await getPool(publicClient, { addresses });
        await confirm(await writeContract(wallet, { address: token, abi: mockTokenAbi, functionName: "mint", args: [account.address, assets + executionFee] }));
        await confirm((await requestDeposit(wallet, { addresses, assets: assets + executionFee })).hash);
        const pending = (await getLpRequests(publicClient, { addresses, account: account.address })).pendingDeposit!;
        showLp("pending", pendingText(pending));

        // The fulfiller's part (a keeper's on a real network): after the minimum delay, the NAV at the first Pyth
        // prices published then, here this page's own MockPyth updates at the Chainlink prices.
        activity.textContent = `${label}: waiting for the minimum delay (until ${utc(pending.readyAt)})…`;
        await untilChainTime(pending.readyAt);
        const priceUpdate = await buildLocalPriceUpdates(publicClient, { addresses, publishTime: pending.readyAt });
        const priced = (await getMarkets(publicClient, { addresses }))
          .filter((m) => m.openInterest.long !== 0n || m.openInterest.short !== 0n)
          .map((m) => m.symbol);
        activity.textContent = `${label}: fulfilling…`;
        await confirm((await fulfillLpRequests(wallet, { addresses, requests: [{ controller: account.address, kind: "deposit", priceUpdate }] })).hash);
        const { claimableDeposit } = await getLpRequests(publicClient, { addresses, account: account.address });
        const how =
          priceUpdate.length === 0
            ? "no market has open interest, so no price update was needed"
            : `priced with ${priceUpdate.length} local Pyth price update${priceUpdate.length === 1 ? "" : "s"} (${priced.join(", ")})`;
        showLp("claimable", `${claimableText(claimableDeposit)}: fulfilled by this page, ${how}; its ${formatToken(pending.fee, tokenUnits)} execution fee came back to it`);

        activity.textContent = `${label}: claiming…`;
        const claimed = await claimDeposit(wallet, { addresses });
        await confirm(claimed.hash);
        showLp("claimed", `Claimed ${shares(claimed.result.shares)} for ${formatToken(claimed.result.assets, tokenUnits)}`);
        return claimed.hash;
      } finally {
        lpFlowRunning = false;
      }
    });
  });

  depositForm.addEventListener("submit", (event) => {
    event.preventDefault();
    void act("Depositing", async () => {
      const r = await deposit(wallet, { addresses, amount: units(depositAmount.value, "Deposit") });
      return confirm(r.hash);
    });
  });

  withdrawForm.addEventListener("submit", (event) => {
    event.preventDefault();
    void act("Withdrawing", async () => {
      // Simulated first: more than the free balance fails with PerpInsufficientFreeBalance in USDC, nothing sent.
      const r = await withdraw(wallet, { addresses, amount: units(withdrawAmount.value, "Withdraw") });
      return confirm(r.hash);
    });
  });

  tradeForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const symbol = tradeMarket.value;
    const side = tradeSide.value === "short" ? "short" : "long";
    void act(`Opening ${symbol} ${side} ${tradeSize.value}`, async () => {
      if (!/^\d+(\.\d+)?$/.test(tradeSize.value.trim())) throw new Error(`Size: enter a positive number, got "${tradeSize.value}"`);
      if (!/^\d+$/.test(tradeSlippage.value.trim())) throw new Error(`Slippage: enter whole basis points, got "${tradeSlippage.value}"`);
      const market: MarketId = marketId(symbol);
      const size = parseUnits(tradeSize.value.trim(), 18);
      const collateral = units(tradeCollateral.value, "Collateral");
      if (tradeDepositFirst.checked) {
        const free = await getFreeBalance(publicClient, { addresses, account: account.address });
        if (collateral > free) {
          activity.textContent = `Depositing ${formatToken(collateral - free, tokenUnits)}…`;
          await confirm((await deposit(wallet, { addresses, amount: collateral - free })).hash);
          activity.textContent = `Opening ${symbol} ${side} ${tradeSize.value}…`;
        }
      }
      const r = await openPosition(wallet, { addresses, market, side, size, collateral, slippageBps: BigInt(tradeSlippage.value.trim()) });
      return confirm(r.hash);
    });
  });

  /* ------------------------------------------------------------------------------------------------ watchers */

  await refresh();
  watchBlockNumber(publicClient, { onBlockNumber: () => void refresh(), onError: () => undefined, pollingInterval: 1_000 });
  for (const m of markets) {
    watchHealth(publicClient, {
      addresses,
      account: account.address,
      market: m.id,
      onChange: ({ level }) => {
        levels.set(m.symbol, level);
        const cell = document.querySelector(`[data-testid="position-${m.symbol}-level"]`);
        if (cell) {
          cell.textContent = level;
          cell.className = `level-${level}`;
        }
      },
    });
  }
}

/** The collateral token's units once the page has read them: errors show token amounts in them. */
let pageUnits: TokenUnits | undefined;

/**
 * The SDK's decoded message for contract errors (viem's shortMessage shape), the message otherwise. A decoded error
 * with token amounts but without units (the SDK could not read them) gets the page's: "1,000.00 USDC", never raw.
 */
function errorText(err: unknown): string {
  if (err instanceof TidemarkContractError) {
    return (err.units === undefined && err.hasTokenAmounts && pageUnits !== undefined ? err.withContext({ units: pageUnits }) : err).shortMessage;
  }
  if (err instanceof Error) {
    const short = (err as { shortMessage?: unknown }).shortMessage;
    return typeof short === "string" && short.length > 0 ? short : err.message;
  }
  return String(err);
}

main().catch((err) => {
  statusLine.textContent = `Failed to start: ${errorText(err)}`;
  statusLine.setAttribute("data-state", "error");
});
