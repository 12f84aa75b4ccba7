/**
 * Typed revert decoding: every custom error the protocol can revert with decodes into a TidemarkContractError with its
 * name, arguments and a readable message; anything else becomes an UnknownRevertError with its raw data, and failures
 * that are not reverts pass through untouched.
 */
import { expect } from "chai";
import { network } from "hardhat";
import {
  type Address,
  type EIP1193RequestFn,
  type Hex,
  ContractFunctionExecutionError,
  ContractFunctionRevertedError,
  HttpRequestError,
  UserRejectedRequestError,
  concat,
  createPublicClient,
  createWalletClient,
  custom,
  encodeAbiParameters,
  encodeErrorResult,
  numberToHex,
  size,
  keccak256,
  stringToHex,
  toFunctionSelector,
} from "viem";
import { hardhat } from "viem/chains";

import {
  InvalidParameterError,
  TidemarkContractError,
  TidemarkError,
  type TokenUnits,
  UnknownRevertError,
  decodeTidemarkRevert,
  deposit,
  describeTidemarkError,
  formatDecimal,
  formatDuration,
  formatPercent,
  formatTokenAmount,
  formatUsd,
  getFreeBalance,
  insuranceFundAbi,
  liquidityPoolAbi,
  marketBaseSymbol,
  marketId,
  modifyPosition,
  openPosition,
  tidemarkEngineAbi,
  tidemarkErrorsAbi,
  tidemarkLensAbi,
  toTidemarkError,
  withDecodedErrors,
  withdraw,
} from "../../../sdk/src/index.js";
import { deployProtocol, deployProtocolOn, usd, wad } from "../helpers/fixture.js";
import { type Protocol, addr, sdkClients } from "./helpers.js";

const conn = await network.create();
const { ethers, networkHelpers } = conn;

const ETH_ID = marketId("ETH-USD");
const ERRORS = tidemarkErrorsAbi.filter((x): x is Extract<(typeof tidemarkErrorsAbi)[number], { type: "error" }> => x.type === "error");

async function protocolFixture() {
  return deployProtocol(ethers);
}

/** A sample value of an ABI type: a typical one, or the extreme of its range (the largest uint, the most negative int). */
function sample(type: string, index: number, extreme: boolean): unknown {
  if (type === "address") return extreme ? `0x${"ff".repeat(20)}` : `0x${(index + 1).toString(16).padStart(2, "0").repeat(20)}`;
  if (type === "bool") return !extreme;
  if (type === "bytes32") return extreme ? `0x${"ff".repeat(32)}` : ETH_ID;
  const int = /^(u?)int(\d+)$/.exec(type);
  if (int) {
    const bits = BigInt(int[2]);
    if (int[1] === "u") return extreme ? 2n ** bits - 1n : bits < 64n ? BigInt(index + 6) : BigInt(index + 1) * 1_700_000_000n;
    return extreme ? -(2n ** (bits - 1n)) : -BigInt(index + 1) * 123_456_789n;
  }
  throw new Error(`no sample for ABI type ${type}`);
}

type ErrorItem = { name: string; inputs: readonly { type: string }[] };
const samplesOf = (e: ErrorItem, extreme: boolean) => e.inputs.map((input, i) => sample(input.type, i, extreme));

/** What a viem contract call throws for a revert with `data` (the revert is the error's cause). */
const viemRevert = (data: Hex) =>
  new ContractFunctionExecutionError(new ContractFunctionRevertedError({ abi: tidemarkErrorsAbi, data, functionName: "f" }), {
    abi: tidemarkErrorsAbi,
    functionName: "f",
    args: [],
  });

/** Runtime code that reverts with `data` on every call. */
function revertingCode(data: Hex): Hex {
  const len = size(data);
  // PUSH2 len, DUP1, PUSH1 12, PUSH1 0, CODECOPY, PUSH1 0, REVERT; then the data at offset 12.
  return concat([`0x61${numberToHex(len, { size: 2 }).slice(2)}80600c6000396000fd`, data]);
}

const errorString = (reason: string) => concat([toFunctionSelector("Error(string)"), encodeAbiParameters([{ type: "string" }], [reason])]);
const panic = (code: bigint) => concat([toFunctionSelector("Panic(uint256)"), encodeAbiParameters([{ type: "uint256" }], [code])]);

async function setCode(address: Address, code: Hex) {
  await conn.provider.request({ method: "hardhat_setCode", params: [address, code] });
}

async function caught(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  throw new Error("expected a failure");
}


/** A decoded error of `name` with `args`, as a viem call would have thrown it, with `context`. */
function contractError(name: string, args: readonly unknown[], context?: Parameters<typeof toTidemarkError>[1]): TidemarkContractError {
  const data = encodeErrorResult({ abi: tidemarkErrorsAbi, errorName: name, args } as never);
  const err = toTidemarkError(viemRevert(data), context);
  expect(err, name).to.be.instanceOf(TidemarkContractError);
  return err as TidemarkContractError;
}

/** The numbers a message prints after its error name (addresses removed), as text: "1,234.56", "-0.000042", "1000000". */
const figures = (message: string) =>
  message
    .replace(/^\w+: /, "")
    .replace(/0x[0-9a-fA-F]+/g, "")
    .match(/-?\d[\d,]*(?:\.\d+)?/g) ?? [];

const keccak = (text: string) => keccak256(stringToHex(text));
const USDC: TokenUnits = { symbol: "USDC", decimals: 6 };
const DAI: TokenUnits = { symbol: "DAI", decimals: 18 };
const SOMEONE = addr(`0x${"01".repeat(20)}`);
const SYMBOL = toFunctionSelector("symbol()");
const DECIMALS = toFunctionSelector("decimals()");

describe("SDK errors", function () {
  describe("every custom error", function () {
    it("the error ABI holds every custom error of the engine, lens, pool and insurance fund", function () {
      const names = new Set(ERRORS.map((e) => e.name));
      expect(ERRORS.length).to.be.greaterThan(40);
      for (const abi of [tidemarkEngineAbi, tidemarkLensAbi, liquidityPoolAbi, insuranceFundAbi]) {
        for (const item of abi) if (item.type === "error") expect(names.has(item.name), item.name).to.equal(true);
      }
    });

    for (const extreme of [false, true]) {
      it(`decodes each with ${extreme ? "extreme" : "typical"} arguments into its name, arguments and a readable message`, function () {
        for (const e of ERRORS) {
          const args = samplesOf(e, extreme);
          const data = encodeErrorResult({ abi: [e], errorName: e.name, args } as never);

          const decoded = decodeTidemarkRevert(data);
          expect(decoded, e.name).to.not.equal(null);
          expect(decoded!.errorName).to.equal(e.name);
          expect(decoded!.args).to.deep.equal(args);

          const err = toTidemarkError(viemRevert(data));
          expect(err, e.name).to.be.instanceOf(TidemarkContractError);
          const t = err as TidemarkContractError;
          expect(t.errorName).to.equal(e.name);
          expect(t.args).to.deep.equal(args);
          expect(t.data).to.equal(data);
          expect(t.is(e.name)).to.equal(true);
          expect(t.shortMessage.startsWith(`${e.name}: `), t.shortMessage).to.equal(true);
          expect(t.shortMessage.length).to.be.greaterThan(e.name.length + 10);
          expect(t.message, e.name).to.not.match(/undefined|NaN|Invalid Date|\[object/);
          expect(t.metaMessages).to.deep.equal([`Arguments: (${(decoded!.args as readonly unknown[]).map(String).join(", ")})`]);
          // A market or parameter id reads as text where it is printable, as hex otherwise.
          (e.inputs as ErrorItem["inputs"]).forEach((input, i) => {
            if (input.type !== "bytes32") return;
            const shown = extreme ? [args[i] as string] : ["ETH-USD", ETH_ID];
            expect(
              shown.some((x) => t.shortMessage.includes(x)),
              `${e.name}: ${t.shortMessage}`
            ).to.equal(true);
          });
        }
      });
    }

    it("finds the revert data wherever a node or wallet puts it", function () {
      const data = encodeErrorResult({ abi: tidemarkErrorsAbi, errorName: "PerpSlippage", args: [5n, 4n] });
      const shapes = [
        viemRevert(data), // viem: ContractFunctionRevertedError.raw
        { code: 3, message: "execution reverted", data }, // JSON-RPC error object
        { message: "call failed", cause: { message: "execution reverted", data: { message: "reverted", data } } }, // nested
      ];
      for (const shape of shapes) {
        const err = toTidemarkError(shape);
        expect(err).to.be.instanceOf(TidemarkContractError);
        expect((err as TidemarkContractError).args).to.deep.equal([5n, 4n]);
        expect((err as TidemarkContractError).cause).to.equal(shape);
      }
    });

    it("is() narrows the arguments to the named error", function () {
      const data = encodeErrorResult({ abi: tidemarkErrorsAbi, errorName: "PerpSlippage", args: [3001n * 10n ** 18n, 3000n * 10n ** 18n] });
      const err = toTidemarkError(viemRevert(data)) as TidemarkContractError;
      expect(err.is("PerpMarketPaused")).to.equal(false);
      expect(err.is("PerpSlippage")).to.equal(true);
      if (err.is("PerpSlippage")) {
        const [executionPrice, acceptablePrice]: readonly [bigint, bigint] = err.args;
        expect(executionPrice - acceptablePrice).to.equal(10n ** 18n);
        // @ts-expect-error PerpSlippage has two arguments
        expect(err.args[2]).to.equal(undefined);
      } else {
        expect.fail("is(PerpSlippage) must hold");
      }
      expect(err.shortMessage).to.equal("PerpSlippage: The fill price 3,001.00 USD is worse than the acceptable price 3,000.00 USD.");
    });
  });

  describe("reverts that are not protocol errors", function () {
    it("an unknown selector becomes an UnknownRevertError keeping the data", function () {
      const data: Hex = "0xdeadbeef000000000000000000000000000000000000000000000000000000000000002a";
      expect(decodeTidemarkRevert(data)).to.equal(null);
      const err = toTidemarkError(viemRevert(data));
      expect(err).to.be.instanceOf(UnknownRevertError);
      expect((err as UnknownRevertError).data).to.equal(data);
      expect((err as UnknownRevertError).shortMessage).to.contain(data);
    });

    it("a known selector with malformed arguments, or data shorter than a selector, is unknown too", function () {
      const full = encodeErrorResult({ abi: tidemarkErrorsAbi, errorName: "PerpNoPosition", args: [addr(`0x${"01".repeat(20)}`), ETH_ID] });
      const truncated = full.slice(0, 2 + 8 + 40) as Hex;
      expect(decodeTidemarkRevert(truncated)).to.equal(null);
      expect(decodeTidemarkRevert("0x1234")).to.equal(null);
      const err = toTidemarkError({ data: truncated, message: "execution reverted" });
      expect(err).to.be.instanceOf(UnknownRevertError);
      expect((err as UnknownRevertError).data).to.equal(truncated);
    });

    it("an Error(string), a panic and an empty revert from real calls become UnknownRevertErrors", async function () {
      const p = await networkHelpers.loadFixture(protocolFixture);
      const { publicClient, addresses, wallets } = await sdkClients(conn, p as Protocol);
      const cases: { data: Hex; code: Address }[] = [
        { data: errorString("engine is on holiday"), code: addr(`0x${"c0".repeat(20)}`) },
        { data: panic(0x11n), code: addr(`0x${"c1".repeat(20)}`) },
        { data: "0x", code: addr(`0x${"c2".repeat(20)}`) },
      ];
      for (const { data, code } of cases) {
        await setCode(code, revertingCode(data));
        const read = await caught(() =>
          getFreeBalance(publicClient, { addresses: { ...addresses, engine: code }, account: addr(p.alice.address) })
        );
        expect(read, data).to.be.instanceOf(UnknownRevertError);
        const u = read as UnknownRevertError;
        if (data === "0x") {
          expect(u.data === undefined || u.data === "0x", String(u.data)).to.equal(true);
          expect(u.shortMessage).to.match(/^Reverted without a decodable reason/);
        } else {
          expect(u.data).to.equal(data);
          // Error(string) and Panic(uint256) are spelled out; the raw data stays on the error.
          expect(u.shortMessage).to.equal(
            data === cases[0].data ? 'Reverted with reason "engine is on holiday"' : "Reverted with panic code 17",
          );
        }
        expect(u.walk((e) => e instanceof ContractFunctionRevertedError)).to.be.instanceOf(ContractFunctionRevertedError);

        // A write simulates first: the same error, and nothing is sent.
        const nonce = await publicClient.getTransactionCount({ address: addr(p.alice.address) });
        const write = await caught(() => withdraw(wallets.alice, { addresses: { ...addresses, engine: code }, amount: 1n }));
        expect(write).to.be.instanceOf(UnknownRevertError);
        expect((write as UnknownRevertError).data).to.equal(u.data);
        expect(await publicClient.getTransactionCount({ address: addr(p.alice.address) })).to.equal(nonce);
      }
      // The string reason stays reachable on viem's error.
      await setCode(cases[0].code, revertingCode(cases[0].data));
      const err = (await caught(() =>
        getFreeBalance(publicClient, { addresses: { ...addresses, engine: cases[0].code }, account: addr(p.alice.address) })
      )) as UnknownRevertError;
      const viemErr = err.walk((e) => e instanceof ContractFunctionRevertedError) as ContractFunctionRevertedError;
      expect(viemErr.reason).to.equal("engine is on holiday");
    });
  });

  describe("failures that are not reverts", function () {
    it("pass through toTidemarkError unchanged", function () {
      const plain = new Error("socket hang up");
      const http = new HttpRequestError({ url: "http://localhost:8545", status: 502, details: "Bad Gateway" });
      const rejected = new UserRejectedRequestError(new Error("User rejected the request."));
      const odd = { message: "not an error object" };
      for (const e of [plain, http, rejected, odd, "a string", undefined]) expect(toTidemarkError(e)).to.equal(e);
    });

    it("errors the SDK already made pass through unchanged", function () {
      const invalid = new InvalidParameterError("amount", "must be positive");
      expect(toTidemarkError(invalid)).to.equal(invalid);
      const data = encodeErrorResult({ abi: tidemarkErrorsAbi, errorName: "PerpZeroAmount" });
      const decoded = toTidemarkError(viemRevert(data));
      expect(toTidemarkError(decoded)).to.equal(decoded);
    });

    it("a transport failure during an action reaches the caller as viem's error, not a revert", async function () {
      const p = await networkHelpers.loadFixture(protocolFixture);
      const { addresses } = await sdkClients(conn, p as Protocol);
      const boom = new Error("connection reset by peer");
      const broken = createPublicClient({
        chain: hardhat,
        transport: custom(
          {
            async request() {
              throw boom;
            },
          },
          { retryCount: 0 }
        ),
      });
      const err = await caught(() => getFreeBalance(broken, { addresses, account: addr(p.alice.address) }));
      expect(err).to.not.be.instanceOf(TidemarkError);
      expect(err).to.be.instanceOf(Error);
      let e: unknown = err;
      while (e !== undefined && e !== boom) e = (e as { cause?: unknown }).cause;
      expect(e).to.equal(boom);
      // withDecodedErrors rethrows the same object.
      const again = await caught(() => withDecodedErrors(() => Promise.reject(boom)));
      expect(again).to.equal(boom);
    });
  });

  describe("readable figures", function () {
    it("the formatting helpers: separators, 2 digits, never 0 for a nonzero value, exact percentages, seconds", function () {
      expect(formatUsd(3_000n * 10n ** 18n)).to.equal("3,000.00 USD");
      expect(formatUsd(1_234_567_891n * 10n ** 16n)).to.equal("12,345,678.91 USD");
      expect(formatUsd(42n * 10n ** 12n)).to.equal("0.000042 USD");
      expect(formatUsd(1n)).to.equal("0.000000000000000001 USD");
      expect(formatUsd(-6_998_499n * 10n ** 12n)).to.equal("-6.99 USD"); // truncated toward zero
      expect(formatUsd(-42n * 10n ** 12n)).to.equal("-0.000042 USD");
      expect(formatUsd(0n)).to.equal("0.00 USD");
      expect(formatTokenAmount(12_340_000n, USDC)).to.equal("12.34 USDC");
      expect(formatTokenAmount(1n, USDC)).to.equal("0.000001 USDC");
      expect(formatTokenAmount(1_000_000_000_000n, USDC)).to.equal("1,000,000.00 USDC");
      expect(formatTokenAmount(12_340_000n)).to.equal("12340000 raw token units (decimals unknown)");
      expect(formatTokenAmount(7n, { symbol: "WHOLE", decimals: 0 })).to.equal("7 WHOLE");
      expect(formatDecimal(1_500_000n, 6, { fractionDigits: 4 })).to.equal("1.5000");
      expect(formatDecimal(421n, 7, { significantDigits: 3 })).to.equal("0.0000421");
      // Compared values that read the same at the usual precision get the digits that tell them apart, both alike.
      expect(formatUsd(30n * 10n ** 18n, { distinctFrom: 30n * 10n ** 18n + 1n })).to.equal("30.000000000000000000 USD");
      expect(formatUsd(30n * 10n ** 18n + 1n, { distinctFrom: 30n * 10n ** 18n })).to.equal("30.000000000000000001 USD");
      expect(formatUsd(3_000_001n * 10n ** 15n, { distinctFrom: 3_000n * 10n ** 18n })).to.equal("3,000.001 USD");
      expect(formatUsd(3_001n * 10n ** 18n, { distinctFrom: 3_000n * 10n ** 18n })).to.equal("3,001.00 USD"); // already distinct
      expect(formatPercent(5n * 10n ** 14n)).to.equal("0.05%");
      expect(formatPercent(25n * 10n ** 13n)).to.equal("0.025%"); // exact: a rate is never truncated
      expect(formatPercent(10n * 10n ** 18n)).to.equal("1,000%");
      expect(formatDuration(1n)).to.equal("1 second");
      expect(formatDuration(45n)).to.equal("45 seconds");
      expect(formatDuration(3_600n)).to.equal("3,600 seconds (1 h)");
      expect(formatDuration(90_061n)).to.equal("90,061 seconds (1 d 1 h)");
      expect(marketBaseSymbol(ETH_ID)).to.equal("ETH");
      expect(marketBaseSymbol(marketId("wstETH/USD"))).to.equal("wstETH");
      expect(marketBaseSymbol(marketId("INDEX"))).to.equal(undefined);
      expect(marketBaseSymbol(`0x${"ff".repeat(32)}`)).to.equal(undefined);
    });

    it("a tiny nonzero requirement is not printed as 0 USD", function () {
      for (const required of [1n, 999n, 42n * 10n ** 12n, 9n * 10n ** 15n]) {
        const t = contractError("PerpInsufficientMargin", [SOMEONE, ETH_ID, 0n, required]);
        const [, shown] = figures(t.shortMessage);
        expect(shown, t.shortMessage).to.match(/[1-9]/);
        expect(t.shortMessage).to.not.match(/required margin of 0(\.0+)? USD/);
        expect(BigInt(shown.replace(".", "").replace(/^0+/, "")) > 0n, t.shortMessage).to.equal(true);
      }
      expect(contractError("PerpInsufficientMargin", [SOMEONE, ETH_ID, 0n, 42n * 10n ** 12n]).shortMessage).to.equal(
        "PerpInsufficientMargin: Market ETH-USD: the equity of 0.00 USD would be below the required margin of 0.000042 USD.",
      );
      expect(contractError("PerpInsufficientMargin", [SOMEONE, ETH_ID, 6_998_499n * 10n ** 12n, 30n * 10n ** 18n]).shortMessage).to.equal(
        "PerpInsufficientMargin: Market ETH-USD: the equity of 6.99 USD would be below the required margin of 30.00 USD.",
      );
      // The engine's other use: the fee and loss exceed the collateral, `required` 0.
      expect(contractError("PerpInsufficientMargin", [SOMEONE, ETH_ID, -5n * 10n ** 18n, 0n]).shortMessage).to.equal(
        "PerpInsufficientMargin: Market ETH-USD: the fee, funding and realised loss would exceed the position's collateral, leaving -5.00 USD.",
      );
    });

    // Every message that compares two values ("have X, need Y"), with the kind of value it prints.
    // `args(a, b)` builds the arguments so that the message prints a first and b second.
    const COMPARED: {
    name: string;
    args: (a: bigint, b: bigint) => unknown[];
    tokens?: boolean;
    /** Extra context the message needs for its units (a claim's pool function). */
    contexts?: Parameters<typeof toTidemarkError>[1][];
  }[] = [
      { name: "PerpInsufficientMargin", args: (a, b) => [SOMEONE, ETH_ID, a, b] },
      { name: "PerpSlippage", args: (a, b) => [a, b] },
      { name: "PerpPositionTooSmall", args: (a, b) => [a, b] },
      { name: "PerpOpenInterestCapExceeded", args: (a, b) => [ETH_ID, true, a, b] },
      { name: "PerpHealthWorsened", args: (a, b) => [a, b] },
      { name: "PerpPositionTooLarge", args: (a, b) => [a, b] },
      { name: "PerpParameterStepTooLarge", args: (a, b) => [stringToHex("minPositionNotional", { size: 32 }), a, b, 1n] },
      { name: "PerpInsufficientFreeBalance", args: (a, b) => [SOMEONE, a, b], tokens: true },
      { name: "PerpInsufficientCollateral", args: (a, b) => [a, b], tokens: true },
      { name: "PerpTransferShortfall", args: (a, b) => [b, a], tokens: true }, // "transferred <received> instead of <expected>"
      { name: "VaultInsufficientBalance", args: (a, b) => [a, b], tokens: true },
      { name: "VaultTransferShortfall", args: (a, b) => [b, a], tokens: true },
      { name: "ERC20InsufficientBalance", args: (a, b) => [SOMEONE, a, b], tokens: true },
      { name: "ERC20InsufficientAllowance", args: (a, b) => [SOMEONE, a, b], tokens: true },
      { name: "ERC4626ExceededMaxDeposit", args: (a, b) => [SOMEONE, a, b], tokens: true },
      { name: "ERC4626ExceededMaxWithdraw", args: (a, b) => [SOMEONE, a, b], tokens: true },
      { name: "ERC4626ExceededMaxRedeem", args: (a, b) => [SOMEONE, a, b], tokens: true },
      { name: "VaultCapacityBelowOpenInterest", args: (a, b) => [a, b], tokens: true },
      { name: "VaultInsufficientLiquidity", args: (a, b) => [b, a], tokens: true }, // "needs <required>; only <available>"
      { name: "VaultRequestTooSmall", args: (a, b) => [a, b], tokens: true },
      ...(["deposit", "mint", "withdraw", "redeem"] as const).map((poolClaim) => ({
        name: "VaultInsufficientClaimable",
        args: (a: bigint, b: bigint) => [SOMEONE, a, b],
        tokens: true,
        contexts: [{ units: USDC, poolClaim }, { units: DAI, poolClaim }, { poolClaim }],
      })),
      { name: "VaultInsufficientClaimable", args: (a, b) => [SOMEONE, a, b] }, // raw integers without the claim
    ];

    it("two values a message compares print differently whenever they differ, and a nonzero one never as 0", function () {
      const bases = [0n, 1n, 999n, 42n * 10n ** 12n, 1_000_000n, 12_345_678n, 30n * 10n ** 18n, 3_000n * 10n ** 18n, 10n ** 30n];
      const deltas = [1n, 7n, 10n ** 6n, 10n ** 12n, 10n ** 15n, 10n ** 16n];
      let checked = 0;
      for (const c of COMPARED) {
        for (const context of c.contexts ?? (c.tokens ? [{ units: USDC }, { units: DAI }, {}] : [{}])) {
          for (const b of bases) {
            for (const d of deltas) {
              for (const [x, y] of [[b + d, b], [b, b + d]]) {
                const t = contractError(c.name, c.args(x, y), context);
                // The step comes first in PerpParameterStepTooLarge; the compared values are the next two.
                const shown = figures(t.shortMessage).slice(c.name === "PerpParameterStepTooLarge" ? 1 : 0);
                expect(shown.length, t.shortMessage).to.be.at.least(2);
                expect(shown[0], t.shortMessage).to.not.equal(shown[1]);
                if (x !== 0n) expect(shown[0], `${t.shortMessage} (${x})`).to.match(/[1-9]/);
                if (y !== 0n) expect(shown[1], `${t.shortMessage} (${y})`).to.match(/[1-9]/);
                checked++;
              }
            }
          }
        }
      }
      expect(checked).to.be.greaterThan(1_000);
      // Equal values read equal (the digits are not made up).
      const same = contractError("PerpSlippage", [3_000n * 10n ** 18n, 3_000n * 10n ** 18n]);
      expect(figures(same.shortMessage)).to.deep.equal(["3,000.00", "3,000.00"]);
      expect(contractError("PerpSlippage", [3_000n * 10n ** 18n + 10n ** 15n, 3_000n * 10n ** 18n]).shortMessage).to.equal(
        "PerpSlippage: The fill price 3,000.001 USD is worse than the acceptable price 3,000.000 USD.",
      );
      expect(contractError("PerpInsufficientFreeBalance", [SOMEONE, 12_345_678n, 12_345_679n], { units: USDC }).shortMessage).to.equal(
        `PerpInsufficientFreeBalance: The free balance of ${SOMEONE} is 12.345678 USDC; 12.345679 USDC needed.`,
      );
    });

    it("token amounts carry the token's decimals and symbol when the units are known, the raw figure said to be raw otherwise", function () {
      const withUsdc = contractError("PerpInsufficientFreeBalance", [SOMEONE, 12_340_000n, 20_000_000n], { units: USDC });
      expect(withUsdc.shortMessage).to.equal(`PerpInsufficientFreeBalance: The free balance of ${SOMEONE} is 12.34 USDC; 20.00 USDC needed.`);
      expect(withUsdc.units).to.deep.equal(USDC);
      const withDai = contractError("PerpInsufficientFreeBalance", [SOMEONE, 12_340_000n, 20n * 10n ** 18n], { units: DAI });
      expect(withDai.shortMessage).to.equal(`PerpInsufficientFreeBalance: The free balance of ${SOMEONE} is 0.000000000012 DAI; 20.00 DAI needed.`);
      const raw = contractError("PerpInsufficientFreeBalance", [SOMEONE, 12_340_000n, 20_000_000n]);
      expect(raw.units).to.equal(undefined);
      expect(raw.shortMessage).to.equal(
        `PerpInsufficientFreeBalance: The free balance of ${SOMEONE} is 12340000 raw token units (decimals unknown); 20000000 raw token units needed.`,
      );
      // Pool shares have the collateral token's decimals plus the pool's offset of 6 (12 for USDC); ERC20 errors of a
      // redemption request are in shares.
      const share = 10n ** 12n;
      expect(contractError("ERC4626ExceededMaxRedeem", [SOMEONE, 5n * share, 0n], { units: USDC }).shortMessage).to.equal(
        "ERC4626ExceededMaxRedeem: Redeeming 5.00 pool shares exceeds the maximum of 0.00 pool shares (what fulfilled redemptions left to claim).",
      );
      expect(contractError("ERC4626ExceededMaxRedeem", [SOMEONE, 5_000_000n, 0n], { units: USDC }).shortMessage).to.contain("Redeeming 0.000005 pool shares");
      expect(contractError("ERC20InsufficientAllowance", [SOMEONE, 0n, 5n * share], { units: USDC, erc20Token: "poolShares" }).shortMessage).to.contain(
        "is 0.00 pool shares; 5.00 pool shares needed",
      );
      expect(contractError("ERC20InsufficientAllowance", [SOMEONE, 0n, 5n * 10n ** 24n], { units: DAI, erc20Token: "poolShares" }).shortMessage).to.contain(
        "is 0.00 pool shares; 5.00 pool shares needed", // an 18-decimal token: 24-decimal shares
      );
      expect(contractError("ERC20InsufficientAllowance", [SOMEONE, 0n, 5_000_000n], { units: USDC }).shortMessage).to.contain("is 0.00 USDC; 5.00 USDC needed");

      // Every error: the ones with token amounts read in the units when known and say "raw" otherwise; the others do
      // not depend on them.
      let withTokens = 0;
      for (const e of ERRORS) {
        const args = samplesOf(e, false);
        if (e.name === "PerpParameterOutOfBounds") args[0] = stringToHex("uint128", { size: 32 });
        const known = contractError(e.name, args, { units: USDC });
        const unknown = contractError(e.name, args);
        expect(known.hasTokenAmounts, e.name).to.equal(unknown.hasTokenAmounts);
        if (known.hasTokenAmounts) {
          withTokens++;
          expect(known.shortMessage, e.name).to.match(/ (USDC|pool shares)\b/);
          expect(known.shortMessage, e.name).to.not.match(/\braw\b|token units/);
          expect(unknown.shortMessage, e.name).to.match(/raw (token|pool share) units \(decimals unknown\)/);
          expect(unknown.shortMessage, e.name).to.not.contain("USDC");
        } else {
          expect(known.shortMessage, e.name).to.equal(unknown.shortMessage);
          expect(unknown.shortMessage, e.name).to.not.match(/\braw\b|token units/);
        }
      }
      // 13 errors always, 3 more with the pool's asynchronous requests, and the governed uint128 parameter;
      // VaultInsufficientClaimable only with its claim (below).
      expect(withTokens).to.equal(17);
    });

    it("the pool's request errors: token amounts, shares by the claim's function, times, wei", function () {
      const share = 10n ** 12n;
      const msg = (name: string, args: unknown[], context: Parameters<typeof toTidemarkError>[1] = { units: USDC }) =>
        contractError(name, args, context).shortMessage;
      expect(msg("VaultRequestTooSmall", [usd("0.4"), usd("0.5")])).to.equal(
        "VaultRequestTooSmall: A deposit request of 0.40 USDC does not exceed its execution fee of 0.50 USDC.",
      );
      expect(msg("VaultInsufficientLiquidity", [usd(1_000), usd("1000.000001")])).to.equal(
        "VaultInsufficientLiquidity: The redemption needs 1,000.000001 USDC; only 1,000.000000 USDC is available above the engine's reserve (0 while a market with open interest has no fresh price).",
      );
      expect(msg("VaultCapacityBelowOpenInterest", [usd(900_000), usd(1_000_000)])).to.equal(
        "VaultCapacityBelowOpenInterest: This redemption would leave the pool a capacity of 900,000.00 USDC, below the 1,000,000.00 USDC the open interest needs under the caps.",
      );
      const claimable = [SOMEONE, 5n * share, 7n * share] as const;
      const claim = (poolClaim: "deposit" | "mint" | "withdraw" | "redeem", args: readonly unknown[]) =>
        contractError("VaultInsufficientClaimable", [...args], { units: USDC, poolClaim });
      expect(claim("mint", claimable).shortMessage).to.equal(
        `VaultInsufficientClaimable: ${SOMEONE} has 5.00 pool shares of fulfilled deposits to claim; 7.00 pool shares asked.`,
      );
      expect(claim("redeem", claimable).shortMessage).to.equal(
        `VaultInsufficientClaimable: ${SOMEONE} has 5.00 pool shares of fulfilled redemptions to claim; 7.00 pool shares asked.`,
      );
      expect(claim("withdraw", [SOMEONE, usd(5), usd(7)]).shortMessage).to.equal(
        `VaultInsufficientClaimable: ${SOMEONE} has 5.00 USDC of fulfilled redemptions to claim; 7.00 USDC asked.`,
      );
      expect(claim("deposit", [SOMEONE, usd(5), usd(7)]).hasTokenAmounts).to.equal(true);
      const bare = contractError("VaultInsufficientClaimable", [SOMEONE, 5n, 7n], { units: USDC });
      expect(bare.hasTokenAmounts).to.equal(false); // assets or shares: unknown without the claim
      expect(bare.shortMessage).to.equal(
        `VaultInsufficientClaimable: ${SOMEONE} has 5 to claim; 7 asked (integers in the claim's unit: the collateral token's for deposit and withdraw, the pool share's for mint and redeem).`,
      );
      expect(bare.withContext({ poolClaim: "withdraw" }).shortMessage).to.contain("has 0.000005 USDC of fulfilled redemptions");
      expect(msg("VaultRequestNotReady", [SOMEONE, 1_700_000_002n])).to.equal(
        `VaultRequestNotReady: The request of ${SOMEONE} can be fulfilled from 2023-11-14T22:13:22.000Z (its minimum delay), not before.`,
      );
      expect(msg("VaultRequestExpired", [SOMEONE, 1_700_000_300n])).to.equal(
        `VaultRequestExpired: The request of ${SOMEONE} expired at 2023-11-14T22:18:20.000Z; it can only be cancelled.`,
      );
      expect(msg("VaultRequestNotExpired", [SOMEONE, 1_700_000_300n])).to.equal(
        `VaultRequestNotExpired: The request of ${SOMEONE} can be cancelled only after it expires at 2023-11-14T22:18:20.000Z.`,
      );
      expect(msg("VaultWrongUpdateFee", [2n, 1n])).to.equal("VaultWrongUpdateFee: Pyth charges 2 wei for these price updates; 1 wei sent.");
      expect(msg("VaultLengthMismatch", [3n, 2n])).to.equal(
        "VaultLengthMismatch: The batch's arrays do not pair up: 3 controllers, 2 price updates (and as many directions).",
      );
      expect(msg("SafeCastOverflowedUintDowncast", [128, 2n ** 128n])).to.equal(
        `SafeCastOverflowedUintDowncast: The value ${2n ** 128n} does not fit in 128 bits (an amount too large for the pool to record).`,
      );
      expect(msg("InsufficientBalance", [1n, 3n])).to.equal("InsufficientBalance: The contract holds 1 wei of ETH; sending 3 wei needs more.");
      expect(msg("VaultAsyncFlow", [])).to.match(/^VaultAsyncFlow: The pool's deposits and redemptions are asynchronous \(ERC-7540\)/);
      for (const name of ["VaultRequestPending", "VaultNoPendingRequest"]) expect(msg(name, [SOMEONE])).to.contain(SOMEONE);
      expect(msg("VaultNotAuthorized", [SOMEONE, addr(`0x${"02".repeat(20)}`)])).to.equal(
        `VaultNotAuthorized: ${SOMEONE} may not act for 0x${"02".repeat(20)}: only the controller itself or an operator it approved (setOperator) may.`,
      );
    });

    it("rates read as percentages, durations in seconds, prices in USD and sizes in the market's base asset", function () {
      const name = (x: string) => stringToHex(x, { size: 32 });
      expect(contractError("PerpParameterOutOfBounds", [name("takerFeeRate"), 2n * 10n ** 16n, 0n, 10n ** 16n]).shortMessage).to.equal(
        "PerpParameterOutOfBounds: takerFeeRate = 2% is outside the accepted range 0% to 1%.",
      );
      expect(contractError("PerpParameterOutOfBounds", [name("heartbeat"), 30n, 60n, 172_800n]).shortMessage).to.equal(
        "PerpParameterOutOfBounds: heartbeat = 30 seconds is outside the accepted range 60 seconds (1 min) to 172,800 seconds (2 d).",
      );
      expect(contractError("PerpParameterStepTooLarge", [name("takerFeeRate"), 5n * 10n ** 14n, 5n * 10n ** 15n, 10n ** 15n]).shortMessage).to.equal(
        "PerpParameterStepTooLarge: takerFeeRate may move by at most 0.1 percentage points per change (from 0.05% to 0.5% requested).",
      );
      expect(contractError("OracleStale", [ETH_ID, 1_700_000_000n, 3_600n]).shortMessage).to.equal(
        "OracleStale: Market ETH-USD: the price from 2023-11-14T22:13:20.000Z is older than the heartbeat of 3,600 seconds (1 h).",
      );
      expect(contractError("OracleOutOfBounds", [ETH_ID, 5n * 10n ** 17n, 10n ** 18n, 10n ** 24n]).shortMessage).to.equal(
        "OracleOutOfBounds: Market ETH-USD: the price 0.50 USD is outside the accepted range 1.00 USD to 1,000,000.00 USD.",
      );
      expect(contractError("PerpLiquidationCostTooHigh", [3n * 10n ** 15n, 25n * 10n ** 14n]).shortMessage).to.equal(
        "PerpLiquidationCostTooHigh: The liquidation cost rate of 0.3% leaves no room under the target maintenance rate of 0.25%.",
      );
      // Sizes: the error carries no market; the call's market (context) names the base asset.
      const flip = [wad(1), -wad(2)];
      expect(contractError("PerpPositionFlip", flip).shortMessage).to.equal(
        "PerpPositionFlip: A size delta of -2.0000 base units would flip the position of 1.0000 base units; close it first.",
      );
      expect(contractError("PerpPositionFlip", flip, { market: ETH_ID }).shortMessage).to.equal(
        "PerpPositionFlip: A size delta of -2.0000 ETH would flip the position of 1.0000 ETH; close it first.",
      );
      expect(contractError("AccessControlUnauthorizedAccount", [SOMEONE, keccak("GOVERNOR_ROLE")]).shortMessage).to.equal(
        `AccessControlUnauthorizedAccount: Account ${SOMEONE} lacks role GOVERNOR_ROLE.`,
      );
    });

    it("withContext rewrites the message and keeps the name, arguments, data and cause", function () {
      const t = contractError("PerpInsufficientCollateral", [5_000_000n, 7_500_000n], { market: ETH_ID });
      const u = t.withContext({ units: USDC });
      expect(u).to.be.instanceOf(TidemarkContractError);
      expect(u).to.not.equal(t);
      expect([u.errorName, u.args, u.data, u.cause, u.metaMessages]).to.deep.equal([t.errorName, t.args, t.data, t.cause, t.metaMessages]);
      expect(u.is("PerpInsufficientCollateral")).to.equal(true);
      expect(u.context).to.deep.equal({ market: ETH_ID, units: USDC });
      expect(u.shortMessage).to.equal("PerpInsufficientCollateral: The position holds 5.00 USDC of collateral; 7.50 USDC requested.");
      expect(t.shortMessage).to.equal(
        "PerpInsufficientCollateral: The position holds 5000000 raw token units (decimals unknown) of collateral; 7500000 raw token units requested.",
      );
      const decoded = decodeTidemarkRevert(t.data)!;
      expect(`${t.errorName}: ${describeTidemarkError(decoded, { units: USDC })}`).to.equal(u.shortMessage);
    });
  });

  describe("the collateral token's units on a real revert", function () {
    /** A wallet client over the in-process network that records eth_call targets and selectors; `hang` never answers. */
    function recordingWallet(account: Address, hang?: (to: string, data: string) => boolean) {
      const calls: { to: string; selector: string }[] = [];
      const request = (async (args: { method: string; params?: unknown }) => {
        if (args.method === "eth_call") {
          const { to, data } = (args.params as [{ to: string; data?: string; input?: string }])[0];
          const input = data ?? (args.params as [{ input?: string }])[0].input ?? "0x";
          calls.push({ to: to.toLowerCase(), selector: input.slice(0, 10) });
          if (hang?.(to.toLowerCase(), input)) return new Promise(() => undefined);
        }
        return conn.provider.request(args as never);
      }) as EIP1193RequestFn;
      const client = createWalletClient({ chain: hardhat, transport: custom({ request }, { retryCount: 0 }), account, pollingInterval: 20, cacheTime: 0 });
      return { client, calls };
    }

    it("a withdrawal above the free balance reads in USDC with 6 decimals, from addresses or the engine", async function () {
      const p = await networkHelpers.loadFixture(protocolFixture);
      const { addresses, wallets } = await sdkClients(conn, p as Protocol);
      await deposit(wallets.alice, { addresses, amount: usd("12.345678") });
      const alice = addr(p.alice.address);
      for (const a of [addresses, { ...addresses, collateralToken: undefined }]) {
        const err = await caught(() => withdraw(wallets.alice, { addresses: a, amount: usd("12.345679") }));
        expect(err).to.be.instanceOf(TidemarkContractError);
        const t = err as TidemarkContractError;
        expect(t.errorName).to.equal("PerpInsufficientFreeBalance");
        expect(t.args).to.deep.equal([alice, usd("12.345678"), usd("12.345679")]);
        expect(t.units).to.deep.equal({ symbol: "USDC", decimals: 6 });
        expect(t.shortMessage).to.equal(`PerpInsufficientFreeBalance: The free balance of ${alice} is 12.345678 USDC; 12.345679 USDC needed.`);
        expect(t.walk((e) => e instanceof ContractFunctionRevertedError)).to.be.instanceOf(ContractFunctionRevertedError);
      }
      const big = (await caught(() => withdraw(wallets.alice, { addresses, amount: usd(1_000) }))) as TidemarkContractError;
      expect(big.shortMessage).to.equal(`PerpInsufficientFreeBalance: The free balance of ${alice} is 12.34 USDC; 1,000.00 USDC needed.`);
    });

    async function daiFixture() {
      const token = await conn.ethers.deployContract("MockERC20", ["Dai Stablecoin", "DAI", 18]);
      // No pool seed: the fixture's seed is sized for a 6-decimal token (its 0.50 USD execution fee is 5e17 DAI units).
      return deployProtocolOn(conn.ethers, token, { seedPool: false });
    }

    it("a collateral token with 18 decimals reads in its own decimals and symbol", async function () {
      const p = await networkHelpers.loadFixture(daiFixture);
      const { addresses, wallets } = await sdkClients(conn, p as unknown as Protocol);
      await (p.token as unknown as { mint: (to: string, amount: bigint) => Promise<unknown> }).mint(p.bob.address, 20n * 10n ** 18n);
      await deposit(wallets.bob, { addresses, amount: 125n * 10n ** 17n });
      const err = (await caught(() => withdraw(wallets.bob, { addresses, amount: 125n * 10n ** 17n + 1n }))) as TidemarkContractError;
      expect(err.units).to.deep.equal({ symbol: "DAI", decimals: 18 });
      expect(err.shortMessage).to.equal(
        `PerpInsufficientFreeBalance: The free balance of ${p.bob.address} is 12.500000000000000000 DAI; 12.500000000000000001 DAI needed.`,
      );
    });

    it("reads symbol and decimals once per client and token, only for errors with token amounts, never on success", async function () {
      const p = await networkHelpers.loadFixture(protocolFixture);
      const { addresses } = await sdkClients(conn, p as Protocol);
      const token = addresses.collateralToken!.toLowerCase();
      const { client, calls } = recordingWallet(addr(p.alice.address));
      const unitReads = () => calls.filter((c) => c.to === token && (c.selector === SYMBOL || c.selector === DECIMALS)).length;

      await deposit(client, { addresses, amount: usd(100) });
      await withdraw(client, { addresses, amount: usd(1) });
      expect(unitReads(), "successful writes").to.equal(0);
      // An error without token amounts: nothing read.
      const margin = (await caught(() =>
        openPosition(client, { addresses, market: ETH_ID, side: "long", size: wad(1), collateral: usd(10), slippageBps: 50n }),
      )) as TidemarkContractError;
      expect(margin.errorName).to.equal("PerpInsufficientMargin");
      expect(margin.units).to.equal(undefined);
      expect(unitReads(), "an error without token amounts").to.equal(0);

      for (let i = 0; i < 3; i++) {
        const err = (await caught(() => withdraw(client, { addresses, amount: usd(1_000) }))) as TidemarkContractError;
        expect(err.shortMessage).to.contain("99.00 USDC; 1,000.00 USDC needed");
      }
      expect(unitReads(), "three failures, one lookup").to.equal(2);
      // Another client: its own lookup.
      const other = recordingWallet(addr(p.alice.address));
      await caught(() => withdraw(other.client, { addresses, amount: usd(1_000) }));
      expect(other.calls.filter((c) => c.to === token && (c.selector === SYMBOL || c.selector === DECIMALS))).to.have.length(2);
    });

    it("the call's market names the base asset of sizes in an error that carries none", async function () {
      const p = await networkHelpers.loadFixture(protocolFixture);
      const { addresses, wallets } = await sdkClients(conn, p as Protocol);
      await deposit(wallets.alice, { addresses, amount: usd(300) });
      await openPosition(wallets.alice, { addresses, market: ETH_ID, side: "long", size: wad(1), collateral: usd(300), slippageBps: 50n });
      const err = (await caught(() =>
        modifyPosition(wallets.alice, { addresses, market: ETH_ID, sizeDelta: -wad(2), collateralDelta: 0n, acceptablePrice: 0n }),
      )) as TidemarkContractError;
      expect(err.errorName).to.equal("PerpPositionFlip");
      expect(err.shortMessage).to.equal("PerpPositionFlip: A size delta of -2.0000 ETH would flip the position of 1.0000 ETH; close it first.");
    });

    it("a failing or hanging units lookup never hides the original error", async function () {
      this.timeout(60_000);
      const p = await networkHelpers.loadFixture(protocolFixture);
      const { addresses, wallets, publicClient } = await sdkClients(conn, p as Protocol);
      const bob = addr(p.bob.address);
      const expected = `PerpInsufficientFreeBalance: The free balance of ${bob} is 0 raw token units (decimals unknown); 1000000 raw token units needed.`;

      // The "token" is an account without code: symbol() and decimals() fail.
      const nonce = await publicClient.getTransactionCount({ address: bob });
      const noCode = (await caught(() => withdraw(wallets.bob, { addresses: { ...addresses, collateralToken: addr(p.carol.address) }, amount: usd(1) }))) as TidemarkContractError;
      expect(noCode).to.be.instanceOf(TidemarkContractError);
      expect(noCode.errorName).to.equal("PerpInsufficientFreeBalance");
      expect(noCode.units).to.equal(undefined);
      expect(noCode.shortMessage).to.equal(expected);
      expect(noCode.walk((e) => e instanceof ContractFunctionRevertedError)).to.be.instanceOf(ContractFunctionRevertedError);
      // A token whose symbol() reverts.
      const reverting = addr(`0x${"c3".repeat(20)}`);
      await setCode(reverting, revertingCode(errorString("no symbol")));
      const bad = (await caught(() => withdraw(wallets.bob, { addresses: { ...addresses, collateralToken: reverting }, amount: usd(1) }))) as TidemarkContractError;
      expect(bad.shortMessage).to.equal(expected);
      expect(await publicClient.getTransactionCount({ address: bob })).to.equal(nonce);

      // The token never answers: the error still comes, after the lookup's time limit, without units.
      const token = addresses.collateralToken!.toLowerCase();
      let hanging = true;
      const { client } = recordingWallet(bob, (to, data) => hanging && to === token && (data.startsWith(SYMBOL) || data.startsWith(DECIMALS)));
      const started = Date.now();
      const hung = (await caught(() => withdraw(client, { addresses, amount: usd(1) }))) as TidemarkContractError;
      expect(hung).to.be.instanceOf(TidemarkContractError);
      expect(hung.shortMessage).to.equal(expected);
      expect(Date.now() - started).to.be.below(15_000);
      // The timed-out lookup is not cached: once the token answers, the next error has its units.
      hanging = false;
      const later = (await caught(() => withdraw(client, { addresses, amount: usd(1) }))) as TidemarkContractError;
      expect(later.shortMessage).to.equal(`PerpInsufficientFreeBalance: The free balance of ${bob} is 0.00 USDC; 1.00 USDC needed.`);
    });
  });

  describe("a real protocol revert", function () {
    it("decodes with its arguments and walk() reaches viem's cause", async function () {
      const p = await networkHelpers.loadFixture(protocolFixture);
      const { addresses, wallets } = await sdkClients(conn, p as Protocol);
      const err = await caught(() => withdraw(wallets.bob, { addresses, amount: usd(1) }));
      expect(err).to.be.instanceOf(TidemarkContractError);
      const t = err as TidemarkContractError;
      expect(t.errorName).to.equal("PerpInsufficientFreeBalance");
      expect(t.args).to.deep.equal([p.bob.address, 0n, usd(1)]);
      // The SDK read the collateral token's symbol and decimals on the error path.
      expect(t.units).to.deep.equal({ symbol: "USDC", decimals: 6 });
      expect(t.shortMessage).to.equal(`PerpInsufficientFreeBalance: The free balance of ${p.bob.address} is 0.00 USDC; 1.00 USDC needed.`);
      expect(t.message.split("\n").slice(0, 2)).to.deep.equal([t.shortMessage, `Arguments: (${p.bob.address}, 0, 1000000)`]);

      expect(t.walk((e) => e === t)).to.equal(t);
      const reverted = t.walk((e) => e instanceof ContractFunctionRevertedError) as ContractFunctionRevertedError;
      expect(reverted).to.be.instanceOf(ContractFunctionRevertedError);
      expect(reverted.raw).to.equal(t.data);
      expect(t.walk((e) => e instanceof ContractFunctionExecutionError)).to.equal(t.cause);
      expect(t.walk(() => false)).to.equal(null);
      const deepest = t.walk();
      expect(deepest).to.not.equal(t);
      expect((deepest as { cause?: unknown }).cause).to.equal(undefined);
    });

    it("a TidemarkError composes its message from the short message, meta messages and details", function () {
      const err = new TidemarkError("Something failed", { metaMessages: ["First: 1"], details: "node said no", cause: new Error("root") });
      expect(err.message).to.equal("Something failed\nFirst: 1\nDetails: node said no");
      expect(err.shortMessage).to.equal("Something failed");
      expect((err.walk() as Error).message).to.equal("root");
      expect(new TidemarkError("alone").message).to.equal("alone");
    });
  });
});
