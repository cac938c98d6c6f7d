import XCTest
@testable import Distributed

/// The eNTK work split: pairing rounds, tile coverage, chunking under a memory budget.
final class NTKPlanTests: XCTestCase {
    func testEveryPairOfRanksMeetsExactlyOnce() {
        for ranks in 1...8 {
            let rounds = NTKPlan.pairingRounds(ranks: ranks)
            var met = Set<[Int]>()
            for round in rounds {
                for r in 0..<ranks where round[r] >= 0 {
                    XCTAssertEqual(round[round[r]], r, "pairs are mutual (P = \(ranks))")
                    XCTAssertNotEqual(round[r], r)
                    if r < round[r] { XCTAssertTrue(met.insert([r, round[r]]).inserted, "pair \(r), \(round[r]) twice (P = \(ranks))") }
                }
            }
            XCTAssertEqual(met.count, ranks * (ranks - 1) / 2, "P = \(ranks)")
        }
    }

    /// Split by rows: the tiles of all ranks cover the lower triangle of train×train and all of
    /// eval×train, every entry exactly once, for uneven blocks and empty ones.
    func testTilesCoverEveryEntryOnce() throws {
        for (ranks, train, eval) in [(1, 5, 3), (2, 7, 4), (3, 7, 0), (4, 3, 5), (5, 11, 2)] {
            let classes = 2
            let plan = try NTKPlan.make(worldSize: ranks, classes: classes, trainCount: train, evalCount: eval,
                                        parameters: 100..<1100, parameterSet: .backbone, scalarBytes: 8,
                                        memoryBudgetBytes: 1 << 30, fixedBytes: 0, threads: 1, gramSplit: .rows)
            let R = train * classes, E = eval * classes
            var trainCover = [Int](repeating: 0, count: R * R), evalCover = [Int](repeating: 0, count: E * R)
            for rank in 0..<ranks {
                for tile in plan.tiles(of: rank) {
                    for (i, row) in tile.rows.enumerated() {
                        for column in tile.columns.prefix(tile.lowerOnly ? i + 1 : tile.columns.count) {
                            if tile.matrix == .trainTrain { trainCover[row * R + column] += 1 } else { evalCover[row * R + column] += 1 }
                        }
                    }
                }
            }
            for i in 0..<R { for j in 0..<R { XCTAssertEqual(trainCover[i * R + j], j <= i ? 1 : 0, "P \(ranks): train (\(i), \(j))") } }
            XCTAssertEqual(evalCover, [Int](repeating: 1, count: E * R), "P \(ranks): eval × train")
            XCTAssertEqual(plan.trainStarts.last, train)
            XCTAssertLessThanOrEqual(plan.trainStarts.enumerated().dropFirst().map { $1 - plan.trainStarts[$0 - 1] }.max()!
                                     - plan.trainStarts.enumerated().dropFirst().map { $1 - plan.trainStarts[$0 - 1] }.min()!, 1)
        }
    }

    /// Split by slabs: slab g (counted over all chunks) belongs to rank g mod P, every rank's
    /// tiles are the whole lower train triangle and the whole eval×train matrix.
    func testSlabSplitOwnsEverySlabOnce() throws {
        for ranks in 1...5 {
            let plan = try NTKPlan.make(worldSize: ranks, classes: 2, trainCount: 7, evalCount: 3, parameters: 100..<1100,
                                        parameterSet: .backbone, scalarBytes: 8, memoryBudgetBytes: 1 << 30, fixedBytes: 0,
                                        threads: 1, chunkParameters: 300, slabWidth: 70, gramSplit: .slabs)
            XCTAssertEqual(plan.chunkCount, 4)
            var global = 0, covered = 0
            for k in 0..<plan.chunkCount {
                for (s, w) in plan.slabWidths(ofChunk: k).enumerated() {
                    XCTAssertEqual(plan.owner(chunk: k, slab: s), global % ranks, "P \(ranks): chunk \(k) slab \(s)")
                    covered += w
                    global += 1
                }
            }
            XCTAssertEqual(covered, 1000)
            for rank in 0..<ranks {
                XCTAssertEqual(plan.tiles(of: rank), [
                    .init(matrix: .trainTrain, rows: 0..<14, columns: 0..<14, lowerOnly: true),
                    .init(matrix: .evalTrain, rows: 0..<6, columns: 0..<14, lowerOnly: false)])
            }
            XCTAssertTrue(plan.rounds.isEmpty)
        }
    }

    /// The automatic split: by slabs for thin row blocks on several ranks, by rows for one rank,
    /// for thick blocks, and when every rank's full-size sums would not fit an eighth of the budget.
    func testAutomaticSplitPicksSlabsForThinBlocksOnly() throws {
        func split(ranks: Int, train: Int, budget: Int = 4 << 30) throws -> NTKGramSplit {
            try NTKPlan.make(worldSize: ranks, classes: 2, trainCount: train, evalCount: 0, parameters: 0..<100_000,
                             parameterSet: .backbone, scalarBytes: 4, memoryBudgetBytes: budget, fixedBytes: 0, threads: 1,
                             slabWidth: 1000).gramSplit
        }
        XCTAssertEqual(try split(ranks: 2, train: 64), .slabs)
        XCTAssertEqual(try split(ranks: 2, train: 250), .slabs)
        XCTAssertEqual(try split(ranks: 1, train: 64), .rows)
        XCTAssertEqual(try split(ranks: 2, train: 600), .rows)          // 600 rows per rank
        XCTAssertEqual(try split(ranks: 64, train: 8000), .rows)        // 64 × 65 × 2 GiB of sums
        XCTAssertEqual(try split(ranks: 2, train: 250, budget: 64 << 20), .slabs)  // 3 × 2 MB of sums ≤ 8 MiB
        XCTAssertEqual(try split(ranks: 2, train: 250, budget: 32 << 20), .rows)   // > 4 MiB
    }

    func testChunksCoverTheParametersTopDownWithinTheBudget() throws {
        // 4 ranks × (3 train + 1 eval) examples × 2 classes = 8 rows per rank, 8-byte entries.
        let budget = 1 << 20, fixed = 100_000
        let plan = try NTKPlan.make(worldSize: 4, classes: 2, trainCount: 12, evalCount: 4, parameters: 1000..<201_000,
                                    parameterSet: .backbone, scalarBytes: 8, memoryBudgetBytes: budget, fixedBytes: fixed,
                                    threads: 2, slabWidth: 1000, gramSplit: .rows)
        XCTAssertEqual(plan.chunkUppers.first, 201_000)
        XCTAssertEqual(plan.chunkLowers.last, 1000)
        for k in 1..<plan.chunkCount { XCTAssertEqual(plan.chunkUppers[k], plan.chunkLowers[k - 1]) }
        let largest = (0..<plan.chunkCount).map { plan.chunk($0).count }.max()!
        // Slabs of 8 rows + two received slabs of 6 rows + two threads' tiles fit the budget.
        let used = fixed + 8 * (8 * largest + 2 * 6 * 1000 + 2 * (6 * 6 + 2 * 6))
        XCTAssertLessThanOrEqual(used, budget)
        XCTAssertGreaterThan(plan.chunkCount, 1)
        XCTAssertEqual(plan.slabWidths(ofChunk: 0).reduce(0, +), plan.chunk(0).count)

        // Split by slabs: own rows + one gathered slab of all 32 rows per thread + two threads'
        // full-size tiles + the full-size float64 sums of 4 ranks on rank 0 and its own.
        let slabs = try NTKPlan.make(worldSize: 4, classes: 2, trainCount: 12, evalCount: 4, parameters: 1000..<201_000,
                                     parameterSet: .backbone, scalarBytes: 8, memoryBudgetBytes: 2 * budget, fixedBytes: fixed,
                                     threads: 2, slabWidth: 1000, gramSplit: .slabs)
        let slabLargest = (0..<slabs.chunkCount).map { slabs.chunk($0).count }.max()!
        XCTAssertEqual(slabs.gatherGroup, 2)
        let slabUsed = fixed + 8 * (8 * slabLargest + 2 * 32 * 1000 + 2 * (24 * 24 + 8 * 24)) + 8 * 5 * (24 * 24 + 8 * 24)
        XCTAssertLessThanOrEqual(slabUsed, 2 * budget)
        XCTAssertGreaterThan(slabs.chunkCount, 1)

        XCTAssertThrowsError(try NTKPlan.make(worldSize: 1, classes: 2, trainCount: 100, evalCount: 0, parameters: 0..<10_000_000,
                                              parameterSet: .backbone, scalarBytes: 4, memoryBudgetBytes: 1 << 20,
                                              fixedBytes: 1 << 19, threads: 1)) { error in
            let message = (error as? LocalizedError)?.errorDescription ?? ""
            XCTAssertTrue(message.contains("--memory-budget 1.00 MiB is too small"), message)
        }
    }

    func testByteCounts() {
        XCTAssertEqual(parseByteCount("4GiB"), 4 << 30)
        XCTAssertEqual(parseByteCount("1.5 MiB"), 3 << 19)
        XCTAssertEqual(parseByteCount("2GB"), 2_000_000_000)
        XCTAssertEqual(parseByteCount("4096"), 4096)
        XCTAssertNil(parseByteCount("lots"))
        XCTAssertNil(parseByteCount("-1GiB"))
        XCTAssertEqual(formatBytes(3 << 29), "1.50 GiB")
    }
}
