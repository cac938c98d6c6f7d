import Model

/// Which examples each optimizer step trains on, as a function of (seed, epoch, step) only —
/// never of the number of ranks, so a run checkpointed on P ranks continues on Q ranks with
/// the same global batches (what changes with P is only which rank holds which example).
///
/// - Order: a permutation of the training split per epoch, drawn by Fisher–Yates from
///   `RandomGenerator(seed: seed &+ epoch)` (xoshiro256** seeded through SplitMix64, see
///   Model/Random.swift); the same on every rank.
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
        var order = Array(0..<examples)
        var rng = RandomGenerator(seed: seed &+ UInt64(truncatingIfNeeded: epoch))
        rng.shuffle(&order)
        return order
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
