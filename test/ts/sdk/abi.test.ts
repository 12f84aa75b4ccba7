import { readFileSync } from "node:fs";
import { join } from "node:path";

import { expect } from "chai";

import { ABI_DIR, generateAbiModules } from "../../../scripts/sdk-abi.js";
import { tidemarkEngineAbi, tidemarkErrorsAbi, tidemarkLensAbi } from "../../../sdk/src/abi/index.js";

describe("SDK ABI modules", () => {
  // `hardhat test` builds the contracts first, so the artifacts are current: a committed module that differs from a
  // fresh generation means `npm run sdk:abi` was not run after a contract change.
  it("are up to date with the build artifacts (run `npm run sdk:abi` when this fails)", () => {
    const modules = generateAbiModules();
    expect([...modules.keys()].sort()).to.deep.equal(["engine.ts", "errors.ts", "index.ts", "insurance.ts", "lens.ts", "pool.ts"]);
    for (const [file, text] of modules) {
      expect(readFileSync(join(ABI_DIR, file), "utf8"), `sdk/src/abi/${file} is stale`).to.equal(text);
    }
  });

  it("collect every custom error of the engine and the lens exactly once", () => {
    const names = tidemarkErrorsAbi.map((e) => e.name);
    expect(new Set(names).size).to.equal(names.length);
    for (const abi of [tidemarkEngineAbi, tidemarkLensAbi]) {
      for (const item of abi) if (item.type === "error") expect(names).to.include(item.name);
    }
  });
});
