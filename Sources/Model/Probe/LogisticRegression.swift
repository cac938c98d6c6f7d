import Foundation

/// Bad input to the probe: what was wrong, where, and what to do.
public enum ProbeError: LocalizedError, Equatable {
    case shape(name: String, expected: String, actual: Int)
    case nonFiniteFeature(name: String, row: Int, column: Int)
    case tooFewClasses(Int)
    case labelOutOfRange(index: Int, label: Int, classes: Int)
    case emptyClass(label: Int)
    case classTooSmallForFolds(label: Int, count: Int, folds: Int)
    case invalidStrength(Double)
    case invalidSetting(String)

    public var errorDescription: String? {
        switch self {
        case let .shape(name, expected, actual):
            return "\(name) has \(actual) values; expected \(expected). Pass the matrix row-major with matching count and dimension."
        case let .nonFiniteFeature(name, row, column):
            return "\(name) row \(row), column \(column) is NaN or infinite; the probe needs finite features (check the encoder output)."
        case let .tooFewClasses(classes):
            return "the probe needs at least 2 classes; got classes = \(classes)."
        case let .labelOutOfRange(index, label, classes):
            return "label \(label) of example \(index) is outside 0..<\(classes); map the data set's labels to 0..<classes."
        case let .emptyClass(label):
            return "class \(label) has no training examples; its intercept would diverge. Drop the class or add examples."
        case let .classTooSmallForFolds(label, count, folds):
            return "class \(label) has \(count) examples, fewer than the \(folds) folds of the stratified cross-validation (the paper's protocol); give at least \(folds) examples of every class (more data, or a larger --subset / --max-train)."
        case let .invalidStrength(value):
            return "inverse regularisation strength C = \(value) must be positive and finite."
        case let .invalidSetting(message):
            return message
        }
    }
}

/// The result of one logistic-regression fit.
public struct ProbeFit: Sendable {
    public var head: LinearHead
    /// L-BFGS iterations (accepted line searches), as scipy's `nit`.
    public var iterations: Int
    /// True when max|gradient| ≤ tolerance or the relative decrease fell to 64·eps (scipy's tests).
    public var converged: Bool
    /// ½‖W‖²_F + C·Σ_i CE_i at the solution (scikit-learn's objective, unscaled).
    public var objective: Double
}

/// Multinomial L2 logistic regression exactly as scikit-learn's
/// `LogisticRegression(penalty="l2", C, fit_intercept=True, solver="lbfgs")` for K ≥ 3:
///
///     minimise  ½‖W‖²_F + C · Σ_i CE(softmax(W x_i + b), y_i)   over W (K×D), b (K)
///
/// with the intercept unpenalised. For K = 2 the same symmetric two-row softmax is used (scikit-learn
/// ≥ 1.5 fits a one-vector binomial model instead; the two-row optimum at C equals the binomial one
/// at 2C, split as W = [−w/2, +w/2]).
///
/// Like scikit-learn the solver works on the objective divided by C·N (mean CE + ‖W‖²/(2CN)) and
/// stops when every partial derivative of that scaled objective is ≤ `tolerance` in magnitude.
/// The intercept is returned centred (zero mean over classes); a common shift does not change the
/// probabilities, and from a zero start L-BFGS stays centred anyway.
public struct LogisticRegression: Sendable {
    /// C, the inverse regularisation strength.
    public var strength: Double
    public var tolerance = 1e-4
    public var maxIterations = 5000

    public init(strength: Double, tolerance: Double = 1e-4, maxIterations: Int = 5000) {
        self.strength = strength
        self.tolerance = tolerance
        self.maxIterations = maxIterations
    }

    /// Fits on `count` feature rows ((count, dimension) row-major) with labels in 0..<classes.
    /// `warmStart` (same classes and dimension) replaces the zero initialisation.
    public func fit(features: [Float], count: Int, dimension: Int, labels: [Int], classes: Int,
                    warmStart: LinearHead? = nil) throws -> ProbeFit {
        let design = try ProbeDesign(features: features, count: count, dimension: dimension, name: "features")
        return try fit(design, labels: labels, classes: classes, warmStart: warmStart)
    }

    /// Fits on `count` Double rows (e.g. kernel rows); otherwise as the Float version.
    public func fit(features: [Double], count: Int, dimension: Int, labels: [Int], classes: Int,
                    warmStart: LinearHead? = nil) throws -> ProbeFit {
        let design = try ProbeDesign(features: features, count: count, dimension: dimension, name: "features")
        return try fit(design, labels: labels, classes: classes, warmStart: warmStart)
    }

    func fit(_ design: ProbeDesign, labels: [Int], classes: Int, warmStart: LinearHead?) throws -> ProbeFit {
        try validateSettings()
        try validateLabels(labels, rows: design.rows, classes: classes)
        var counts = [Int](repeating: 0, count: classes)
        for label in labels { counts[label] += 1 }
        if let empty = counts.firstIndex(of: 0) { throw ProbeError.emptyClass(label: empty) }
        if let start = warmStart, start.classes != classes || start.dimension != design.dimension {
            throw ProbeError.invalidSetting(
                "warm-start head is \(start.classes)×\(start.dimension); expected \(classes)×\(design.dimension) (classes × feature dimension).")
        }
        return solve(design, labels: labels, classes: classes, start: warmStart)
    }

    func validateSettings() throws {
        guard strength > 0, strength.isFinite else { throw ProbeError.invalidStrength(strength) }
        guard tolerance >= 0, maxIterations >= 0 else {
            throw ProbeError.invalidSetting("probe tolerance (\(tolerance)) and maxIterations (\(maxIterations)) must be non-negative.")
        }
    }

    /// The L-BFGS fit; inputs already checked.
    func solve(_ design: ProbeDesign, labels: [Int], classes: Int, start: LinearHead?) -> ProbeFit {
        let weightCount = classes * design.dimension
        var parameters = [Double](repeating: 0, count: weightCount + classes)
        if let start {
            parameters.replaceSubrange(0..<weightCount, with: start.weight)
            parameters.replaceSubrange(weightCount..., with: start.bias)
        }
        var objective = MultinomialLogisticObjective(design: design, labels: labels, classes: classes,
                                                     regularization: 1 / (strength * Double(design.rows)))
        let minimizer = LBFGSMinimizer(gradientTolerance: tolerance, maxIterations: maxIterations)
        let result = minimizer.minimize(&parameters, objective: &objective)

        var bias = Array(parameters[weightCount...])
        let meanBias = bias.reduce(0, +) / Double(classes)
        for k in 0..<classes { bias[k] -= meanBias }
        let head = LinearHead(classes: classes, dimension: design.dimension,
                              weight: Array(parameters[0..<weightCount]), bias: bias)
        return ProbeFit(head: head, iterations: result.iterations, converged: result.stop.isConverged,
                        objective: result.value * strength * Double(design.rows))
    }
}

func validateLabels(_ labels: [Int], rows: Int, classes: Int) throws {
    guard classes >= 2 else { throw ProbeError.tooFewClasses(classes) }
    guard labels.count == rows else {
        throw ProbeError.shape(name: "labels", expected: "one per feature row (\(rows))", actual: labels.count)
    }
    if let bad = labels.firstIndex(where: { $0 < 0 || $0 >= classes }) {
        throw ProbeError.labelOutOfRange(index: bad, label: labels[bad], classes: classes)
    }
}

/// f(W, b) = (1/N) Σ_i [logsumexp(z_i) − z_{i,y_i}] + (λ/2)‖W‖²_F with z_i = W x_i + b, λ = 1/(C·N).
/// Parameters: W (K, D) row-major, then b (K).
/// ∇_W f = Gᵀ X + λW, ∇_b f = Σ_i G_i with G_i = (softmax(z_i) − onehot(y_i)) / N.
struct MultinomialLogisticObjective: SmoothObjective {
    let design: ProbeDesign
    let labels: [Int]
    let classes: Int
    let regularization: Double
    /// Rows per block: one block of the design stays in cache between its two products, so an
    /// evaluation reads the design from memory once. (Two whole-design products with K
    /// columns made OpenBLAS copy the design into its packed form twice per evaluation: three
    /// quarters of the time of a 4,178-row kernel regression.)
    let blockRows: Int
    /// Blocks are dealt round-robin to this many lanes; a lane adds its blocks in order, the
    /// lanes are added in lane order: the sums do not depend on the thread count.
    static let lanes = 8
    /// (N, K) logits, then G in place.
    private var scratch: [Double]
    /// Per lane: ∇W (K, D), then ∇b (K), then the loss.
    private var partials: [Double]

    init(design: ProbeDesign, labels: [Int], classes: Int, regularization: Double) {
        self.design = design
        self.labels = labels
        self.classes = classes
        self.regularization = regularization
        blockRows = max(16, (1 << 19) / (8 * max(design.dimension, 1)))
        scratch = [Double](repeating: 0, count: design.rows * classes)
        partials = [Double](repeating: 0, count: Self.lanes * (classes * design.dimension + classes + 1))
    }

    mutating func evaluate(_ point: UnsafePointer<Double>, gradient: UnsafeMutablePointer<Double>) -> Double {
        let rows = design.rows, dimension = design.dimension, classes = self.classes, blockRows = self.blockRows
        let weightCount = classes * dimension, laneSize = weightCount + classes + 1
        let weight = point, bias = point + weightCount
        let inverseRows = 1 / Double(rows)
        let blocks = (rows + blockRows - 1) / blockRows
        let labels = self.labels
        design.values.withUnsafeBufferPointer { xBuffer in
            scratch.withUnsafeMutableBufferPointer { zBuffer in
                partials.withUnsafeMutableBufferPointer { laneBuffer in
                    let x = xBuffer.baseAddress!, zAll = zBuffer.baseAddress!, laneBase = laneBuffer.baseAddress!
                    Parallel.forRanges(Self.lanes, chunk: 1) { laneRange in
                        for lane in laneRange {
                            let weightGradient = laneBase + lane * laneSize
                            let biasGradient = weightGradient + weightCount
                            weightGradient.update(repeating: 0, count: laneSize)
                            var loss = 0.0
                            for block in stride(from: lane, to: blocks, by: Self.lanes) {
                                let first = block * blockRows, count = min(blockRows, rows - first)
                                let xBlock = x + first * dimension, z = zAll + first * classes
                                // z (n, K) = X_block (n, D) · Wᵀ (D, K)
                                Double.gemm(.none, .transpose, m: count, n: classes, k: dimension, alpha: 1,
                                            a: xBlock, lda: dimension, b: weight, ldb: dimension,
                                            beta: 0, c: z, ldc: classes)
                                for row in 0..<count {
                                    let logits = z + row * classes
                                    var largest = -Double.infinity
                                    for k in 0..<classes {
                                        logits[k] += bias[k]
                                        largest = max(largest, logits[k])
                                    }
                                    var sum = 0.0
                                    for k in 0..<classes { sum += exp(logits[k] - largest) }
                                    let logSumExp = largest + log(sum)
                                    let label = labels[first + row]
                                    loss += logSumExp - logits[label]
                                    for k in 0..<classes {
                                        let g = (exp(logits[k] - logSumExp) - (k == label ? 1 : 0)) * inverseRows
                                        logits[k] = g
                                        biasGradient[k] += g
                                    }
                                }
                                // ∇W (K, D) += G_blockᵀ (K, n) · X_block (n, D), X_block still in cache
                                Double.gemm(.transpose, .none, m: classes, n: dimension, k: count, alpha: 1,
                                            a: z, lda: classes, b: xBlock, ldb: dimension,
                                            beta: 1, c: weightGradient, ldc: dimension)
                            }
                            biasGradient[classes] = loss
                        }
                    }
                }
            }
        }
        // The lanes in lane order.
        let weightGradient = gradient
        var loss = 0.0
        partials.withUnsafeBufferPointer { laneBuffer in
            let first = laneBuffer.baseAddress!
            gradient.update(from: first, count: weightCount + classes)
            loss = first[weightCount + classes]
            for lane in 1..<Self.lanes {
                let partial = first + lane * laneSize
                for j in 0..<(weightCount + classes) { gradient[j] += partial[j] }
                loss += partial[weightCount + classes]
            }
        }
        var squaredNorm = 0.0
        for j in 0..<(classes * dimension) {
            squaredNorm += weight[j] * weight[j]
            weightGradient[j] += regularization * weight[j]
        }
        return loss * inverseRows + 0.5 * regularization * squaredNorm
    }
}
