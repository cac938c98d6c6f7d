import Foundation
import Model

/// How the work of one eNTK is split: examples into contiguous blocks per rank, parameters
/// into chunks that fit the memory budget, chunks into slabs (the inner dimension of every
/// product), and the products among the ranks (`gramSplit`).
///
/// Rows of every matrix are example-major (row = i·C + c); rank r owns train examples
/// trainStarts[r]..<trainStarts[r+1] and eval examples evalStarts[r]..<evalStarts[r+1] and
/// computes their Jacobian rows.
/// Split by rows — tiles: rank r computes the diagonal train tile (SYRK) and eval_r × train_r;
/// each unordered pair {lo, hi} meets in one round, exchanges train slabs, and computes the
/// train×train tile once (lo the first half of hi's rows, hi the rest) plus eval_lo × train_hi
/// (on lo) and eval_hi × train_lo (on hi).
/// Split by slabs: slab number g (counted over all chunks) belongs to rank g mod P, which
/// gathers every rank's rows of it and adds its share to the whole lower train×train triangle
/// and the whole eval×train matrix.
public struct NTKPlan: Codable, Sendable, Equatable {
    public var worldSize: Int
    public var classes: Int
    public var trainStarts: [Int]
    public var evalStarts: [Int]
    public var parameterSet: NTKParameterSet
    /// Arena ranges of the chunks in processing order (top of the network first).
    public var chunkLowers: [Int]
    public var chunkUppers: [Int]
    /// Parameters per slab (the last slab of a chunk may be narrower).
    public var slabWidth: Int
    /// Bytes of one Jacobian entry: 4 (Float) or 8 (Double).
    public var scalarBytes: Int
    public var memoryBudgetBytes: Int
    /// rounds[k][r]: rank r's partner in round k, or −1 when r sits the round out (split by rows).
    public var rounds: [[Int]]
    public var gramSplit: NTKGramSplit
    /// Split by slabs: owned slabs gathered before they are multiplied together (one per thread).
    public var gatherGroup: Int

    public var chunkCount: Int { chunkLowers.count }
    public func chunk(_ k: Int) -> Range<Int> { chunkLowers[k]..<chunkUppers[k] }
    public var trainCount: Int { trainStarts.last ?? 0 }
    public var evalCount: Int { evalStarts.last ?? 0 }
    public func trainExamples(of rank: Int) -> Range<Int> { trainStarts[rank]..<trainStarts[rank + 1] }
    public func evalExamples(of rank: Int) -> Range<Int> { evalStarts[rank]..<evalStarts[rank + 1] }
    /// Global train rows (example-major) of a rank.
    public func trainRows(of rank: Int) -> Range<Int> { (trainStarts[rank] * classes)..<(trainStarts[rank + 1] * classes) }
    public func evalRows(of rank: Int) -> Range<Int> { (evalStarts[rank] * classes)..<(evalStarts[rank + 1] * classes) }

    /// Widths of the slabs of chunk k.
    public func slabWidths(ofChunk k: Int) -> [Int] {
        let count = chunk(k).count
        return stride(from: 0, to: count, by: slabWidth).map { min(slabWidth, count - $0) }
    }

    /// Slabs of the chunks before chunk k.
    public func slabsBefore(chunk k: Int) -> Int {
        (0..<k).reduce(0) { $0 + (chunk($1).count + slabWidth - 1) / slabWidth }
    }

    /// Split by slabs: the rank that gathers and multiplies slab s of chunk k.
    public func owner(chunk k: Int, slab s: Int) -> Int { (slabsBefore(chunk: k) + s) % worldSize }

    /// Split by rows up to this many train rows per rank; below it (thin blocks) by slabs.
    public static let thinBlockRows = 512

    /// Contiguous, balanced blocks: the first (count mod P) ranks get one more.
    static func blockStarts(count: Int, ranks: Int) -> [Int] {
        (0...ranks).map { r in r * (count / ranks) + min(r, count % ranks) }
    }

    /// Round-robin pairing (circle method): every unordered pair of ranks meets in exactly one
    /// round; with an odd world size one rank sits out each round.
    static func pairingRounds(ranks: Int) -> [[Int]] {
        guard ranks > 1 else { return [] }
        let n = ranks % 2 == 0 ? ranks : ranks + 1  // a virtual rank n−1 when odd
        let cycle = n - 1
        var rounds: [[Int]] = []
        for k in 0..<cycle {
            var partner = [Int](repeating: -1, count: n)
            partner[k] = n - 1
            partner[n - 1] = k
            for i in 1..<(n / 2) {
                let a = (k + i) % cycle, b = (k - i + cycle) % cycle
                partner[a] = b
                partner[b] = a
            }
            rounds.append((0..<ranks).map { partner[$0] < ranks ? partner[$0] : -1 })
        }
        return rounds
    }

    /// Builds the plan. `fixedBytes` is memory every rank needs besides the Jacobian slabs
    /// (model arenas, activations, kernel matrices); the slabs get the rest of the budget.
    /// `chunkParameters` / `slabWidth` override the budget's choice (each chunk must still fit).
    public static func make(worldSize: Int, classes: Int, trainCount: Int, evalCount: Int,
                            parameters: Range<Int>, parameterSet: NTKParameterSet, scalarBytes: Int,
                            memoryBudgetBytes: Int, fixedBytes: Int, threads: Int,
                            chunkParameters: Int? = nil, slabWidth: Int? = nil,
                            gramSplit requested: NTKGramSplit? = nil) throws -> NTKPlan {
        guard trainCount >= 1 else { throw NTKError.invalidSetting("the kernel needs at least one train example") }
        guard !parameters.isEmpty else {
            throw NTKError.invalidSetting("the \(parameterSet.rawValue) parameter set is empty for this model")
        }
        let trainStarts = blockStarts(count: trainCount, ranks: worldSize)
        let evalStarts = blockStarts(count: evalCount, ranks: worldSize)
        var ownRows = 0, trainRowsMax = 0, evalRowsMax = 0
        for r in 0..<worldSize {
            let trainRows: Int = (trainStarts[r + 1] - trainStarts[r]) * classes
            let evalRows: Int = (evalStarts[r + 1] - evalStarts[r]) * classes
            ownRows = max(ownRows, trainRows + evalRows)
            trainRowsMax = max(trainRowsMax, trainRows)
            evalRowsMax = max(evalRowsMax, evalRows)
        }
        let width = max(1, min(slabWidth ?? 32_768, parameters.count))
        let trainRows = trainCount * classes, evalRows = evalCount * classes
        // Full-size float64 sums on every rank, and on rank 0 its running sums and the reduce's
        // buffers: counted as P + 1 copies, as when rank 0 gathered every rank's (an upper
        // bound now; kept so that plans, and the checkpoints they name, stay the same).
        let fullSumBytes = 8 * (worldSize + 1) * (trainRows * trainRows + evalRows * trainRows)
        let split = requested ?? (worldSize > 1 && trainRowsMax < thinBlockRows && fullSumBytes <= memoryBudgetBytes / 8
                                  ? .slabs : .rows)
        let tileBytes: Int, receiveBytes: Int, bytesPerParameter: Int
        var group = 1
        switch split {
        case .rows:
            // Per rank besides the slabs: two received slabs (with partners), the product tiles
            // of every thread.
            tileBytes = scalarBytes * threads * (trainRowsMax * trainRowsMax + evalRowsMax * trainRowsMax)
            receiveBytes = worldSize > 1 ? 2 * scalarBytes * trainRowsMax * width : 0
            bytesPerParameter = scalarBytes * max(ownRows, 1)
        case .slabs:
            // Besides the own rows: one gathered slab (all rows) per thread, every thread's
            // product tiles, the full-size sums.
            group = max(1, threads)
            tileBytes = scalarBytes * threads * (trainRows * trainRows + evalRows * trainRows) + fullSumBytes
            receiveBytes = group * scalarBytes * (trainRows + evalRows) * width
            bytesPerParameter = scalarBytes * max(ownRows, 1)
        }
        let available = memoryBudgetBytes - fixedBytes - tileBytes - receiveBytes
        let fitting = available / bytesPerParameter
        guard fitting >= width else {
            let needed = fixedBytes + tileBytes + receiveBytes + bytesPerParameter * width
            throw NTKError.memoryBudget(budget: memoryBudgetBytes, needed: needed,
                                        what: "\(ownRows) Jacobian rows per rank × one slab of \(width) parameters")
        }
        var chunkSize = min(fitting, parameters.count)
        if let chunkParameters {
            guard chunkParameters >= 1 else { throw NTKError.invalidSetting("--chunk-parameters must be ≥ 1") }
            guard chunkParameters <= fitting else {
                throw NTKError.memoryBudget(budget: memoryBudgetBytes,
                                            needed: fixedBytes + tileBytes + receiveBytes + bytesPerParameter * chunkParameters,
                                            what: "chunks of \(chunkParameters) parameters")
            }
            chunkSize = min(chunkParameters, parameters.count)
        } else {
            // As many chunks as needed, all about the same size.
            let count = (parameters.count + chunkSize - 1) / chunkSize
            chunkSize = (parameters.count + count - 1) / count
        }
        var lowers: [Int] = [], uppers: [Int] = []
        var upper = parameters.upperBound
        while upper > parameters.lowerBound {
            let lower = max(parameters.lowerBound, upper - chunkSize)
            lowers.append(lower)
            uppers.append(upper)
            upper = lower
        }
        return NTKPlan(worldSize: worldSize, classes: classes, trainStarts: trainStarts, evalStarts: evalStarts,
                       parameterSet: parameterSet, chunkLowers: lowers, chunkUppers: uppers,
                       slabWidth: min(width, chunkSize), scalarBytes: scalarBytes,
                       memoryBudgetBytes: memoryBudgetBytes, rounds: split == .rows ? pairingRounds(ranks: worldSize) : [],
                       gramSplit: split, gatherGroup: group)
    }

    // MARK: Tiles

    /// Which matrix a tile belongs to.
    public enum TileMatrix: String, Codable, Sendable { case trainTrain, evalTrain }

    /// One rectangle of a kernel matrix computed by one rank in every chunk.
    public struct Tile: Equatable, Sendable {
        public var matrix: TileMatrix
        public var rows: Range<Int>
        public var columns: Range<Int>
        /// Diagonal train tile: only its lower triangle is computed.
        public var lowerOnly: Bool
        /// Split by rows: the rank whose train slabs the tile multiplies with the own rows
        /// (nil: the own block's tiles, and every tile split by slabs).
        public var partner: Int? = nil
        public var count: Int { rows.count * columns.count }
    }

    /// Where a rank's tiles sit in the float64 buffer it sends to rank 0 after every chunk:
    /// tiles[i] at offsets[i], row-major, its column count the leading dimension. The engine
    /// fills the buffer by it and rank 0 adds the buffer into the kernel matrices by it.
    public struct TileLayout: Equatable, Sendable {
        public var tiles: [Tile]
        public var offsets: [Int]
        /// Values in the buffer.
        public var count: Int

        init(_ tiles: [Tile]) {
            self.tiles = tiles
            var end = 0
            offsets = tiles.map { tile in
                defer { end += tile.count }
                return end
            }
            count = end
        }

        /// The tile of `matrix` shared with `partner` (nil: the own block's) and its offset.
        public func place(_ matrix: TileMatrix, partner: Int?) -> (tile: Tile, offset: Int) {
            guard let i = tiles.firstIndex(where: { $0.matrix == matrix && $0.partner == partner }) else {
                preconditionFailure("no \(matrix) tile with partner \(partner.map(String.init) ?? "none") in this layout")
            }
            return (tiles[i], offsets[i])
        }
    }

    /// Rank r's tiles and where they sit in the buffer it sends.
    public func tileLayout(of rank: Int) -> TileLayout { TileLayout(tiles(of: rank)) }

    /// Rank r's train×train rows of the pair tile with `partner` (the tile is the higher
    /// rank's rows × the lower rank's columns; lo takes the first half of the rows).
    public func pairTrainRows(rank: Int, partner: Int) -> Range<Int> {
        let hi = max(rank, partner)
        let rows = trainRows(of: hi)
        let half = rows.lowerBound + rows.count / 2
        return rank < partner ? rows.lowerBound..<half : half..<rows.upperBound
    }

    /// The tiles rank r computes, in the order it sends them to rank 0. Split by slabs they
    /// are the whole matrices, train×train then eval×train, laid out as the kernel itself.
    public func tiles(of rank: Int) -> [Tile] {
        if gramSplit == .slabs {
            let train = 0..<(trainCount * classes), eval = 0..<(evalCount * classes)
            return [Tile(matrix: .trainTrain, rows: train, columns: train, lowerOnly: true),
                    Tile(matrix: .evalTrain, rows: eval, columns: train, lowerOnly: false)]
        }
        let ownTrain = trainRows(of: rank), ownEval = evalRows(of: rank)
        var tiles = [Tile(matrix: .trainTrain, rows: ownTrain, columns: ownTrain, lowerOnly: true),
                     Tile(matrix: .evalTrain, rows: ownEval, columns: ownTrain, lowerOnly: false)]
        for round in rounds {
            let partner = round[rank]
            guard partner >= 0 else { continue }
            tiles.append(Tile(matrix: .trainTrain, rows: pairTrainRows(rank: rank, partner: partner),
                              columns: trainRows(of: min(rank, partner)), lowerOnly: false, partner: partner))
            tiles.append(Tile(matrix: .evalTrain, rows: ownEval, columns: trainRows(of: partner), lowerOnly: false,
                              partner: partner))
        }
        return tiles
    }
}

/// Errors of the eNTK computation: each names the setting or file and what to do.
public enum NTKError: LocalizedError, Equatable {
    case invalidSetting(String)
    case memoryBudget(budget: Int, needed: Int, what: String)
    case headFile(String, String)
    case label(exampleId: String, label: Int, classes: Int)
    case checkpointMismatch(String)
    case corruptCheckpoint(String, String)
    case mismatchAcrossRanks(String)

    public var errorDescription: String? {
        switch self {
        case let .invalidSetting(what): return "ntk: \(what)."
        case let .memoryBudget(budget, needed, what):
            return "ntk: --memory-budget \(formatBytes(budget)) is too small: \(what) need about \(formatBytes(needed)) per rank. "
                + "Raise --memory-budget, use more ranks, or fewer examples."
        case let .headFile(path, what): return "\(path): \(what)"
        case let .label(id, label, classes):
            return "ntk: example \(id) has label \(label), but the head has \(classes) classes (labels 0..<\(classes)). "
                + "Use a head with as many classes as the data."
        case let .checkpointMismatch(path):
            return "\(path): this checkpoint belongs to a different computation (model, head, examples, ranks or settings differ). "
                + "Run the original command to resume it, or delete the checkpoint folder to start over."
        case let .corruptCheckpoint(path, what):
            return "\(path): the checkpoint is unreadable (\(what)). Delete the checkpoint folder to start over."
        case let .mismatchAcrossRanks(what):
            return "ntk: ranks disagree on \(what); every rank must see the same model, head and examples (same files on every host)."
        }
    }
}
