import Foundation

/// Single-process math on assembled empirical-NTK matrices (rows example-major: row i·C + c).
public enum KernelAnalysis {
    /// The pre-train-effective part P = (φ_a φ_bᵀ + 1) ⊗ I_C: ((na·C) × (nb·C)), from features
    /// a (na × H) and b (nb × H). Entry (i·C + c, j·C + c') = (⟨a_i, b_j⟩ + 1)·[c = c'].
    public static func pretrainEffective(_ a: [Double], count na: Int, _ b: [Double], count nb: Int,
                                         hidden: Int, classes: Int) -> [Double] {
        precondition(a.count == na * hidden && b.count == nb * hidden)
        var gram = [Double](repeating: 0, count: na * nb)
        if na > 0 && nb > 0 {
            a.withUnsafeBufferPointer { ap in
                b.withUnsafeBufferPointer { bp in
                    gram.withUnsafeMutableBufferPointer { g in
                        Double.gemm(.none, .transpose, m: na, n: nb, k: hidden, alpha: 1, a: ap.baseAddress!, lda: hidden,
                                    b: bp.baseAddress!, ldb: hidden, beta: 0, c: g.baseAddress!, ldc: nb)
                    }
                }
            }
        }
        let C = classes, columns = nb * C
        var p = [Double](repeating: 0, count: na * C * columns)
        for i in 0..<na {
            for j in 0..<nb {
                let value = gram[i * nb + j] + 1
                for c in 0..<C { p[(i * C + c) * columns + j * C + c] = value }
            }
        }
        return p
    }

    /// ‖M‖_F.
    public static func frobeniusNorm(_ values: [Double]) -> Double {
        values.reduce(0) { $0 + $1 * $1 }.squareRoot()
    }

    /// Eigen-summary of a symmetric n×n matrix.
    public struct Spectrum: Codable, Sendable, Equatable {
        /// The largest eigenvalues, descending.
        public var topEigenvalues: [Double]
        public var smallestEigenvalue: Double
        /// Eigenvalues above `tolerance`.
        public var rank: Int
        /// Absolute threshold used for `rank`: relativeTolerance · max |λ|.
        public var tolerance: Double
        public var relativeTolerance: Double
    }

    /// Eigenvalues by LAPACK dsyevd; rank = #{λ > relativeTolerance · max|λ|}. Nil when LAPACK
    /// fails (e.g. non-finite entries).
    public static func spectrum(_ matrix: [Double], n: Int, relativeTolerance: Double, top: Int) -> Spectrum? {
        guard n > 0, matrix.allSatisfy(\.isFinite), let ascending = BLAS.symmetricEigenvalues(matrix, n: n) else { return nil }
        let largest = ascending.map(abs).max() ?? 0
        let tolerance = relativeTolerance * largest
        return Spectrum(topEigenvalues: Array(ascending.reversed().prefix(top)), smallestEigenvalue: ascending[0],
                        rank: ascending.filter { $0 > tolerance }.count, tolerance: tolerance,
                        relativeTolerance: relativeTolerance)
    }

    /// δ = onehot(y_i) − softmax(logits_i), (n·C), example-major.
    public static func residuals(logits: [Double], labels: [Int], classes: Int) -> [Double] {
        precondition(logits.count == labels.count * classes)
        var delta = [Double](repeating: 0, count: logits.count)
        for (i, label) in labels.enumerated() {
            let row = logits[(i * classes)..<((i + 1) * classes)]
            let top = row.max() ?? 0
            let exps = row.map { exp($0 - top) }
            let sum = exps.reduce(0, +)
            for c in 0..<classes { delta[i * classes + c] = (c == label ? 1 : 0) - exps[c] / sum }
        }
        return delta
    }

    /// M·v for a (rows × columns) row-major matrix.
    public static func apply(_ matrix: [Double], rows: Int, columns: Int, _ vector: [Double]) -> [Double] {
        precondition(matrix.count == rows * columns && vector.count == columns)
        var result = [Double](repeating: 0, count: rows)
        guard rows > 0, columns > 0 else { return result }
        matrix.withUnsafeBufferPointer { m in
            vector.withUnsafeBufferPointer { v in
                result.withUnsafeMutableBufferPointer { r in
                    Double.gemv(.none, m: rows, n: columns, alpha: 1, a: m.baseAddress!, lda: columns,
                                x: v.baseAddress!, beta: 0, y: r.baseAddress!)
                }
            }
        }
        return result
    }

    /// The paper's FT ratio: mean over examples x of ‖Σ_i F(x, x_i) δ_i‖ / ‖Σ_i (P+F)(x, x_i) δ_i‖,
    /// given Fδ and (P+F)δ (n·C each). Examples whose denominator is 0 are skipped.
    public static func ftRatio(fDelta: [Double], ntkDelta: [Double], examples: Int, classes: Int) -> Double {
        var sum = 0.0, counted = 0
        for i in 0..<examples {
            var numerator = 0.0, denominator = 0.0
            for c in 0..<classes {
                numerator += fDelta[i * classes + c] * fDelta[i * classes + c]
                denominator += ntkDelta[i * classes + c] * ntkDelta[i * classes + c]
            }
            guard denominator > 0 else { continue }
            sum += (numerator / denominator).squareRoot()
            counted += 1
        }
        return counted > 0 ? sum / Double(counted) : .nan
    }

    /// How well a predicted change vector matches an observed one.
    public struct ChangeComparison: Codable, Sendable, Equatable {
        /// cos∠(predicted, observed).
        public var cosine: Double
        /// ‖predicted − observed‖ / ‖observed‖.
        public var relativeError: Double
        public var predictedNorm: Double
        public var observedNorm: Double
    }

    public static func compare(predicted: [Double], observed: [Double]) -> ChangeComparison {
        precondition(predicted.count == observed.count)
        var dot = 0.0, pp = 0.0, oo = 0.0, dd = 0.0
        for (p, o) in zip(predicted, observed) { dot += p * o; pp += p * p; oo += o * o; dd += (p - o) * (p - o) }
        return ChangeComparison(cosine: dot / (pp * oo).squareRoot(), relativeError: (dd / oo).squareRoot(),
                                predictedNorm: pp.squareRoot(), observedNorm: oo.squareRoot())
    }

    /// Kernel logistic-regression accuracy (the paper's protocol): a cross-validated L2
    /// logistic regression (`LogisticRegressionCV`, scikit-learn's defaults) is fitted on the
    /// rows of the train kernel ((n·C) × (n·C)) with flattened one-hot targets — row (i, c) is
    /// positive when c is example i's label. An example's prediction is the class c whose row
    /// (i, c) has the highest positive probability; accuracy is over examples. Eval rows are
    /// the (m·C) × (n·C) eval×train kernel. The kernel is divided by its mean diagonal first
    /// (one global scale, so the strength grid meets well-conditioned inputs).
    public struct KernelAccuracy: Codable, Sendable, Equatable {
        public var train: Double
        public var eval: Double?
        /// The strength C chosen by cross-validation.
        public var strength: Double
        /// The scale the kernel was divided by (its mean diagonal).
        public var scale: Double
        public var converged: Bool
        /// The held-out accuracy of each cross-validation fold at each strength of the grid
        /// ([fold][strength]; `strength` has the best sum over folds). Absent in files written
        /// before it was recorded.
        public var foldAccuracy: [[Double]]?
    }

    public static func kernelRegressionAccuracy(train: [Double], labels: [Int], classes: Int,
                                                eval: [Double]? = nil, evalLabels: [Int]? = nil) throws -> KernelAccuracy {
        let regression = try KernelRegression(train: train, labels: labels, classes: classes)
        return try regression.finish((0..<regression.folds).map(regression.fitFold), eval: eval, evalLabels: evalLabels)
    }
}

/// `KernelAnalysis.kernelRegressionAccuracy` in its pieces: the cross-validation folds, which are
/// independent (the NTK job deals them over its ranks), then the refit and the accuracies.
public struct KernelRegression {
    public let folds: Int
    let labels: [Int], classes: Int, scale: Double
    let design: ProbeDesign, targets: [Int], assignment: [Int]
    let cv = LogisticRegressionCV()

    /// Scales the train kernel ((n·C) × (n·C)) and checks what the fit needs; throws what
    /// `LogisticRegressionCV.fit` would.
    public init(train: [Double], labels: [Int], classes: Int) throws {
        let rows = labels.count * classes
        precondition(train.count == rows * rows)
        var diagonal = 0.0
        for r in 0..<rows { diagonal += train[r * rows + r] }
        let scale = diagonal > 0 ? diagonal / Double(rows) : 1
        self.labels = labels
        self.classes = classes
        self.scale = scale
        design = try ProbeDesign(features: train.map { $0 / scale }, count: rows, dimension: rows, name: "features")
        targets = (0..<rows).map { r in labels[r / classes] == r % classes ? 1 : 0 }
        try cv.check(labels: targets, rows: rows, classes: 2)
        folds = cv.folds
        assignment = stratifiedFoldAssignment(labels: targets, folds: folds)
    }

    /// Doubles of one `FoldFit.flattened()` of this regression.
    public var foldFitCount: Int {
        FoldFit.flattenedCount(strengths: cv.strengths.count, classes: 2, dimension: design.dimension)
    }

    public func fitFold(_ fold: Int) -> FoldFit {
        cv.fitFold(fold, of: design, assignment: assignment, labels: targets, classes: 2)
    }

    public func foldFit(flattened values: ArraySlice<Double>) -> FoldFit {
        FoldFit(flattened: values, strengths: cv.strengths.count, classes: 2, dimension: design.dimension)
    }

    /// The refit on all rows from the folds' fits (in fold order), and the train and eval
    /// accuracies; `eval` is the (m·C) × (n·C) eval×train kernel.
    public func finish(_ fits: [FoldFit], eval: [Double]?, evalLabels: [Int]?) throws -> KernelAnalysis.KernelAccuracy {
        let fit = cv.refit(design, labels: targets, classes: 2, folds: fits)
        // An example's prediction is the class whose row has the largest margin (P(positive) is
        // increasing in it).
        func accuracy(_ logits: [Double], _ labels: [Int]) -> Double {
            var correct = 0
            for (i, label) in labels.enumerated() {
                var best = 0, bestMargin = -Double.infinity
                for c in 0..<classes {
                    let r = i * classes + c
                    let margin = logits[r * 2 + 1] - logits[r * 2]
                    if margin > bestMargin { bestMargin = margin; best = c }
                }
                if best == label { correct += 1 }
            }
            return Double(correct) / Double(labels.count)
        }
        let evalAccuracy = try eval.flatMap { kernel in
            try evalLabels.map { accuracy(try fit.head.logits(features: kernel.map { $0 / scale }, count: $0.count * classes), $0) }
        }
        return .init(train: accuracy(fit.head.logits(of: design), labels), eval: evalAccuracy,
                     strength: fit.bestStrength, scale: scale, converged: fit.converged,
                     foldAccuracy: fit.foldAccuracies)
    }
}
