import Foundation

/// scikit-learn's `StratifiedKFold(n_splits, shuffle=False)`: the test fold of every example.
///
/// Classes are numbered by order of first appearance; the sorted encoded labels are dealt
/// round-robin to the folds to decide how many examples of each class each fold gets; then each
/// class's examples, in data order, fill fold 0, fold 1, … in consecutive blocks of those sizes.
/// `folds` must be ≥ 1 (a programmer error otherwise; `LogisticRegressionCV` checks its setting).
public func stratifiedFoldAssignment(labels: [Int], folds: Int) -> [Int] {
    precondition(folds >= 1, "stratifiedFoldAssignment needs folds ≥ 1")
    // Encode classes by first appearance.
    var code = [Int: Int]()
    var encoded = [Int](repeating: 0, count: labels.count)
    for (index, label) in labels.enumerated() {
        if let existing = code[label] {
            encoded[index] = existing
        } else {
            let next = code.count
            code[label] = next
            encoded[index] = next
        }
    }
    let classCount = code.count
    var perClass = [Int](repeating: 0, count: classCount)
    for c in encoded { perClass[c] += 1 }
    // allocation[fold][class] = count of class among sorted(encoded)[fold::folds].
    var allocation = [[Int]](repeating: [Int](repeating: 0, count: classCount), count: folds)
    var position = 0
    for c in 0..<classCount {
        for _ in 0..<perClass[c] {
            allocation[position % folds][c] += 1
            position += 1
        }
    }
    var assignment = [Int](repeating: 0, count: labels.count)
    var nextFold = [Int](repeating: 0, count: classCount)  // the fold being filled for each class
    var filled = [Int](repeating: 0, count: classCount)    // examples placed in that fold so far
    for (index, c) in encoded.enumerated() {
        while filled[c] == allocation[nextFold[c]][c] {
            nextFold[c] += 1
            filled[c] = 0
        }
        assignment[index] = nextFold[c]
        filled[c] += 1
    }
    return assignment
}

/// The result of `LogisticRegressionCV.fit`.
public struct CrossValidatedProbe: Sendable {
    /// The head refitted on all data with `bestStrength`.
    public var head: LinearHead
    public var bestStrength: Double
    /// Index of `bestStrength` in the strength grid.
    public var bestIndex: Int
    /// Validation accuracy per (fold, strength).
    public var foldAccuracies: [[Double]]
    /// Mean over folds of the validation accuracy, per strength.
    public var meanAccuracyPerStrength: [Double]
    /// Iterations and convergence of the final refit.
    public var iterations: Int
    public var converged: Bool
    /// Fold fits (of folds × strengths) that hit maxIterations or failed the line search.
    public var unconvergedFoldFits: Int
}

/// One cross-validation fold of `LogisticRegressionCV`: the held-out accuracy and the solution
/// at every strength of the grid, and how many of those fits did not converge.
public struct FoldFit: Sendable, Equatable {
    public var accuracies: [Double]
    public var solutions: [LinearHead]
    public var unconverged: Int

    /// As one row of doubles, to send between ranks: unconverged, the accuracies, then each
    /// solution's weight and bias.
    public func flattened() -> [Double] {
        [Double(unconverged)] + accuracies + solutions.flatMap { $0.weight + $0.bias }
    }

    /// Doubles in `flattened()` for a grid of `strengths` and heads of classes × dimension.
    public static func flattenedCount(strengths: Int, classes: Int, dimension: Int) -> Int {
        1 + strengths + strengths * (classes * dimension + classes)
    }

    /// The inverse of `flattened()`; `values.count` must be `flattenedCount(...)`.
    public init(flattened values: ArraySlice<Double>, strengths: Int, classes: Int, dimension: Int) {
        precondition(values.count == Self.flattenedCount(strengths: strengths, classes: classes, dimension: dimension))
        var at = values.startIndex
        func take(_ n: Int) -> [Double] { defer { at += n }; return Array(values[at..<(at + n)]) }
        unconverged = Int(take(1)[0])
        accuracies = take(strengths)
        solutions = (0..<strengths).map { _ in
            LinearHead(classes: classes, dimension: dimension, weight: take(classes * dimension), bias: take(classes))
        }
    }

    init(accuracies: [Double], solutions: [LinearHead], unconverged: Int) {
        self.accuracies = accuracies
        self.solutions = solutions
        self.unconverged = unconverged
    }
}

/// Cross-validated multinomial L2 logistic regression as scikit-learn's
/// `LogisticRegressionCV(Cs=10, cv=5, penalty="l2", solver="lbfgs", scoring=None)`:
/// - folds: `StratifiedKFold(folds, shuffle=False)` (see `stratifiedFoldAssignment`);
/// - per fold the strengths are fitted in grid order, each warm-started from the previous one;
/// - score = accuracy on the held-out fold; best = first maximum of the summed fold accuracies;
/// - refit on all data at the best strength, warm-started from the mean of the folds' solutions.
/// Stricter than scikit-learn: every class needs at least `folds` examples (scikit-learn only warns).
public struct LogisticRegressionCV: Sendable {
    /// The grid of C values; default 10 values logspace(-4, 4) as `Cs=10`.
    public var strengths: [Double] = LogisticRegressionCV.logspace(from: -4, to: 4, count: 10)
    public var folds = 5
    public var tolerance = 1e-4
    public var maxIterations = 5000

    public init() {}

    /// numpy.logspace(start, stop, count): 10^(start + i·(stop − start)/(count − 1)).
    public static func logspace(from start: Double, to stop: Double, count: Int) -> [Double] {
        guard count > 1 else { return count == 1 ? [pow(10, start)] : [] }
        let step = (stop - start) / Double(count - 1)
        return (0..<count).map { pow(10, $0 == count - 1 ? stop : start + Double($0) * step) }
    }

    /// Cross-validates and refits on `count` Float rows ((count, dimension) row-major).
    public func fit(features: [Float], count: Int, dimension: Int, labels: [Int], classes: Int) throws -> CrossValidatedProbe {
        try fit(ProbeDesign(features: features, count: count, dimension: dimension, name: "features"),
                labels: labels, classes: classes)
    }

    func fit(_ design: ProbeDesign, labels: [Int], classes: Int) throws -> CrossValidatedProbe {
        try check(labels: labels, rows: design.rows, classes: classes)
        let assignment = stratifiedFoldAssignment(labels: labels, folds: folds)
        let fits = (0..<folds).map { fitFold($0, of: design, assignment: assignment, labels: labels, classes: classes) }
        return refit(design, labels: labels, classes: classes, folds: fits)
    }

    /// The settings and labels `fit` needs: a non-empty valid strength grid, folds ≥ 2, labels
    /// in range and every class with at least `folds` examples.
    func check(labels: [Int], rows: Int, classes: Int) throws {
        guard !strengths.isEmpty else { throw ProbeError.invalidSetting("the strength grid is empty; give at least one C.") }
        guard folds >= 2 else { throw ProbeError.invalidSetting("cross-validation needs folds ≥ 2; got \(folds).") }
        for strength in strengths {
            try LogisticRegression(strength: strength, tolerance: tolerance, maxIterations: maxIterations).validateSettings()
        }
        try validateLabels(labels, rows: rows, classes: classes)
        var counts = [Int](repeating: 0, count: classes)
        for label in labels { counts[label] += 1 }
        if let small = counts.firstIndex(where: { $0 < folds }) {
            throw ProbeError.classTooSmallForFolds(label: small, count: counts[small], folds: folds)
        }
    }

    /// One fold of the cross-validation: fitted on the other folds' rows at every strength in
    /// grid order (each warm-started from the previous), scored on the fold's rows. Folds are
    /// independent of each other, so they may run anywhere (the NTK job deals them over ranks).
    func fitFold(_ fold: Int, of design: ProbeDesign, assignment: [Int], labels: [Int], classes: Int) -> FoldFit {
        let trainRows = assignment.indices.filter { assignment[$0] != fold }
        let testRows = assignment.indices.filter { assignment[$0] == fold }
        let train = design.gathering(trainRows), test = design.gathering(testRows)
        let trainLabels = trainRows.map { labels[$0] }, testLabels = testRows.map { labels[$0] }
        var previous: LinearHead? = nil
        var result = FoldFit(accuracies: [], solutions: [], unconverged: 0)
        for strength in strengths {
            let fit = LogisticRegression(strength: strength, tolerance: tolerance, maxIterations: maxIterations)
                .solve(train, labels: trainLabels, classes: classes, start: previous)
            if !fit.converged { result.unconverged += 1 }
            result.accuracies.append(Self.accuracy(fit.head.logits(of: test), labels: testLabels, classes: classes))
            result.solutions.append(fit.head)
            previous = fit.head
        }
        return result
    }

    /// The best strength from the folds' scores and the refit on all rows at it.
    func refit(_ design: ProbeDesign, labels: [Int], classes: Int, folds fits: [FoldFit]) -> CrossValidatedProbe {
        precondition(fits.count == folds && fits.allSatisfy { $0.accuracies.count == strengths.count })
        // Sum over folds in fold order (numpy's axis-0 sum), first maximum wins (numpy.argmax).
        var sums = [Double](repeating: 0, count: strengths.count)
        for fit in fits { for s in strengths.indices { sums[s] += fit.accuracies[s] } }
        var best = 0
        for s in strengths.indices where sums[s] > sums[best] { best = s }

        var start = LinearHead.zeros(classes: classes, dimension: design.dimension)
        for fit in fits {
            for j in start.weight.indices { start.weight[j] += fit.solutions[best].weight[j] / Double(folds) }
            for k in 0..<classes { start.bias[k] += fit.solutions[best].bias[k] / Double(folds) }
        }
        let refit = LogisticRegression(strength: strengths[best], tolerance: tolerance, maxIterations: maxIterations)
            .solve(design, labels: labels, classes: classes, start: start)
        return CrossValidatedProbe(head: refit.head, bestStrength: strengths[best], bestIndex: best,
                                   foldAccuracies: fits.map(\.accuracies),
                                   meanAccuracyPerStrength: sums.map { $0 / Double(folds) },
                                   iterations: refit.iterations, converged: refit.converged,
                                   unconvergedFoldFits: fits.reduce(0) { $0 + $1.unconverged })
    }

    /// Fraction of rows whose first largest logit is the label.
    static func accuracy(_ logits: [Double], labels: [Int], classes: Int) -> Double {
        var correct = 0
        for (row, label) in labels.enumerated() {
            var predicted = 0
            for k in 1..<classes where logits[row * classes + k] > logits[row * classes + predicted] { predicted = k }
            if predicted == label { correct += 1 }
        }
        return Double(correct) / Double(labels.count)
    }
}
