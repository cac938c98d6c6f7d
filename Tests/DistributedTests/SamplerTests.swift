import XCTest
@testable import Distributed
@testable import Model

/// The epoch's order of the training split (GlobalBatches.order); how a step's global batch is
/// cut over ranks and passes is LongRunTests.testGlobalBatchesDoNotDependOnTheRanks.
final class SamplerTests: XCTestCase {
    private func order(_ n: Int, epoch: Int = 0, seed: UInt64 = 3) -> [Int] {
        GlobalBatches(examples: n, batchSize: 1, seed: seed).order(epoch: epoch)
    }

    func testEveryEpochIsAPermutationOfTheSplit() {
        for n in [0, 1, 2, 7, 100] {
            for epoch in 0..<3 { XCTAssertEqual(order(n, epoch: epoch).sorted(), Array(0..<n), "n=\(n) epoch \(epoch)") }
        }
        XCTAssertNotEqual(order(20), Array(0..<20))
    }

    func testSameSeedAndEpochGiveTheSameOrderAndNewEpochOrSeedANewOne() {
        XCTAssertEqual(order(50, epoch: 1), order(50, epoch: 1))
        XCTAssertNotEqual(order(50, epoch: 1), order(50, epoch: 2))
        XCTAssertNotEqual(order(50, epoch: 1, seed: 3), order(50, epoch: 1, seed: 4))
    }

    /// The order is Durstenfeld's Fisher–Yates (swap i with a uniform j ≤ i, i from the end)
    /// driven by the generator seeded with seed + epoch — written out here from its definition,
    /// so a change of the draw (which would change every run's batches) fails this test.
    func testOrderIsFisherYatesFromSeedPlusEpoch() {
        for (n, seed, epoch) in [(10, UInt64(3), 0), (33, 7, 2), (5, 11, 9)] {
            var rng = RandomGenerator(seed: seed &+ UInt64(epoch))
            var expected = Array(0..<n)
            var i = n - 1
            while i > 0 {
                let j = rng.uniform(below: i + 1)
                let t = expected[i]; expected[i] = expected[j]; expected[j] = t
                i -= 1
            }
            XCTAssertEqual(order(n, epoch: epoch, seed: seed), expected, "n=\(n) seed \(seed) epoch \(epoch)")
        }
    }
}
