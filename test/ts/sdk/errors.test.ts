/**
 * Typed revert decoding: every custom error the protocol can revert with decodes into a TidemarkContractError with its
 * name, arguments and a readable message; anything else becomes an UnknownRevertError with its raw data, and failures
 * that are not reverts pass through untouched.
 */
import { expect } from "chai";
import { network } from "hardhat";
import {
  type Address,
  type Hex,
  ContractFunctionExecutionError,
  ContractFunctionRevertedError,
  HttpRequestError,
  UserRejectedRequestError,
  concat,
  createPublicClient,
  custom,
  encodeAbiParameters,
  encodeErrorResult,
  numberToHex,
  size,
  toFunctionSelector,
} from "viem";
import { hardhat } from "viem/chains";

import {
  InvalidParameterError,
  TidemarkContractError,
  TidemarkError,
  UnknownRevertError,
  decodeTidemarkRevert,
  getFreeBalance,
  insuranceFundAbi,
  liquidityPoolAbi,
  marketId,
  tidemarkEngineAbi,
  tidemarkErrorsAbi,
  tidemarkLensAbi,
  toTidemarkError,
  withDecodedErrors,
  withdraw,
} from "../../../sdk/src/index.js";
import { deployProtocol, usd } from "../helpers/fixture.js";
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
      expect(err.shortMessage).to.equal("PerpSlippage: The fill price 3001 is worse than the acceptable price 3000.");
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

  describe("a real protocol revert", function () {
    it("decodes with its arguments and walk() reaches viem's cause", async function () {
      const p = await networkHelpers.loadFixture(protocolFixture);
      const { addresses, wallets } = await sdkClients(conn, p as Protocol);
      const err = await caught(() => withdraw(wallets.bob, { addresses, amount: usd(1) }));
      expect(err).to.be.instanceOf(TidemarkContractError);
      const t = err as TidemarkContractError;
      expect(t.errorName).to.equal("PerpInsufficientFreeBalance");
      expect(t.args).to.deep.equal([p.bob.address, 0n, usd(1)]);
      expect(t.shortMessage).to.equal(`PerpInsufficientFreeBalance: Free balance of ${p.bob.address} is 0 token units; 1000000 needed.`);
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
