// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {MockV3Aggregator} from "@chainlink/contracts/src/v0.8/tests/MockV3Aggregator.sol";
import {MockPyth} from "@pythnetwork/pyth-sdk-solidity/MockPyth.sol";

import {TidemarkEngine} from "../../../contracts/core/TidemarkEngine.sol";
import {TidemarkLens} from "../../../contracts/lens/TidemarkLens.sol";
import {LiquidityPool} from "../../../contracts/pool/LiquidityPool.sol";
import {InsuranceFund} from "../../../contracts/pool/InsuranceFund.sol";
import {MockERC20} from "../../../contracts/test/MockERC20.sol";
import {MarketId} from "../../../contracts/types/MarketId.sol";
import {Tier, RiskParams, OracleConfig, ExposureParams} from "../../../contracts/types/DataTypes.sol";

import {Test} from "./Test.sol";

/// @notice Deploys the whole protocol in setUp(), mirroring test/ts/helpers/fixture.ts: 6-decimal collateral token,
/// pool, insurance fund, engine (external libraries ConfigLib, TradeLib and LiquidationLib are auto-linked by the runner), lens, two
/// Chainlink mock feeds, two listed markets with the fixture's tiers and risk parameters, roles, funded traders.
/// @dev ETH-USD uses an 18-decimal feed, so feed answers equal WAD prices (exact price control for properties);
/// BTC-USD uses an 8-decimal feed like production Chainlink USD feeds (normalisation is exercised).
abstract contract TidemarkBase is Test {
    uint256 internal constant WAD = 1e18;
    uint8 internal constant TOKEN_DECIMALS = 6;
    uint256 internal constant SCALE = 1e12; // WAD per token unit
    uint32 internal constant HEARTBEAT = 3600;
    uint256 internal constant START_TIME = 1_700_000_000;

    uint256 internal constant ETH_PRICE = 3_000e18;
    uint256 internal constant BTC_PRICE = 60_000e18;
    uint256 internal constant MIN_PRICE = 1e18;
    uint256 internal constant MAX_PRICE = 1_000_000e18;

    MarketId internal constant ETH = MarketId.wrap("ETH-USD");
    MarketId internal constant BTC = MarketId.wrap("BTC-USD");
    bytes32 internal constant ETH_PYTH_ID = keccak256("Crypto.ETH/USD");
    bytes32 internal constant BTC_PYTH_ID = keccak256("Crypto.BTC/USD");

    MockERC20 internal token;
    LiquidityPool internal pool;
    InsuranceFund internal insurance;
    TidemarkEngine internal engine;
    TidemarkLens internal lens;
    MockV3Aggregator internal ethFeed; // 18 decimals
    MockV3Aggregator internal btcFeed; // 8 decimals
    MockPyth internal pyth; // verifies order prices; 1 wei per update

    address internal governor = address(this);
    address internal guardian = address(0x6A4D);
    address internal alice = address(0xA11CE);
    address internal bob = address(0xB0B);
    address internal carol = address(0xCA401);
    address internal keeper = address(0x4EE9E4);
    address internal lp = address(0x1D);

    function setUp() public virtual {
        vm.warp(START_TIME);
        vm.roll(1_000);

        token = new MockERC20("USD Coin", "USDC", TOKEN_DECIMALS);
        pool = new LiquidityPool(token, "Tidemark LP", "tmLP");
        insurance = new InsuranceFund(token);
        pyth = new MockPyth(60, 1);
        engine = new TidemarkEngine(token, pool, insurance, pyth, address(this));
        pool.bindEngine(address(engine));
        insurance.bindEngine(address(engine));
        lens = new TidemarkLens(engine);

        ethFeed = new MockV3Aggregator(18, int256(ETH_PRICE));
        btcFeed = new MockV3Aggregator(8, int256(BTC_PRICE / 1e10));

        engine.grantRole(engine.GOVERNOR_ROLE(), governor);
        engine.grantRole(engine.GUARDIAN_ROLE(), guardian);
        engine.listMarket(ETH, oracleConfig(address(ethFeed)), riskParams(), tiers());
        engine.listMarket(BTC, oracleConfig(address(btcFeed)), riskParams(), tiers());
        engine.setPythPriceId(ETH, ETH_PYTH_ID);
        engine.setPythPriceId(BTC, BTC_PYTH_ID);
        // No price impact and caps at the hard maximum (10x pool assets per side); tests that need them set their own.
        engine.setExposureParams(ETH, ExposureParams({impactSkewScale: 0, maxLongOpenInterestRatio: 10e18, maxShortOpenInterestRatio: 10e18}));
        engine.setExposureParams(BTC, ExposureParams({impactSkewScale: 0, maxLongOpenInterestRatio: 10e18, maxShortOpenInterestRatio: 10e18}));

        address[5] memory users = [alice, bob, carol, keeper, lp];
        for (uint256 i; i < users.length; ++i) {
            fund(users[i], usd(10_000_000));
        }
        lpDeposit(lp, usd(5_000_000));
        token.mint(address(insurance), insuranceSeed());

        vm.label(address(token), "USDC");
        vm.label(address(pool), "LiquidityPool");
        vm.label(address(insurance), "InsuranceFund");
        vm.label(address(engine), "TidemarkEngine");
        vm.label(address(lens), "TidemarkLens");
        vm.label(address(ethFeed), "ETH feed (18 dec)");
        vm.label(address(btcFeed), "BTC feed (8 dec)");
    }

    /// @dev `who` deposits `assets` into the pool through the ERC-7540 flow, fulfilling its own request after the
    /// minimum delay (the execution fee comes back to it) and claiming every share. Needs no price update while no
    /// market has open interest; with open interest use the ts helpers' price updates instead.
    function lpDeposit(address who, uint256 assets) internal returns (uint256 shares) {
        uint256 fee = engine.requiredExecutionFee();
        vm.startPrank(who);
        pool.requestDeposit(assets + fee, who, who);
        vm.warp(block.timestamp + engine.orderParams().minDelay);
        pool.fulfillDeposit(who, new bytes[](0));
        shares = pool.maxMint(who);
        pool.mint(shares, who, who);
        vm.stopPrank();
    }

    /* ------------------------------------------------------------------ parameters */

    /// @dev The fixture's tiers: 100x to 50k USD, rising to 20x above 1M USD; MMR half of IMR.
    function tiers() internal pure returns (Tier[] memory t) {
        t = new Tier[](4);
        t[0] = Tier({notionalFloor: 0, imr: 0.01e18, mmr: 0.005e18});
        t[1] = Tier({notionalFloor: 50_000e18, imr: 0.02e18, mmr: 0.01e18});
        t[2] = Tier({notionalFloor: 250_000e18, imr: 0.025e18, mmr: 0.0125e18});
        t[3] = Tier({notionalFloor: 1_000_000e18, imr: 0.05e18, mmr: 0.025e18});
    }

    function riskParams() internal pure returns (RiskParams memory) {
        return RiskParams({
            takerFeeRate: 0.0005e18,
            liquidationFeeRate: 0.001e18,
            liquidationPenaltyRate: 0.002e18,
            targetHealthFactor: 1.25e18,
            minKeeperFee: 5e18,
            maxKeeperFee: 1_000e18,
            minPositionNotional: 10e18,
            fullLiquidationNotional: 10_000e18
        });
    }

    function oracleConfig(address feed) internal pure returns (OracleConfig memory) {
        return OracleConfig({feed: feed, heartbeat: HEARTBEAT, decimals: 0, minPrice: uint128(MIN_PRICE), maxPrice: uint128(MAX_PRICE)});
    }

    /// @dev Initial insurance fund balance (the fixture's 100k USD). Suites that need the pool to take over bad debt
    /// once insurance is exhausted override it.
    function insuranceSeed() internal pure virtual returns (uint256) {
        return usd(100_000);
    }

    /* --------------------------------------------------------------------- helpers */

    /// @dev USD amount in collateral token units.
    function usd(uint256 x) internal pure returns (uint256) {
        return x * 10 ** TOKEN_DECIMALS;
    }

    function fund(address who, uint256 amount) internal {
        token.mint(who, amount);
        vm.startPrank(who);
        token.approve(address(engine), type(uint256).max);
        token.approve(address(pool), type(uint256).max);
        vm.stopPrank();
    }

    /// @dev Sets a market's WAD price on its feed (fresh round at the current timestamp).
    function setPrice(MarketId market, uint256 price) internal {
        if (market == ETH) ethFeed.updateAnswer(int256(price));
        else btcFeed.updateAnswer(int256(price / 1e10));
    }

    function depositFor(address who, uint256 amount) internal {
        vm.prank(who);
        engine.deposit(amount);
    }

    /// @dev Opens (or increases) `who`'s position with `collateral` token units from the free balance.
    function openFor(address who, MarketId market, int256 size, uint256 collateral) internal {
        vm.prank(who);
        engine.modifyPosition(market, size, int256(collateral), size > 0 ? type(uint256).max : 0);
    }
}
