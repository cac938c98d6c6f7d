import Model

/// Splits a data set across ranks with torch.utils.data.DistributedSampler semantics.
///
/// - Order: with `shuffle`, a permutation of 0..<datasetSize drawn by Fisher–Yates from
///   `RandomGenerator(seed: seed &+ UInt64(epoch))` (xoshiro256** seeded through SplitMix64, see
///   Model/Random.swift); without it, 0, 1, 2, …
/// - Padding: the order is extended by wrapping around to a multiple of the world size, or
///   with `dropLast` cut down to one; every rank therefore gets the same count.
/// - Rank r takes positions r, r+P, r+2P, … of the padded order.
public struct ShardedSampler: Sendable {
    public let datasetSize: Int
    public let worldSize: Int
    public let rank: Int
    public let shuffle: Bool
    public let seed: UInt64
    public let dropLast: Bool

    public init(datasetSize: Int, worldSize: Int, rank: Int, shuffle: Bool = true,
                seed: UInt64 = 0, dropLast: Bool = false) {
        precondition(worldSize >= 1 && rank >= 0 && rank < worldSize, "rank \(rank) outside world of \(worldSize)")
        precondition(datasetSize >= 0)
        self.datasetSize = datasetSize
        self.worldSize = worldSize
        self.rank = rank
        self.shuffle = shuffle
        self.seed = seed
        self.dropLast = dropLast
    }

    /// Examples each rank visits per epoch.
    public var samplesPerRank: Int {
        if dropLast { return datasetSize / worldSize }
        return (datasetSize + worldSize - 1) / worldSize
    }

    /// Length of the padded (or trimmed) global order.
    public var totalSize: Int { samplesPerRank * worldSize }

    /// The global order of one epoch, before sharding (padded or trimmed to `totalSize`).
    public func globalOrder(epoch: Int) -> [Int] {
        var order = Array(0..<datasetSize)
        if shuffle {
            var rng = RandomGenerator(seed: seed &+ UInt64(truncatingIfNeeded: epoch))
            rng.shuffle(&order)
        }
        if totalSize <= order.count { return Array(order.prefix(totalSize)) }
        guard !order.isEmpty else { return [] }
        var padded = order
        padded.reserveCapacity(totalSize)
        var i = 0
        while padded.count < totalSize { padded.append(order[i % order.count]); i += 1 }
        return padded
    }

    /// This rank's indices for one epoch.
    public func indices(epoch: Int) -> [Int] {
        let order = globalOrder(epoch: epoch)
        return Swift.stride(from: rank, to: order.count, by: worldSize).map { order[$0] }
    }
}

/// Which examples each optimizer step trains on, as a function of (seed, epoch, step) only —
/// never of the number of ranks, so a run checkpointed on P ranks continues on Q ranks with
/// the same global batches (what changes with P is only which rank holds which example).
///
/// - Order: a permutation of the training split per epoch (`ShardedSampler.globalOrder` with
///   one rank: Fisher–Yates from seed + epoch, no padding).
/// - Global batch s of an epoch: positions s·B ..< min(N, (s+1)·B) of the order; the last
///   batch of an epoch may be smaller (⌈N/B⌉ steps per epoch, as a DataLoader without drop_last).
/// - Rank r takes a contiguous slice of the global batch, balanced to within one example
///   (a rank may get none of a short last batch), and cuts it into micro-batches of at most m.
struct GlobalBatches {
    let examples: Int
    let batchSize: Int
    let seed: UInt64

    var stepsPerEpoch: Int { (examples + batchSize - 1) / batchSize }

    func order(epoch: Int) -> [Int] {
        ShardedSampler(datasetSize: examples, worldSize: 1, rank: 0, shuffle: true, seed: seed).globalOrder(epoch: epoch)
    }

    /// Positions (into the epoch's order) of global batch `step`.
    func batch(step: Int) -> Range<Int> {
        (step * batchSize)..<min(examples, (step + 1) * batchSize)
    }

    /// The part of `batch` that rank `rank` of `worldSize` trains on.
    static func slice(_ batch: Range<Int>, rank: Int, worldSize: Int) -> Range<Int> {
        let n = batch.count
        return (batch.lowerBound + rank * n / worldSize)..<(batch.lowerBound + (rank + 1) * n / worldSize)
    }

    /// `slice` cut into consecutive micro-batches of at most `size` examples.
    static func microBatches(_ slice: Range<Int>, size: Int) -> [Range<Int>] {
        stride(from: slice.lowerBound, to: slice.upperBound, by: size).map { $0..<min(slice.upperBound, $0 + size) }
    }
}
