import XCTest
@testable import Distributed

final class SamplerTests: XCTestCase {
    private func shards(_ n: Int, _ p: Int, epoch: Int = 0, seed: UInt64 = 3, dropLast: Bool = false, shuffle: Bool = true) -> [[Int]] {
        (0..<p).map { ShardedSampler(datasetSize: n, worldSize: p, rank: $0, shuffle: shuffle, seed: seed, dropLast: dropLast).indices(epoch: epoch) }
    }

    func testShardsCoverEveryIndexWithEqualLengths() {
        for (n, p) in [(10, 1), (10, 2), (10, 3), (7, 4), (1, 3), (100, 7)] {
            let s = shards(n, p)
            let expectedLength = (n + p - 1) / p
            XCTAssertTrue(s.allSatisfy { $0.count == expectedLength }, "n=\(n) p=\(p)")
            XCTAssertEqual(Set(s.flatMap { $0 }), Set(0..<n), "n=\(n) p=\(p)")
            // Padding repeats only as many indices as needed to reach a multiple of p.
            XCTAssertEqual(s.flatMap { $0 }.count, expectedLength * p)
        }
    }

    func testPaddingWrapsAroundTheOrder() {
        let sampler = ShardedSampler(datasetSize: 5, worldSize: 3, rank: 0, shuffle: true, seed: 11)
        let order = sampler.globalOrder(epoch: 2)
        XCTAssertEqual(order.count, 6)
        XCTAssertEqual(order[5], order[0])
        XCTAssertEqual(Set(order.prefix(5)), Set(0..<5))
        // Rank r takes r, r+P, …
        for r in 0..<3 {
            let s = ShardedSampler(datasetSize: 5, worldSize: 3, rank: r, shuffle: true, seed: 11)
            XCTAssertEqual(s.indices(epoch: 2), [order[r], order[r + 3]])
        }
    }

    func testDropLastTrimsToAMultipleOfTheWorldSize() {
        let s = shards(10, 3, dropLast: true)
        XCTAssertTrue(s.allSatisfy { $0.count == 3 })
        XCTAssertEqual(Set(s.flatMap { $0 }).count, 9)
    }

    func testSameSeedAndEpochGiveTheSameOrderAndNewEpochANewOne() {
        XCTAssertEqual(shards(50, 2, epoch: 1), shards(50, 2, epoch: 1))
        XCTAssertNotEqual(shards(50, 2, epoch: 1), shards(50, 2, epoch: 2))
        XCTAssertNotEqual(shards(50, 2, epoch: 1, seed: 3), shards(50, 2, epoch: 1, seed: 4))
    }

    func testWithoutShuffleTheOrderIsTheIdentity() {
        XCTAssertEqual(shards(6, 2, shuffle: false), [[0, 2, 4], [1, 3, 5]])
    }

    func testWorldOfOneSeesAPermutation() {
        let s = shards(20, 1)[0]
        XCTAssertEqual(s.sorted(), Array(0..<20))
        XCTAssertNotEqual(s, Array(0..<20))
    }
}
