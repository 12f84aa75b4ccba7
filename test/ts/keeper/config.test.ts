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
    for (const s of ["rpcUrl must be a URL", "batchSize must be between 1", "shard must be i/N", "feeBumpPercent must be between 10", "minProfitUsd must be a non-negative decimal", "logLevel must be one of"]) {
      expect(message).to.include(s);
    }
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
    const unknown = await cli(["--no-such-flag"]);
    expect(unknown.code).to.equal(2);
    expect(unknown.stderr).to.match(/Unknown option '--no-such-flag'/);
    const bad = await cli(["--rpc-url", "http://127.0.0.1:1", "--engine", "0x12", "--lens", LENS]);
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.include("engine must be a 20-byte hex address");
    const noKey = await cli(["--rpc-url", "http://127.0.0.1:1", "--engine", ENGINE, "--lens", LENS]);
    expect(noKey.code).to.equal(2);
    expect(noKey.stderr).to.include("no signer");
  });
});
