/**
 * The governance CLI end to end: `hardhat node` in a child process, the local system deployed on it with the
 * TidemarkLocal Ignition module (60-second timelock, account 0 proposer and executor), and `scripts/gov.ts` run as a
 * separate process exactly as `npm run gov` runs it.
 */
import { execFile, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { expect } from "chai";
import { JsonRpcProvider, Wallet, encodeBytes32String, encryptKeystoreJson } from "ethers";
import { network } from "hardhat";

import TidemarkLocalModule from "../../ignition/modules/TidemarkLocal.js";
import { wad } from "./helpers/fixture.js";
import { freePort, startNode } from "./helpers/node.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const DEPLOYMENT_ID = "gov-cli-e2e";
// Hardhat's first default account (public test key): proposer, executor and guardian of the local module.
const KEY0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe("Governance CLI against hardhat node", function () {
  this.timeout(180_000);
  let node: ChildProcess;
  let rpc: string;
  let provider: JsonRpcProvider;
  let engine: any;
  let env: NodeJS.ProcessEnv;

  const gov = (args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<Run> =>
    new Promise((res) => {
      execFile(
        process.execPath,
        ["--experimental-strip-types", "--no-warnings", join(ROOT, "scripts/gov.ts"), ...args],
        { cwd: ROOT, env: { ...env, ...extraEnv } },
        (err, stdout, stderr) => res({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });

  const opId = (out: string) => {
    const m = /scheduled operation (0x[0-9a-f]{64})/.exec(out);
    if (m === null) throw new Error(`no operation id in:\n${out}`);
    return m[1];
  };

  before(async function () {
    await rm(join(ROOT, "ignition/deployments", DEPLOYMENT_ID), { recursive: true, force: true });
    const port = await freePort();
    node = await startNode(port);
    rpc = `http://127.0.0.1:${port}`;
    provider = new JsonRpcProvider(rpc, undefined, { staticNetwork: true });
    const conn = await network.create({ network: "localhost", override: { url: rpc } });
    const deployed = await conn.ignition.deploy(TidemarkLocalModule, { deploymentId: DEPLOYMENT_ID });
    engine = deployed.engine;
    env = {
      ...process.env,
      TIDEMARK_RPC_URL: rpc,
      TIDEMARK_ENGINE: await deployed.engine.getAddress(),
      TIDEMARK_TIMELOCK: await deployed.timelock.getAddress(),
      TIDEMARK_PRIVATE_KEY: KEY0,
    };
  });

  after(async function () {
    node?.kill();
    await rm(join(ROOT, "ignition/deployments", DEPLOYMENT_ID), { recursive: true, force: true });
  });

  it("--help works for the CLI and for every command, without a chain", async function () {
    const main = await gov(["--help"], { TIDEMARK_RPC_URL: "http://127.0.0.1:1" });
    expect(main.code).to.equal(0);
    for (const c of ["show", "propose", "execute", "cancel", "status"]) expect(main.stdout).to.include(`  ${c}`);
    for (const c of ["show", "propose", "execute", "cancel", "status"]) {
      const r = await gov([c, "--help"], { TIDEMARK_RPC_URL: "http://127.0.0.1:1" });
      expect(r.code, c).to.equal(0);
      expect(r.stdout, c).to.include(`npm run gov -- ${c}`);
    }
  });

  it("show prints every market's parameters in readable units", async function () {
    const r = await gov(["show"]);
    expect(r.code, r.stderr).to.equal(0);
    for (const s of [
      "reserve factor            20%",
      "minimum delay 60 s",
      "market ETH-USD",
      "market BTC-USD",
      "oracle                    ok, 3,000 USD",
      "IMR 1%       MMR 0.5%",
      "IMR 5%       MMR 2.5%",
      "takerFeeRate              0.05%",
      "maxLongOpenInterestRatio  2x",
    ]) {
      expect(r.stdout).to.include(s);
    }
  });

  it("propose prints the diff and the operation; execute fails before the delay and succeeds after it", async function () {
    const p = await gov(["propose", "reserve-factor", "25%", "--salt", "rf-25"]);
    expect(p.code, p.stderr).to.equal(0);
    expect(p.stdout).to.include("~ reserveFactor             20%  ->  25%");
    expect(p.stdout).to.include("simulated as the timelock: accepted");
    expect(p.stdout).to.match(/executable from .* \(timestamp \d+, delay 60 s\)/);
    const id = opId(p.stdout);

    const s = await gov(["status", id]);
    expect(s.stdout).to.include(`${id}  pending`);
    expect(s.stdout).to.include("setReserveFactor(250000000000000000)");

    const early = await gov(["execute", id]);
    expect(early.code).to.equal(2);
    expect(early.stderr).to.match(/not ready: \d+ s left/);
    expect(await engine.reserveFactor()).to.equal(wad("0.2"));

    await provider.send("evm_increaseTime", [61]);
    await provider.send("evm_mine", []);
    const done = await gov(["execute", id]);
    expect(done.code, done.stderr).to.equal(0);
    expect(done.stdout).to.include(`executed ${id}: setReserveFactor(250000000000000000)`);
    expect(await engine.reserveFactor()).to.equal(wad("0.25"));
    expect((await gov(["status", id])).stdout).to.include(`${id}  done`);
    // The reserve factor just changed: the one-day cooldown refuses the next step, and nothing is scheduled.
    const soon = await gov(["propose", "reserve-factor", "0.3"]);
    expect(soon.code).to.equal(2);
    expect(soon.stderr).to.include("PerpRateChangeTooSoon(parameter=reserveFactor, allowedAt=");
  });

  it("a struct change shows only the changed field as a diff and executes", async function () {
    // Deployment set ETH-USD's funding rate, which starts the market's one-day rate cooldown: let it pass.
    await provider.send("evm_increaseTime", [86_400]);
    await provider.send("evm_mine", []);
    const p = await gov(["propose", "risk-params", "--market", "ETH-USD", "--set", "takerFeeRate=0.06%", "--salt", "fee"]);
    expect(p.code, p.stderr).to.equal(0);
    expect(p.stdout).to.include("~ takerFeeRate              0.05%  ->  0.06%");
    expect(p.stdout).to.include("  liquidationFeeRate        0.1%");
    await provider.send("evm_increaseTime", [61]);
    await provider.send("evm_mine", []);
    expect((await gov(["execute", opId(p.stdout)])).code).to.equal(0);
    expect((await engine.riskParams(encodeBytes32String("ETH-USD"))).takerFeeRate).to.equal(wad("0.0006"));
  });

  it("out-of-bounds and over-step proposals are refused before anything is scheduled", async function () {
    const before = (await gov(["status"])).stdout.split("\n").filter((l) => l.startsWith("0x")).length;
    const oob = await gov(["propose", "risk-params", "--market", "ETH-USD", "--set", "takerFeeRate=2%"]);
    expect(oob.code).to.equal(2);
    expect(oob.stderr).to.include("the engine would reject this change: PerpParameterOutOfBounds(parameter=takerFeeRate");
    expect(oob.stderr).to.include("nothing was scheduled");
    const step = await gov(["propose", "reserve-factor", "0.6"]);
    expect(step.code).to.equal(2);
    expect(step.stderr).to.include("PerpParameterStepTooLarge(parameter=reserveFactor");
    const after = (await gov(["status"])).stdout.split("\n").filter((l) => l.startsWith("0x")).length;
    expect(after).to.equal(before);
  });

  it("bad input gets a clear message and exit code 2", async function () {
    const cases: [string[], string][] = [
      [["propose", "risk-params", "--set", "takerFeeRate=0.1%"], "needs --market"],
      [["propose", "risk-params", "--market", "ETH-USD", "--set", "nope=1"], 'unknown field "nope"'],
      [["propose", "risk-params", "--market", "ETH-USD", "--set", "takerFeeRate=abc"], "takerFeeRate=abc"],
      [["propose", "warp-drive"], 'unknown change "warp-drive"'],
      [["execute", "0x1234"], "needs an operation id"],
      [["frobnicate"], 'unknown command "frobnicate"'],
      [["show", "--bogus"], "Unknown option"],
    ];
    for (const [args, message] of cases) {
      const r = await gov(args);
      expect(r.code, args.join(" ")).to.equal(2);
      expect(r.stderr, args.join(" ")).to.include(message);
    }
    const noKey = await gov(["cancel", "0x" + "11".repeat(32)], { TIDEMARK_PRIVATE_KEY: undefined });
    expect(noKey.stderr).to.include("no signer");
    const badKey = await gov(["cancel", "0x" + "11".repeat(32)], { TIDEMARK_PRIVATE_KEY: "0xnotakey" });
    expect(badKey.stderr).to.include("TIDEMARK_PRIVATE_KEY is not a valid private key");
    expect(badKey.stderr).not.to.include("0xnotakey");
  });

  it("cancel removes a pending operation; it can then never execute", async function () {
    const p = await gov(["propose", "risk-params", "--market", "BTC-USD", "--set", "minKeeperFee=6", "--salt", "to-cancel"]);
    const id = opId(p.stdout);
    const c = await gov(["cancel", id]);
    expect(c.code, c.stderr).to.equal(0);
    expect((await gov(["status", id])).stdout).to.include(`${id}  unknown or cancelled`);
    await provider.send("evm_increaseTime", [61]);
    await provider.send("evm_mine", []);
    const e = await gov(["execute", id]);
    expect(e.code).to.equal(2);
    expect(e.stderr).to.include("unknown or cancelled");
  });

  it("signs with an encrypted keystore and never prints the key", async function () {
    const dir = await mkdtemp(join(tmpdir(), "tidemark-gov-"));
    const file = join(dir, "key.json");
    // Light scrypt parameters keep the test fast; real keystores use the default.
    const account = new Wallet(KEY0);
    await writeFile(
      file,
      await encryptKeystoreJson({ address: account.address, privateKey: KEY0 }, "correct horse", { scrypt: { N: 1024 } }),
    );
    const env2 = { TIDEMARK_PRIVATE_KEY: undefined, TIDEMARK_KEYSTORE_PASSWORD: "correct horse" };
    const p = await gov(
      ["propose", "risk-params", "--market", "BTC-USD", "--set", "minKeeperFee=7", "--salt", "keystore", "--keystore", file],
      env2,
    );
    expect(p.code, p.stderr).to.equal(0);
    const wrong = await gov(["cancel", opId(p.stdout), "--keystore", file], { ...env2, TIDEMARK_KEYSTORE_PASSWORD: "nope" });
    expect(wrong.code).to.equal(2);
    expect(wrong.stderr).to.include("cannot decrypt");
    for (const out of [p.stdout, p.stderr, wrong.stdout, wrong.stderr]) expect(out).not.to.include(KEY0.slice(2));
    await rm(dir, { recursive: true, force: true });
  });
});
