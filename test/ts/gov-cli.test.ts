/**
 * The governance CLI end to end: `hardhat node` in a child process, the local system deployed on it with the
 * TidemarkLocal Ignition module (60-second timelock, account 0 proposer and executor), and `scripts/gov.ts` run as a
 * separate process exactly as `npm run gov` runs it. The commands the CLI prints as hints are run as printed, through
 * `sh -c` and `npm run` from the package root, as a person pasting them would.
 *
 * The tests share one chain and run in order: each leaves the parameters as the next one expects.
 */
import { execFile, type ChildProcess } from "node:child_process";
import { copyFile, mkdir, mkdtemp, readFile, realpath, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { expect } from "chai";
import {
  Contract,
  ContractFactory,
  JsonRpcProvider,
  NonceManager,
  Wallet,
  ZeroAddress,
  ZeroHash,
  encodeBytes32String,
  encryptKeystoreJson,
  id as keccakId,
} from "ethers";
import { network } from "hardhat";

import TidemarkLocalModule from "../../ignition/modules/TidemarkLocal.js";
import { wad } from "./helpers/fixture.js";
import { freePort, startNode } from "./helpers/node.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const DEPLOYMENT_ID = "gov-cli-e2e";
// Hardhat's first default account (public test key): proposer, executor and guardian of the local module.
const KEY0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const ETH = encodeBytes32String("ETH-USD");
const BTC = encodeBytes32String("BTC-USD");
const ISO = String.raw`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`;
// A run of 13 or more decimal digits outside a 0x hex string: a raw WAD or a raw timestamp in milliseconds.
const RAW_NUMBER = /(?<![0-9a-fA-Fx])\d{13,}/;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every command the CLI printed as a hint ("label: npm run gov -- ..."), in order. */
function hints(out: string): string[] {
  return [...out.matchAll(/: (npm run gov -- .+)$/gm)].map((m) => m[1].trim());
}

/** The command of the first hint line containing `needle` (its label, such as "then:", or part of the command). */
function hintWith(out: string, needle: string): string {
  for (const line of out.split("\n")) {
    const m = /: (npm run gov -- .+)$/.exec(line);
    if (m !== null && line.includes(needle)) return m[1].trim();
  }
  throw new Error(`no hint with "${needle}" in:\n${out}`);
}

/**
 * A JSON-RPC proxy in front of the node that answers like a real network: chain id 42161 and a geth client version,
 * so the CLI treats it as a non-local chain. Everything else goes through; `methods` records what was asked.
 */
async function startRealChainProxy(target: string): Promise<{ url: string; methods: string[]; server: Server }> {
  const methods: string[] = [];
  const server = createServer(async (req, res) => {
    let body = "";
    for await (const chunk of req) body += chunk;
    const parsed = JSON.parse(body) as { id: number; method: string } | { id: number; method: string }[];
    const requests = Array.isArray(parsed) ? parsed : [parsed];
    for (const r of requests) methods.push(r.method);
    const upstream = await fetch(target, { method: "POST", headers: { "content-type": "application/json" }, body });
    const answer = (await upstream.json()) as { id: number; result?: unknown } | { id: number; result?: unknown }[];
    const answers = Array.isArray(answer) ? answer : [answer];
    for (const a of answers) {
      const method = requests.find((r) => r.id === a.id)?.method;
      if (method === "eth_chainId") a.result = "0xa4b1";
      if (method === "net_version") a.result = "42161";
      if (method === "web3_clientVersion") a.result = "Geth/v1.14.11-stable/linux-amd64/go1.22.7";
    }
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify(Array.isArray(answer) ? answers : answers[0]));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}`, methods, server };
}

describe("Governance CLI against hardhat node", function () {
  this.timeout(180_000);
  let node: ChildProcess;
  let rpc: string;
  let provider: JsonRpcProvider;
  let wallet: Wallet;
  let engine: any;
  let engineAddress: string;
  let timelockAddress: string;
  let env: NodeJS.ProcessEnv; // addresses, RPC and key from the environment
  let bare: NodeJS.ProcessEnv; // no TIDEMARK_* variable at all
  let work: string; // a working directory holding ignition/deployments/chain-31337 for this test's deployment
  let workDeployment: string;
  const tmpDirs: string[] = [];

  const gov = (args: string[], opts: { env?: NodeJS.ProcessEnv; extraEnv?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<Run> =>
    new Promise((res) => {
      execFile(
        process.execPath,
        ["--experimental-strip-types", "--no-warnings", join(ROOT, "scripts/gov.ts"), ...args],
        { cwd: opts.cwd ?? ROOT, env: { ...(opts.env ?? env), ...opts.extraEnv } },
        (err, stdout, stderr) => res({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });

  /** Runs a printed command as pasted into a shell at the package root, with the Node that runs the tests first. */
  const paste = (command: string, runEnv: NodeJS.ProcessEnv = env): Promise<Run> => {
    expect(command).to.match(/^npm run gov -- /);
    return new Promise((res) => {
      execFile(
        "sh",
        ["-c", command],
        { cwd: ROOT, env: { ...runEnv, PATH: `${dirname(process.execPath)}:${process.env.PATH}` } },
        (err, stdout, stderr) => res({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
  };

  const opId = (out: string) => {
    const m = /scheduled operation (0x[0-9a-f]{64})/.exec(out);
    if (m === null) throw new Error(`no operation id in:\n${out}`);
    return m[1];
  };
  const eta = (out: string) => {
    const m = new RegExp(`executable from (${ISO})`).exec(out);
    if (m === null) throw new Error(`no ETA in:\n${out}`);
    return BigInt(Date.parse(m[1]) / 1000);
  };
  const blockNumber = async () => BigInt(await provider.send("eth_blockNumber", []));
  const latestTimestamp = async () => BigInt((await provider.send("eth_getBlockByNumber", ["latest", false])).timestamp);
  const nodeClock = async () => BigInt((await provider.send("eth_getBlockByNumber", ["pending", false])).timestamp);
  const scheduledCount = async () => (await gov(["status"])).stdout.split("\n").filter((l) => l.startsWith("0x")).length;
  const tempDir = async () => {
    const dir = await realpath(await mkdtemp(join(tmpdir(), "tidemark-gov-")));
    tmpDirs.push(dir);
    return dir;
  };

  before(async function () {
    await rm(join(ROOT, "ignition/deployments", DEPLOYMENT_ID), { recursive: true, force: true });
    const port = await freePort();
    node = await startNode(port);
    rpc = `http://127.0.0.1:${port}`;
    provider = new JsonRpcProvider(rpc, undefined, { staticNetwork: true });
    wallet = new Wallet(KEY0, provider);
    const conn = await network.create({ network: "localhost", override: { url: rpc } });
    const deployed = await conn.ignition.deploy(TidemarkLocalModule, { deploymentId: DEPLOYMENT_ID });
    engine = deployed.engine;
    engineAddress = await deployed.engine.getAddress();
    timelockAddress = await deployed.timelock.getAddress();
    bare = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("TIDEMARK_")));
    env = {
      ...bare,
      TIDEMARK_RPC_URL: rpc,
      TIDEMARK_ENGINE: engineAddress,
      TIDEMARK_TIMELOCK: timelockAddress,
      TIDEMARK_PRIVATE_KEY: KEY0,
    };
    // The default deployment path, in a working directory of its own: the repository's ignition/deployments/chain-31337
    // belongs to whoever ran `npm run deploy:local` and is never touched.
    work = await tempDir();
    workDeployment = join(work, "ignition/deployments/chain-31337");
    await mkdir(workDeployment, { recursive: true });
    await copyFile(
      join(ROOT, "ignition/deployments", DEPLOYMENT_ID, "deployed_addresses.json"),
      join(workDeployment, "deployed_addresses.json"),
    );
  });

  after(async function () {
    node?.kill();
    await rm(join(ROOT, "ignition/deployments", DEPLOYMENT_ID), { recursive: true, force: true });
    for (const dir of tmpDirs) await rm(dir, { recursive: true, force: true });
  });

  it("--help and help work for the CLI and for every command, without a chain", async function () {
    const noChain = { TIDEMARK_RPC_URL: "http://127.0.0.1:1" };
    for (const args of [["--help"], ["help"], []]) {
      const main = await gov(args, { extraEnv: noChain });
      expect(main.code, args.join(" ")).to.equal(0);
      for (const c of ["show", "propose", "execute", "cancel", "status"]) expect(main.stdout).to.include(`  ${c}`);
      expect(main.stdout).to.include("ignition/deployments/chain-<chain id>/deployed_addresses.json");
    }
    for (const c of ["show", "propose", "execute", "cancel", "status"]) {
      const r = await gov([c, "--help"], { extraEnv: noChain });
      expect(r.code, c).to.equal(0);
      expect(r.stdout, c).to.include(`npm run gov -- ${c}`);
    }
    const execute = await gov(["execute", "--help"], { extraEnv: noChain });
    expect(execute.stdout).to.include("--advance-time");
    expect(execute.stdout).to.include("mines a block");
    const propose = await gov(["propose", "-h"], { extraEnv: noChain });
    expect(propose.stdout).to.include("skewScale (base asset)");
    expect(propose.stdout).to.include("heartbeat (s)");
  });

  it("show, with no address option or variable, reads the default deployment of the RPC's chain, in readable units", async function () {
    const r = await gov(["show"], { env: { ...bare, TIDEMARK_RPC_URL: rpc }, cwd: work });
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.include("chain 31337 (local dev chain), addresses from ignition/deployments/chain-31337/deployed_addresses.json");
    expect(r.stdout).to.include(`engine ${engineAddress}`);
    for (const s of [
      "reserve factor            20%",
      "open entry notional       0.00 USD",
      "(grace period 0 s)",
      "minimum delay 60 s",
      "market ETH-USD",
      "market BTC-USD",
      "oracle                    ok, 3,000.00 USD",
      "oracle                    ok, 60,000.00 USD",
      "heartbeat                 3600 s",
      "minPrice                  1.00 USD",
      "maxPrice                  1,000,000.00 USD",
      "from 50,000.00 USD          IMR 2%       MMR 1%",
      "IMR 5%       MMR 2.5%",
      "takerFeeRate              0.05%",
      "targetHealthFactor        1.25",
      "minKeeperFee              5.00 USD",
      "fullLiquidationNotional   10,000.00 USD",
      "impactSkewScale           1,000,000 ETH",
      "skewScale                 10,000 ETH",
      "skewScale                 500 BTC",
      "maxFundingRatePerDay      0.1% per day",
      "maxLongOpenInterestRatio  2x",
      "open interest             long 0 ETH, short 0 ETH",
    ]) {
      expect(r.stdout).to.include(s);
    }
    expect(r.stdout).not.to.match(/\bunits\b/);
    expect(r.stdout).not.to.match(RAW_NUMBER);
    // The same addresses from the environment: identical parameters.
    const fromEnv = await gov(["show", "--market", "BTC-USD"]);
    expect(fromEnv.code, fromEnv.stderr).to.equal(0);
    expect(fromEnv.stdout).to.include("addresses from TIDEMARK_ENGINE and TIDEMARK_TIMELOCK");
    expect(fromEnv.stdout).to.include("market BTC-USD");
    expect(fromEnv.stdout).not.to.include("market ETH-USD");
  });

  it("without a deployment at the default path, or with a stale one, says which file it tried and how to fix it", async function () {
    const empty = await tempDir();
    const missing = await gov(["show"], { env: { ...bare, TIDEMARK_RPC_URL: rpc }, cwd: empty });
    expect(missing.code).to.equal(2);
    expect(missing.stderr).to.include(join(empty, "ignition/deployments/chain-31337/deployed_addresses.json"));
    expect(missing.stderr).to.include('"npm run deploy:local"');
    expect(missing.stderr).to.include("--deployment <dir>");
    expect(missing.stderr).to.include("--engine <address> and --timelock <address>");
    for (const cmd of [["status"], ["execute", "0x" + "11".repeat(32)], ["propose", "reserve-factor", "25%"]]) {
      const r = await gov(cmd, { env: { ...bare, TIDEMARK_RPC_URL: rpc, TIDEMARK_PRIVATE_KEY: KEY0 }, cwd: empty });
      expect(r.code, cmd.join(" ")).to.equal(2);
      expect(r.stderr, cmd.join(" ")).to.include("there is no deployment for chain 31337");
    }
    // A deployment file left over from a node that was restarted: its addresses hold no code on this chain.
    const stale = await tempDir();
    await mkdir(join(stale, "ignition/deployments/chain-31337"), { recursive: true });
    await writeFile(
      join(stale, "ignition/deployments/chain-31337/deployed_addresses.json"),
      JSON.stringify({ "TidemarkLocal#TidemarkEngine": "0x" + "12".repeat(20), "TidemarkLocal#TimelockController": "0x" + "34".repeat(20) }),
    );
    const old = await gov(["show"], { env: { ...bare, TIDEMARK_RPC_URL: rpc }, cwd: stale });
    expect(old.code).to.equal(2);
    expect(old.stderr).to.include("no contract at the engine address");
    expect(old.stderr).to.include("the deployment is stale");
    const unreachable = await gov(["show"], { extraEnv: { TIDEMARK_RPC_URL: "http://127.0.0.1:1" } });
    expect(unreachable.code).to.equal(2);
    expect(unreachable.stderr).to.include("cannot reach the RPC at http://127.0.0.1:1");
  });

  it("propose prints the diff and the operation; execute before the ETA says how long is left; the pasted --advance-time hint executes it", async function () {
    const p = await gov(["propose", "reserve-factor", "25%", "--salt", "rf-25"]);
    expect(p.code, p.stderr).to.equal(0);
    expect(p.stdout).to.include("~ reserveFactor             20%  ->  25%");
    expect(p.stdout).to.include("simulated as the timelock: accepted");
    expect(p.stdout).to.match(new RegExp(`executable from ${ISO} \\(in 60 s; timelock delay 60 s\\)`));
    const id = opId(p.stdout);
    // Addresses, RPC and key came from the environment: the hints need no option.
    expect(p.stdout).to.include(`\nthen: npm run gov -- execute ${id}\n`);
    expect(p.stdout).to.include(`without waiting: npm run gov -- execute ${id} --advance-time\n`);

    const s = await gov(["status", id]);
    expect(s.code, s.stderr).to.equal(0);
    expect(s.stdout).to.match(new RegExp(`${id}  pending, executable from ${ISO} \\(in \\d+ s\\)`));
    expect(s.stdout).to.include("  setReserveFactor(25%)");

    const before = await blockNumber();
    const early = await gov(["execute", id]);
    expect(early.code).to.equal(2);
    const m = new RegExp(`is not ready: ready in (\\d+) s, at (${ISO})`).exec(early.stderr);
    expect(m, early.stderr).to.not.equal(null);
    expect(Number(m![1])).to.be.within(1, 60);
    expect(BigInt(Date.parse(m![2]) / 1000)).to.equal(eta(p.stdout));
    expect(await engine.reserveFactor()).to.equal(wad("0.2"));
    // Only the block that brings the local chain's clock up to date was mined; nothing was executed.
    expect(await blockNumber()).to.equal(before + 1n);

    const advanced = await paste(hintWith(early.stderr, "--advance-time"));
    expect(advanced.code, advanced.stderr).to.equal(0);
    expect(advanced.stdout).to.match(new RegExp(`advanced the local chain's clock by \\d+ s to ${ISO}, the operation's ETA`));
    expect(advanced.stdout).to.include(`executed ${id}: setReserveFactor(25%)`);
    expect(await engine.reserveFactor()).to.equal(wad("0.25"));
    expect(await latestTimestamp()).to.be.greaterThanOrEqual(eta(p.stdout));
    expect((await gov(["status", id])).stdout).to.include(`${id}  done`);
    const again = await gov(["execute", id]);
    expect(again.code).to.equal(2);
    expect(again.stderr).to.include("is already done: setReserveFactor(25%)");
    // The reserve factor just changed: the one-day cooldown refuses the next step, and nothing is scheduled.
    const count = await scheduledCount();
    const soon = await gov(["propose", "reserve-factor", "0.3"]);
    expect(soon.code).to.equal(2);
    expect(soon.stderr).to.match(new RegExp(`PerpRateChangeTooSoon\\(parameter=reserveFactor, allowedAt=${ISO}\\)`));
    expect(await scheduledCount()).to.equal(count);
  });

  it("execute becomes ready on an idle automine chain once the clock passes the ETA, with no transaction in between", async function () {
    // A second timelock with a 2-second delay, made a governor of the engine through the real one. The grant is
    // scheduled without the CLI: status and execute find it from the timelock's events and decode it.
    const artifact = JSON.parse(
      await readFile(join(ROOT, "artifacts/@openzeppelin/contracts/governance/TimelockController.sol/TimelockController.json"), "utf8"),
    ) as { abi: never[]; bytecode: string };
    // The CLI sends from the same account: a nonce manager created now counts from the chain's current nonce.
    const signer = new NonceManager(wallet);
    const factory = new ContractFactory(artifact.abi, artifact.bytecode, signer);
    const short = await factory.deploy(2, [wallet.address], [wallet.address], ZeroAddress);
    await short.waitForDeployment();
    const shortAddress = await short.getAddress();
    const main = new Contract(timelockAddress, artifact.abi, signer);
    const grant = engine.interface.encodeFunctionData("grantRole", [keccakId("GOVERNOR_ROLE"), shortAddress]);
    const salt = keccakId("short-timelock");
    await (await main.schedule(engineAddress, 0, grant, ZeroHash, salt, 60)).wait();
    const grantId: string = await main.hashOperation(engineAddress, 0, grant, ZeroHash, salt);
    const gs = await gov(["status", grantId]);
    expect(gs.stdout).to.include(`grantRole(GOVERNOR_ROLE, ${shortAddress})`);
    const ge = await gov(["execute", grantId, "--advance-time"]);
    expect(ge.code, ge.stderr).to.equal(0);
    expect(ge.stdout).to.include(`executed ${grantId}: grantRole(GOVERNOR_ROLE, ${shortAddress})`);

    const p = await gov(["propose", "risk-params", "--market", "BTC-USD", "--set", "minKeeperFee=6", "--salt", "idle", "--timelock", shortAddress]);
    expect(p.code, p.stderr).to.equal(0);
    expect(p.stdout).to.include("~ minKeeperFee              5.00 USD  ->  6.00 USD");
    expect(p.stdout).to.include("timelock delay 2 s");
    const id = opId(p.stdout);
    const readyAt = eta(p.stdout);
    const then = hintWith(p.stdout, "then:");
    expect(then).to.equal(`npm run gov -- execute ${id} --timelock ${shortAddress}`);

    // Nothing is sent while the chain's clock (its pending block) passes the ETA: the latest block stays behind it.
    const idleFrom = await blockNumber();
    for (let i = 0; (await nodeClock()) <= readyAt; i++) {
      expect(i, "the node's clock does not advance").to.be.lessThan(100);
      await sleep(100);
    }
    expect(await blockNumber()).to.equal(idleFrom);
    expect(await latestTimestamp()).to.be.lessThan(readyAt);

    const s = await gov(["status", id, "--timelock", shortAddress]);
    expect(s.stdout).to.match(new RegExp(`${id}  ready \\(executable since ${ISO}\\)`));
    expect(hintWith(s.stdout, "execute it:")).to.equal(then);
    const done = await paste(then);
    expect(done.code, done.stderr).to.equal(0);
    expect(done.stdout).to.include(`executed ${id}: setRiskParams(BTC-USD, {takerFeeRate: 0.05%, liquidationFeeRate: 0.1%,`);
    expect(done.stdout).to.include("minKeeperFee: 6.00 USD, maxKeeperFee: 1,000.00 USD");
    expect((await engine.riskParams(BTC)).minKeeperFee).to.equal(wad("6"));
  });

  it("pasted hints carry the options that reached the chain: --rpc, --deployment, --engine and --timelock", async function () {
    const keyOnly = { ...bare, TIDEMARK_PRIVATE_KEY: KEY0 };
    // --rpc and --deployment on the command line, nothing in the environment but the key.
    const a = await gov(
      ["propose", "oracle-config", "--market", "ETH-USD", "--set", "heartbeat=7200 s", "--salt", "hint-a", "--rpc", rpc, "--deployment", workDeployment],
      { env: keyOnly },
    );
    expect(a.code, a.stderr).to.equal(0);
    expect(a.stdout).to.include("~ heartbeat                 3600 s  ->  7200 s");
    const aId = opId(a.stdout);
    expect(hintWith(a.stdout, "then:")).to.equal(`npm run gov -- execute ${aId} --rpc ${rpc} --deployment ${workDeployment}`);
    const aDone = await paste(hintWith(a.stdout, "--advance-time"), keyOnly);
    expect(aDone.code, aDone.stderr).to.equal(0);
    expect(aDone.stdout).to.include(`executed ${aId}: setOracleConfig(ETH-USD, {feed: 0x`);
    expect(aDone.stdout).to.include("heartbeat: 7200 s, decimals: 8, minPrice: 1.00 USD, maxPrice: 1,000,000.00 USD})");
    expect((await engine.oracleConfig(ETH)).heartbeat).to.equal(7200n);

    // --engine and --timelock: the "then" hint, pasted once the delay has passed.
    const b = await gov(
      ["propose", "sequencer-config", "--set", "gracePeriod=600", "--salt", "hint-b", "--rpc", rpc, "--engine", engineAddress, "--timelock", timelockAddress],
      { env: keyOnly },
    );
    expect(b.code, b.stderr).to.equal(0);
    expect(b.stdout).to.include("~ gracePeriod               0 s  ->  600 s");
    const bId = opId(b.stdout);
    const bThen = hintWith(b.stdout, "then:");
    expect(bThen).to.equal(`npm run gov -- execute ${bId} --rpc ${rpc} --engine ${engineAddress} --timelock ${timelockAddress}`);
    await provider.send("evm_increaseTime", [61]);
    const bDone = await paste(bThen, keyOnly);
    expect(bDone.code, bDone.stderr).to.equal(0);
    expect(bDone.stdout).to.include(`executed ${bId}: setSequencerConfig(${ZeroAddress}, 600 s)`);
    expect((await engine.sequencerConfig()).gracePeriod).to.equal(600n);

    // The default deployment found from another working directory: the hint names it, since a pasted npm run
    // starts at the package root (whose own chain-31337 deployment, if any, is someone else's).
    const c = await gov(["propose", "exposure-params", "--market", "BTC-USD", "--set", "maxShortOpenInterestRatio=3x", "--salt", "hint-c"], {
      env: { ...keyOnly, TIDEMARK_RPC_URL: rpc },
      cwd: work,
    });
    expect(c.code, c.stderr).to.equal(0);
    expect(c.stdout).to.include("~ maxShortOpenInterestRatio 2x  ->  3x");
    const cId = opId(c.stdout);
    for (const h of hints(c.stdout)) expect(h).to.include(`--deployment ${workDeployment}`);
    const cDone = await paste(hintWith(c.stdout, "--advance-time"), { ...keyOnly, TIDEMARK_RPC_URL: rpc });
    expect(cDone.code, cDone.stderr).to.equal(0);
    expect(cDone.stdout).to.include(`executed ${cId}: setExposureParams(BTC-USD, {impactSkewScale: 50,000 BTC, maxLongOpenInterestRatio: 2x, maxShortOpenInterestRatio: 3x})`);
    expect((await engine.exposureParams(BTC)).maxShortOpenInterestRatio).to.equal(wad("3"));

    // --dry-run's hint is the propose command that schedules it; quoted where the shell needs it.
    const dry = await gov(["propose", "funding-params", "--market", "ETH-USD", "--set", "skewScale=20,000 ETH", "--salt", "dry", "--dry-run"]);
    expect(dry.code, dry.stderr).to.equal(0);
    expect(dry.stdout).to.include("~ skewScale                 10,000 ETH  ->  20,000 ETH");
    const schedule = hintWith(dry.stdout, "to schedule it:");
    expect(schedule).to.equal(`npm run gov -- propose funding-params --market ETH-USD --set 'skewScale=20,000 ETH' --salt dry`);
    const count = await scheduledCount();
    const scheduled = await paste(schedule);
    expect(scheduled.code, scheduled.stderr).to.equal(0);
    expect(await scheduledCount()).to.equal(count + 1);
    const dId = opId(scheduled.stdout);
    const dDone = await paste(hintWith(scheduled.stdout, "--advance-time"));
    expect(dDone.code, dDone.stderr).to.equal(0);
    expect(dDone.stdout).to.include(`executed ${dId}: setFundingParams(ETH-USD, {skewScale: 20,000 ETH, maxFundingRatePerDay: 0.1% per day})`);
    expect((await engine.fundingParams(ETH)).skewScale).to.equal(wad("20000"));
  });

  it("a struct change shows only the changed field as a diff; status and execute decode it in readable units", async function () {
    // Deployment set ETH-USD's funding rate, which starts the market's one-day rate cooldown: let it pass.
    await provider.send("evm_increaseTime", [86_400]);
    await provider.send("evm_mine", []);
    const p = await gov(["propose", "risk-params", "--market", "ETH-USD", "--set", "takerFeeRate=0.06%", "--salt", "fee"]);
    expect(p.code, p.stderr).to.equal(0);
    expect(p.stdout).to.include("~ takerFeeRate              0.05%  ->  0.06%");
    expect(p.stdout).to.include("  liquidationFeeRate        0.1%");
    expect(p.stdout).to.include("  minKeeperFee              5.00 USD");
    const id = opId(p.stdout);
    const call =
      "setRiskParams(ETH-USD, {takerFeeRate: 0.06%, liquidationFeeRate: 0.1%, liquidationPenaltyRate: 0.2%, " +
      "targetHealthFactor: 1.25, minKeeperFee: 5.00 USD, maxKeeperFee: 1,000.00 USD, minPositionNotional: 10.00 USD, " +
      "fullLiquidationNotional: 10,000.00 USD})";
    expect((await gov(["status", id])).stdout).to.include(`  ${call}`);
    const e = await gov(["execute", id, "--advance-time"]);
    expect(e.code, e.stderr).to.equal(0);
    expect(e.stdout).to.include(`executed ${id}: ${call}`);
    expect(e.stdout).to.match(/in block \d+, transaction 0x[0-9a-f]{64}/);
    expect((await engine.riskParams(ETH)).takerFeeRate).to.equal(wad("0.0006"));
  });

  it("every kind of change prints its diff in readable units (dry run: nothing is sent)", async function () {
    const tiers = join(await tempDir(), "tiers.json");
    await writeFile(
      tiers,
      JSON.stringify([
        { notionalFloor: "0", imr: "1.5%", mmr: "0.5%" },
        { notionalFloor: "50,000", imr: "2%", mmr: "1%" },
        { notionalFloor: 250000, imr: "0.025", mmr: "1.25%" },
        { notionalFloor: "1000000", imr: "5%", mmr: "2.5%" },
      ]),
    );
    const cases: [string[], string[]][] = [
      [["funding-params", "--market", "BTC-USD", "--set", "maxFundingRatePerDay=0.2%"], ["~ maxFundingRatePerDay      0.1% per day  ->  0.2% per day", "  skewScale                 500 BTC"]],
      [["exposure-params", "--market", "ETH-USD", "--set", "impactSkewScale=2,000,000 ETH"], ["~ impactSkewScale           1,000,000 ETH  ->  2,000,000 ETH"]],
      [["oracle-config", "--market", "BTC-USD", "--set", "minPrice=2", "--set", "maxPrice=20,000,000.00 USD"], ["~ minPrice                  1.00 USD  ->  2.00 USD", "~ maxPrice                  10,000,000.00 USD  ->  20,000,000.00 USD", "  heartbeat                 3600 s"]],
      [["margin-tiers", "--market", "BTC-USD", "--file", tiers], ["- from 0.00 USD: IMR 1%, MMR 0.5%", "+ from 0.00 USD: IMR 1.5%, MMR 0.5%", "+ from 250,000.00 USD: IMR 2.5%, MMR 1.25%"]],
      [["sequencer-config", "--set", "gracePeriod=900s"], ["~ gracePeriod               600 s  ->  900 s"]],
      [["risk-params", "--market", "BTC-USD", "--set", "maxKeeperFee=1,500.00 USD", "--set", "targetHealthFactor=1.3"], ["~ maxKeeperFee              1,000.00 USD  ->  1,500.00 USD", "~ targetHealthFactor        1.25  ->  1.3"]],
      [["reserve-factor", "0.3"], ["~ reserveFactor             25%  ->  30%"]],
    ];
    const count = await scheduledCount();
    const block = await blockNumber();
    for (const [args, lines] of cases) {
      const r = await gov(["propose", ...args, "--dry-run"]);
      expect(r.code, `${args.join(" ")}\n${r.stderr}`).to.equal(0);
      for (const l of lines) expect(r.stdout, args.join(" ")).to.include(l);
      expect(r.stdout).to.include("simulated as the timelock: accepted");
      expect(r.stdout).to.include("dry run, nothing sent; to schedule it: npm run gov -- propose");
      expect(r.stdout).not.to.match(/\bunits\b/);
      expect(r.stdout).not.to.match(RAW_NUMBER);
    }
    expect(await scheduledCount()).to.equal(count);
    expect(await blockNumber()).to.equal(block);
  });

  it("out-of-bounds and over-step proposals are refused in readable units before anything is scheduled", async function () {
    const before = await scheduledCount();
    const oob = await gov(["propose", "risk-params", "--market", "ETH-USD", "--set", "takerFeeRate=2%"]);
    expect(oob.code).to.equal(2);
    expect(oob.stderr).to.include(
      "the engine would reject this change: PerpParameterOutOfBounds(parameter=takerFeeRate, value=2%, min=0%, max=1%)",
    );
    expect(oob.stderr).to.include("nothing was scheduled");
    const step = await gov(["propose", "reserve-factor", "0.6"]);
    expect(step.code).to.equal(2);
    expect(step.stderr).to.include("PerpParameterStepTooLarge(parameter=reserveFactor, current=25%, proposed=60%, maxStep=10%)");
    const heartbeat = await gov(["propose", "oracle-config", "--market", "ETH-USD", "--set", "heartbeat=30"]);
    expect(heartbeat.stderr).to.include("PerpParameterOutOfBounds(parameter=heartbeat, value=30 s, min=60 s, max=172800 s)");
    expect(await scheduledCount()).to.equal(before);
  });

  it("bad input gets a clear message and exit code 2, and changes nothing", async function () {
    const unknownId = "0x" + "11".repeat(32);
    const cases: [string[], string][] = [
      [["propose", "risk-params", "--set", "takerFeeRate=0.1%"], "needs --market"],
      [["propose", "risk-params", "--market", "DOGE-USD", "--set", "minKeeperFee=6"], "market DOGE-USD is not listed on this engine; listed markets: ETH-USD, BTC-USD"],
      [["show", "--market", "DOGE-USD"], "market DOGE-USD is not listed"],
      [["propose", "risk-params", "--market", "ETH-USD", "--set", "nope=1"], 'unknown field "nope"'],
      [["propose", "risk-params", "--market", "ETH-USD", "--set", "takerFeeRate=abc"], "takerFeeRate=abc: not a number"],
      [["propose", "risk-params", "--market", "ETH-USD"], "needs at least one --set"],
      [["propose", "risk-params", "--market", "ETH-USD", "--set", "takerFeeRate"], "expected field=value"],
      [["propose", "reserve-factor", "25%%"], "reserve-factor=25%%: not a number; expected a fraction (0.0005) or a percentage (0.05%)"],
      [["propose", "reserve-factor", "1.2.3"], "reserve-factor=1.2.3: not a number"],
      [["propose", "reserve-factor", "0.1234567890123456789"], "more than 18 decimals"],
      [["propose", "reserve-factor", "0.00000000000000001%"], "more than 16 decimals"],
      [["propose", "reserve-factor"], "needs one value"],
      [["propose", "reserve-factor", "25%", "--market", "ETH-USD"], "engine-wide: it takes no --market"],
      [["propose", "funding-params", "--market", "ETH-USD", "--set", "skewScale=100 BTC"], '"BTC" is not this market\'s base asset (ETH)'],
      [["propose", "oracle-config", "--market", "ETH-USD", "--set", "heartbeat=5000000000"], "heartbeat 5000000000 s is too large: at most 4294967295 s (uint32)"],
      [["propose", "oracle-config", "--market", "ETH-USD", "--set", "heartbeat=1.5"], "not a whole number"],
      [["propose", "margin-tiers", "--market", "ETH-USD", "--file", "/nonexistent/tiers.json"], "does not exist"],
      [["propose", "warp-drive"], 'unknown change "warp-drive"'],
      [["execute", "0x1234"], "needs an operation id"],
      [["execute", unknownId], `operation ${unknownId} was never scheduled on the timelock`],
      [["execute", unknownId, "--advance-time"], "was never scheduled"],
      [["cancel", unknownId], "was never scheduled"],
      [["status", unknownId], "was never scheduled"],
      [["status", "--from-block", "x"], "--from-block x: expected a block number"],
      [["frobnicate"], 'unknown command "frobnicate"'],
      [["show", "--bogus"], "Unknown option"],
    ];
    const block = await blockNumber();
    const count = await scheduledCount();
    for (const [args, message] of cases) {
      const r = await gov(args);
      expect(r.code, args.join(" ")).to.equal(2);
      expect(r.stderr, args.join(" ")).to.include(message);
      expect(r.stdout, args.join(" ")).not.to.include("scheduled operation");
    }
    const never = await gov(["execute", unknownId]);
    expect(hintWith(never.stderr, "every scheduled operation:")).to.equal("npm run gov -- status");
    expect(await blockNumber()).to.equal(block);
    expect(await scheduledCount()).to.equal(count);
    expect(await engine.reserveFactor()).to.equal(wad("0.25"));

    const noKey = await gov(["cancel", unknownId], { extraEnv: { TIDEMARK_PRIVATE_KEY: undefined } });
    expect(noKey.stderr).to.include("no signer");
    const badKey = await gov(["cancel", unknownId], { extraEnv: { TIDEMARK_PRIVATE_KEY: "0xnotakey" } });
    expect(badKey.stderr).to.include("TIDEMARK_PRIVATE_KEY is not a valid private key");
    expect(badKey.stderr).not.to.include("0xnotakey");
  });

  it("cancel removes a pending operation; it can then never execute", async function () {
    const p = await gov(["propose", "risk-params", "--market", "BTC-USD", "--set", "minKeeperFee=8", "--salt", "to-cancel"]);
    const id = opId(p.stdout);
    const c = await gov(["cancel", id]);
    expect(c.code, c.stderr).to.equal(0);
    expect(c.stdout).to.include(`cancelled ${id}: setRiskParams(BTC-USD, {`);
    expect(c.stdout).to.include("minKeeperFee: 8.00 USD");
    expect((await gov(["status", id])).stdout).to.include(`${id}  cancelled`);
    const e = await gov(["execute", id, "--advance-time"]);
    expect(e.code).to.equal(2);
    expect(e.stderr).to.include("was cancelled: nothing to execute");
    const twice = await gov(["cancel", id]);
    expect(twice.code).to.equal(2);
    expect(twice.stderr).to.include("is already cancelled");
    expect((await engine.riskParams(BTC)).minKeeperFee).to.equal(wad("6"));
  });

  it("status lists every operation with its state and its call in readable units", async function () {
    const p = await gov(["propose", "risk-params", "--market", "BTC-USD", "--set", "minPositionNotional=20", "--salt", "listed"]);
    const pending = opId(p.stdout);
    const s = await gov(["status"]);
    expect(s.code, s.stderr).to.equal(0);
    const ops = s.stdout.split("\n").filter((l) => l.startsWith("0x"));
    expect(ops.length).to.be.greaterThanOrEqual(9);
    for (const l of ops) expect(l).to.match(new RegExp(`^0x[0-9a-f]{64}  (done|cancelled|ready \\(executable since ${ISO}\\)|pending, executable from ${ISO} \\(in \\d+ s\\))$`));
    expect(s.stdout).to.match(new RegExp(`${pending}  pending, executable from ${ISO} \\(in \\d+ s\\)\\n  setRiskParams\\(BTC-USD, \\{.*minPositionNotional: 20.00 USD`));
    for (const call of [
      "setReserveFactor(25%)",
      "grantRole(GOVERNOR_ROLE, 0x",
      "setSequencerConfig(0x0000000000000000000000000000000000000000, 600 s)",
      "setFundingParams(ETH-USD, {skewScale: 20,000 ETH, maxFundingRatePerDay: 0.1% per day})",
    ]) {
      expect(s.stdout).to.include(call);
    }
    expect(s.stdout).to.include("  cancelled\n");
    expect(s.stdout).not.to.match(RAW_NUMBER);
    // The listing has no hints; one operation's status has them, and they work.
    expect(hints(s.stdout)).to.deep.equal([]);
    const one = await gov(["status", pending]);
    expect(hintWith(one.stdout, "then, from")).to.equal(`npm run gov -- execute ${pending}`);
    // The same call with the same salt is the same operation: refused, with the status command to see it.
    const count = ops.length;
    const dup = await gov(["propose", "risk-params", "--market", "BTC-USD", "--set", "minPositionNotional=20", "--salt", "listed"]);
    expect(dup.code).to.equal(2);
    expect(dup.stderr).to.include(`operation ${pending} (this call with this salt) is already scheduled; pass another --salt`);
    expect(hintWith(dup.stderr, "see:")).to.equal(`npm run gov -- status ${pending}`);
    expect(await scheduledCount()).to.equal(count);
    const later = await gov(["status", "--from-block", String((await blockNumber()) + 1n)]);
    expect(later.stdout).to.match(/^no operations scheduled on the timelock 0x[0-9a-fA-F]{40} since block \d+/);
  });

  it("on a chain that is not a local dev chain, execute says how long is left without touching the chain, and --advance-time is refused", async function () {
    const p = await gov(["propose", "risk-params", "--market", "BTC-USD", "--set", "minPositionNotional=30", "--salt", "remote"]);
    const id = opId(p.stdout);
    const readyAt = eta(p.stdout);
    const proxy = await startRealChainProxy(rpc);
    try {
      const block = await blockNumber();
      const advance = await gov(["execute", id, "--rpc", proxy.url, "--advance-time"]);
      expect(advance.code).to.equal(2);
      expect(advance.stderr).to.include("--advance-time only works on a local dev chain");
      expect(advance.stderr).to.include("chain 42161 keeps its own time");
      expect(advance.stderr).to.match(new RegExp(`ready in \\d+ s, at ${ISO}`));
      expect(hintWith(advance.stderr, "then run:")).to.equal(`npm run gov -- execute ${id} --rpc ${proxy.url}`);

      const early = await gov(["execute", id, "--rpc", proxy.url]);
      expect(early.code).to.equal(2);
      const m = new RegExp(`is not ready: ready in (\\d+) s, at (${ISO})`).exec(early.stderr);
      expect(m, early.stderr).to.not.equal(null);
      expect(BigInt(Date.parse(m![2]) / 1000)).to.equal(readyAt);
      expect(early.stderr).not.to.include("--advance-time");
      expect(hints(early.stderr)).to.deep.equal([`npm run gov -- execute ${id} --rpc ${proxy.url}`]);

      const s = await gov(["status", id, "--rpc", proxy.url]);
      expect(s.stdout).to.match(new RegExp(`${id}  pending, executable from ${ISO} \\(in \\d+ s\\)`));
      expect(s.stdout).not.to.include("--advance-time");

      expect(proxy.methods.filter((method) => method.startsWith("evm_"))).to.deep.equal([]);
      expect(proxy.methods).to.include("web3_clientVersion");
      expect(await blockNumber()).to.equal(block);

      const missing = await gov(["show"], { env: { ...bare, TIDEMARK_RPC_URL: proxy.url }, cwd: work });
      expect(missing.code).to.equal(2);
      expect(missing.stderr).to.include(join(work, "ignition/deployments/chain-42161/deployed_addresses.json"));
      expect(missing.stderr).to.include("pass --deployment <dir> (this chain's Ignition deployment");
      expect(missing.stderr).not.to.include("deploy:local");
    } finally {
      proxy.server.close();
    }
  });

  it("signs with an encrypted keystore, carries --keystore into its hints and never prints the key", async function () {
    const dir = await tempDir();
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
      { extraEnv: env2 },
    );
    expect(p.code, p.stderr).to.equal(0);
    const id = opId(p.stdout);
    expect(hintWith(p.stdout, "then:")).to.equal(`npm run gov -- execute ${id} --keystore ${file}`);
    const wrong = await gov(["cancel", id, "--keystore", file], { extraEnv: { ...env2, TIDEMARK_KEYSTORE_PASSWORD: "nope" } });
    expect(wrong.code).to.equal(2);
    expect(wrong.stderr).to.include("cannot decrypt");
    const done = await paste(hintWith(p.stdout, "--advance-time"), { ...env, ...env2 });
    expect(done.code, done.stderr).to.equal(0);
    expect((await engine.riskParams(BTC)).minKeeperFee).to.equal(wad("7"));
    for (const out of [p.stdout, p.stderr, wrong.stdout, wrong.stderr, done.stdout, done.stderr]) {
      expect(out).not.to.include(KEY0.slice(2));
    }
  });
});
