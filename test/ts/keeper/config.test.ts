import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { expect } from "chai";
import { Wallet, encryptKeystoreJson } from "ethers";

import { ConfigError, OPTIONS, loadConfig } from "../../../keeper/src/config.ts";
import { SignerError, loadSigner } from "../../../keeper/src/signer.ts";
import { ROOT } from "../helpers/node.js";

const ENGINE = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
const LENS = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512";
const KEY = "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba";
const base = { rpcUrl: "http://127.0.0.1:8545", engine: ENGINE, lens: LENS };

function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--experimental-strip-types", "--no-warnings", join(ROOT, "keeper/src/cli.ts"), ...args],
      { cwd: ROOT, env: { PATH: process.env.PATH ?? "", ...env } },
      (err, stdout, stderr) => resolve({ code: err ? (err as { code?: number }).code ?? 1 : 0, stdout, stderr }),
    );
  });
}

describe("Keeper configuration", function () {
  let dir: string;
  before(async () => (dir = await mkdtemp(join(tmpdir(), "keeper-config-"))));
  after(async () => rm(dir, { recursive: true, force: true }));

  it("applies defaults, then the file, then the environment, then flags", async function () {
    const file = join(dir, "keeper.json");
    await writeFile(file, JSON.stringify({ ...base, batchSize: 7, maxInFlight: 3, minProfitUsd: "1.5" }));
    const c = loadConfig({ config: file, maxInFlight: "9" }, { TIDEMARK_KEEPER_BATCH_SIZE: "11", TIDEMARK_KEEPER_MAX_IN_FLIGHT: "5" });
    expect(c.batchSize).to.equal(11); // env over file
    expect(c.maxInFlight).to.equal(9); // flag over env
    expect(c.minProfitUsd).to.equal(1_500_000_000_000_000_000n); // file, WAD
    expect(c.pollingIntervalMs).to.equal(Number(OPTIONS.pollingIntervalMs.default)); // default
    expect(c.shard).to.deep.equal({ index: 0, count: 1 });
    expect(c.maxFeePerGasGwei).to.equal(500_000_000_000n); // gwei to wei
    expect(c.engine).to.equal(ENGINE);
  });

  it("reports every bad value at once, each naming its option", function () {
    let err: unknown;
    try {
      loadConfig({ ...base, rpcUrl: "not a url", batchSize: "0", shard: "3/2", feeBumpPercent: "5", minProfitUsd: "-1", logLevel: "loud" }, {});
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(ConfigError);
    const message = (err as Error).message;
    // Given as flags (the keys of loadConfig's first argument), so named as flags.
    for (const s of [
      "--rpc-url must be a URL",
      '--batch-size must be a whole number from 1 to 500 (positions); got "0"',
      "--shard must be i/N with 0 <= i < N",
      '--fee-bump must be a whole number from 10 to 1000 (percent); got "5"',
      '--min-profit must be a decimal number, 0 or more (USD), with at most 18 decimal places; got "-1"',
      "--log-level must be one of",
    ]) {
      expect(message).to.include(s);
    }
    expect(message.split("\n")).to.have.length(7); // the heading and one line per bad value
  });

  it("names a bad value as it was given: flag, environment variable or config file key, with the accepted range", async function () {
    const file = join(dir, "bad-interval.json");
    await writeFile(file, JSON.stringify({ ...base, pollingIntervalMs: 5 }));
    const message = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        expect(e).to.be.instanceOf(ConfigError);
        return (e as Error).message;
      }
      throw new Error("no ConfigError");
    };
    const range = "must be a whole number from 10 to 600000 (milliseconds)";
    expect(message(() => loadConfig({ ...base, pollingIntervalMs: "abc" }, {}))).to.include(`--polling-interval ${range}; got "abc"`);
    expect(message(() => loadConfig(base, { TIDEMARK_KEEPER_POLLING_INTERVAL_MS: "-5" }))).to.include(`TIDEMARK_KEEPER_POLLING_INTERVAL_MS ${range}; got "-5"`);
    expect(message(() => loadConfig({ config: file }, {}))).to.include(`"pollingIntervalMs" in ${file} ${range}; got "5"`);
    // The flag wins over the environment, so the message names the flag.
    expect(message(() => loadConfig({ ...base, pollingIntervalMs: "0" }, { TIDEMARK_KEEPER_POLLING_INTERVAL_MS: "100" }))).to.include(`--polling-interval ${range}; got "0"`);
    for (const good of ["10", "600000"]) expect(loadConfig({ ...base, pollingIntervalMs: good }, {}).pollingIntervalMs).to.equal(Number(good));
    for (const bad of ["9", "600001", "1.5", "1e3", " 100", "99999999999999999999"]) {
      expect(message(() => loadConfig({ ...base, pollingIntervalMs: bad }, {}))).to.include(`--polling-interval ${range}`);
    }
    expect(message(() => loadConfig({ ...base, maxFeePerGasGwei: "0" }, {}))).to.include("--max-fee-gwei must be a decimal number greater than 0 (gwei)");
    expect(message(() => loadConfig({ ...base, maxFeePerGasGwei: "1.0000000001" }, {}))).to.include("with at most 9 decimal places");
    expect(message(() => loadConfig({ ...base, rpcRetryInitialMs: "2000", rpcRetryMaxMs: "1000" }, {}))).to.include(
      "--rpc-retry-max (1000 ms) must be at least --rpc-retry-initial (2000 ms)",
    );
    const retry = loadConfig(base, {});
    expect([retry.rpcRetryInitialMs, retry.rpcRetryMaxMs]).to.deep.equal([500, 30_000]);
  });

  it("accepts http(s) and ws(s) RPC URLs and refuses any other scheme without echoing the URL", function () {
    for (const url of ["http://127.0.0.1:8545", "https://rpc.example/v2/KEY", "ws://127.0.0.1:8545", "wss://rpc.example/ws/KEY"]) {
      expect(loadConfig({ ...base, rpcUrl: url }, {}).rpcUrl).to.equal(url);
    }
    expect(() => loadConfig({ ...base, rpcUrl: "ftp://rpc.example/SECRET" }, {})).to.throw(
      ConfigError,
      "--rpc-url has the scheme ftp://; the keeper speaks JSON-RPC over http://, https://, ws:// or wss:// only",
    );
    let message = "";
    try {
      loadConfig({ engine: ENGINE, lens: LENS }, { TIDEMARK_RPC_URL: "ipc:///SECRET" });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).to.include("TIDEMARK_RPC_URL has the scheme ipc://");
    expect(message).to.not.include("SECRET");
    expect(() => loadConfig({ engine: ENGINE, lens: LENS }, {})).to.throw(ConfigError, "rpcUrl is required (--rpc-url or TIDEMARK_RPC_URL)");
  });

  it("the CLI names a bad numeric flag as typed, with its range, also for values starting with a dash", async function () {
    const start = ["--rpc-url", "http://127.0.0.1:1", "--engine", ENGINE, "--lens", LENS, "--dry-run"];
    const range = "must be a whole number from 10 to 600000 (milliseconds)";
    for (const bad of ["-5", "abc", "0", "600001", "99999999999999999999"]) {
      const r = await cli([...start, "--polling-interval", bad]);
      expect(r.code, r.stderr).to.equal(2);
      expect(r.stderr).to.include(`--polling-interval ${range}; got "${bad}"`);
      expect(r.stderr).to.not.match(/ambiguous/i);
    }
    const joined = await cli([...start, "--polling-interval=-5"]);
    expect(joined.stderr).to.include(`--polling-interval ${range}; got "-5"`);
    const batch = await cli([...start, "--batch-size", "-1"]);
    expect(batch.code).to.equal(2);
    expect(batch.stderr).to.include('--batch-size must be a whole number from 1 to 500 (positions); got "-1"');
    const missing = await cli([...start, "--polling-interval"]);
    expect(missing.code).to.equal(2);
    expect(missing.stderr).to.include(`--polling-interval needs a value: a whole number from 10 to 600000 (milliseconds)`);
    const flagAsValue = await cli([...start, "--polling-interval", "--batch-size", "5"]);
    expect(flagAsValue.code).to.equal(2);
    expect(flagAsValue.stderr).to.include("--polling-interval needs a value");
    const env = await cli(start, { TIDEMARK_KEEPER_POLLING_INTERVAL_MS: "-5" });
    expect(env.code).to.equal(2);
    expect(env.stderr).to.include(`TIDEMARK_KEEPER_POLLING_INTERVAL_MS ${range}; got "-5"`);
    const ftp = await cli(["--rpc-url", "ftp://127.0.0.1:1", "--engine", ENGINE, "--lens", LENS, "--dry-run"]);
    expect(ftp.code).to.equal(2);
    expect(ftp.stderr).to.include("--rpc-url has the scheme ftp://; the keeper speaks JSON-RPC over http://, https://, ws:// or wss:// only");
  });

  it("requires the engine and lens, or a deployment file that names them", async function () {
    expect(() => loadConfig({ rpcUrl: base.rpcUrl }, {})).to.throw(ConfigError, /engine and lens addresses are required/);
    const deployed = join(dir, "deployed_addresses.json");
    await writeFile(deployed, JSON.stringify({ "TidemarkLocal#TidemarkEngine": ENGINE, "TidemarkLocal#TidemarkLens": LENS }));
    const c = loadConfig({ rpcUrl: base.rpcUrl, deployment: deployed }, {});
    expect([c.engine, c.lens]).to.deep.equal([ENGINE, LENS]);
    await writeFile(deployed, JSON.stringify({ "TidemarkLocal#TidemarkEngine": ENGINE }));
    expect(() => loadConfig({ rpcUrl: base.rpcUrl, deployment: deployed }, {})).to.throw(ConfigError, /no TidemarkEngine and TidemarkLens/);
  });

  it("refuses a key in the config file and unknown options", async function () {
    const file = join(dir, "with-key.json");
    await writeFile(file, JSON.stringify({ ...base, privateKey: KEY }));
    let err: Error | undefined;
    try {
      loadConfig({ config: file }, {});
    } catch (e) {
      err = e as Error;
    }
    expect(err).to.be.instanceOf(ConfigError);
    expect(err!.message).to.include('"privateKey" is not accepted');
    expect(err!.message).to.not.include(KEY.slice(2, 20));
    await writeFile(file, JSON.stringify({ ...base, batchsize: 3 }));
    expect(() => loadConfig({ config: file }, {})).to.throw(ConfigError, /unknown option "batchsize"/);
  });

  it("loads the signer from the environment or an encrypted keystore, never echoing the secret", async function () {
    const fromKey = await loadSigner({ TIDEMARK_KEEPER_PRIVATE_KEY: KEY });
    expect(fromKey!.address).to.equal(new Wallet(KEY).address);
    expect(await loadSigner({})).to.equal(null);
    const bad = await loadSigner({ TIDEMARK_KEEPER_PRIVATE_KEY: `${KEY}00` }).catch((e: Error) => e);
    expect(bad).to.be.instanceOf(SignerError);
    expect((bad as Error).message).to.not.include(KEY.slice(2, 20));

    const keystore = join(dir, "keystore.json");
    const wallet = new Wallet(KEY);
    await writeFile(keystore, await encryptKeystoreJson({ address: wallet.address, privateKey: KEY }, "correct horse", { scrypt: { N: 1024 } }));
    const fromStore = await loadSigner({ TIDEMARK_KEEPER_KEYSTORE: keystore, TIDEMARK_KEEPER_KEYSTORE_PASSWORD: "correct horse" });
    expect(fromStore!.address).to.equal(new Wallet(KEY).address);
    const wrong = await loadSigner({ TIDEMARK_KEEPER_KEYSTORE: keystore, TIDEMARK_KEEPER_KEYSTORE_PASSWORD: "wrong" }).catch((e: Error) => e);
    expect(wrong).to.be.instanceOf(SignerError);
    expect((wrong as Error).message).to.match(/cannot decrypt/);
    const both = await loadSigner({ TIDEMARK_KEEPER_PRIVATE_KEY: KEY, TIDEMARK_KEEPER_KEYSTORE: keystore }).catch((e: Error) => e);
    expect(both).to.be.instanceOf(SignerError);
  });

  it("the CLI prints --help with every option and exits 2 on bad input without starting", async function () {
    const h = await cli(["--help"]);
    expect(h.code).to.equal(0);
    for (const o of Object.values(OPTIONS)) {
      expect(h.stdout).to.include(`--${o.flag}`);
      expect(h.stdout).to.include(o.env);
    }
    expect(h.stdout).to.match(/--polling-interval <value> .*\(10 to 600000 milliseconds, default 1000\)/);
    expect(h.stdout).to.match(/--rpc-retry-max <value> .*\(10 to 600000 milliseconds, default 30000\)/);
    const unknown = await cli(["--no-such-flag"]);
    expect(unknown.code).to.equal(2);
    expect(unknown.stderr).to.match(/Unknown option '--no-such-flag'/);
    const bad = await cli(["--rpc-url", "http://127.0.0.1:1", "--engine", "0x12", "--lens", LENS]);
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.include('--engine must be a 20-byte hex address (0x and 40 hex digits); got "0x12"');
    const noKey = await cli(["--rpc-url", "http://127.0.0.1:1", "--engine", ENGINE, "--lens", LENS]);
    expect(noKey.code).to.equal(2);
    expect(noKey.stderr).to.include("no signer");
  });
});
