import Foundation

extension TaskData {
    /// The paper's protocol for a training file: the first part trains, the last
    /// `validationFraction` validates, in file order (no shuffle), exactly as the authors'
    /// `train_test_split(test_size=0.1, shuffle=False)`: validation size = ⌈0.1·n⌉ computed in
    /// Double as Python does (so n = 11 gives 2, n = 2490 gives 249), train size = n − that.
    public static func paperSplit(_ training: [Example], validationFraction: Double = 0.1)
        -> (train: [Example], validation: [Example])
    {
        precondition(validationFraction >= 0 && validationFraction < 1, "validationFraction must be in [0, 1)")
        let validationCount = min(training.count, Int((validationFraction * Double(training.count)).rounded(.up)))
        let trainCount = training.count - validationCount
        return (Array(training[..<trainCount]), Array(training[trainCount...]))
    }

    /// Splits by a fixed permutation: the indices are shuffled by `RandomGenerator(seed: seed)`
    /// (Fisher–Yates), then the first ⌊n·trainPercent/100⌋ go to train, the next
    /// ⌊n·validationPercent/100⌋ to validation and the rest to test (integer arithmetic, so no
    /// rounding surprises). Each split keeps the permutation's order.
    static func permutationSplit(_ examples: [Example], trainPercent: Int, validationPercent: Int, seed: UInt64 = 0)
        -> (train: [Example], validation: [Example], test: [Example])
    {
        var order = Array(examples.indices)
        var generator = RandomGenerator(seed: seed)
        generator.shuffle(&order)
        let trainCount = examples.count * trainPercent / 100
        let validationCount = examples.count * validationPercent / 100
        let shuffled = order.map { examples[$0] }
        return (Array(shuffled[..<trainCount]),
                Array(shuffled[trainCount..<(trainCount + validationCount)]),
                Array(shuffled[(trainCount + validationCount)...]))
    }
}
