import Foundation

/// A linear classifier f(x) = V·x + b on feature vectors: the LP head the probe fits and the
/// classifier the trainer starts from. All K rows are explicit (also for K = 2), so
/// softmax(f(x)) is exactly the probe's probability vector.
public struct LinearHead: Sendable, Equatable {
    /// K, the number of classes (rows of `weight`).
    public let classes: Int
    /// D, the feature dimension (columns of `weight`).
    public let dimension: Int
    /// V, (classes, dimension) row-major.
    public var weight: [Double]
    /// b, (classes).
    public var bias: [Double]

    /// A head with the given parameters; the array sizes must be classes·dimension and classes.
    public init(classes: Int, dimension: Int, weight: [Double], bias: [Double]) {
        precondition(classes >= 1 && dimension >= 1, "LinearHead needs classes ≥ 1 and dimension ≥ 1")
        precondition(weight.count == classes * dimension, "LinearHead weight must have classes·dimension values")
        precondition(bias.count == classes, "LinearHead bias must have classes values")
        self.classes = classes
        self.dimension = dimension
        self.weight = weight
        self.bias = bias
    }

    /// The all-zero head (uniform probabilities).
    public static func zeros(classes: Int, dimension: Int) -> LinearHead {
        LinearHead(classes: classes, dimension: dimension,
                   weight: [Double](repeating: 0, count: classes * dimension),
                   bias: [Double](repeating: 0, count: classes))
    }

    /// Norm(C) of the paper: the Frobenius norm ‖V‖_F of the weight (bias excluded).
    public var weightNorm: Double { weight.reduce(0) { $0 + $1 * $1 }.squareRoot() }

    /// Logits V·x_i + b for `count` feature rows, (count, dimension) row-major → (count, classes).
    public func logits(features: [Float], count: Int) throws -> [Double] {
        try logits(of: ProbeDesign(features: features, count: count, dimension: dimension, name: "features"))
    }

    /// Logits V·x_i + b for `count` feature rows, (count, dimension) row-major → (count, classes).
    public func logits(features: [Double], count: Int) throws -> [Double] {
        try logits(of: ProbeDesign(features: features, count: count, dimension: dimension, name: "features"))
    }

    /// The same head with V and b multiplied by `factor`, so logits are multiplied by it:
    /// factor 1/T is temperature scaling; the paper's head-norm experiment uses 0.1…100.
    public func scaled(by factor: Double) -> LinearHead {
        LinearHead(classes: classes, dimension: dimension,
                   weight: weight.map { $0 * factor }, bias: bias.map { $0 * factor })
    }

    func logits(of design: ProbeDesign) -> [Double] {
        var result = [Double](repeating: 0, count: design.rows * classes)
        guard design.rows > 0 else { return result }
        // (N, D) · (K, D)ᵀ → (N, K)
        design.values.withUnsafeBufferPointer { x in
            weight.withUnsafeBufferPointer { w in
                result.withUnsafeMutableBufferPointer { z in
                    Double.gemm(.none, .transpose, m: design.rows, n: classes, k: dimension, alpha: 1,
                                a: x.baseAddress!, lda: dimension, b: w.baseAddress!, ldb: dimension,
                                beta: 0, c: z.baseAddress!, ldc: classes)
                    for row in 0..<design.rows {
                        for k in 0..<classes { z[row * classes + k] += bias[k] }
                    }
                }
            }
        }
        return result
    }
}

extension LinearHead: Codable {
    private enum CodingKeys: String, CodingKey { case classes, dimension, weight, bias }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let classes = try container.decode(Int.self, forKey: .classes)
        let dimension = try container.decode(Int.self, forKey: .dimension)
        let weight = try container.decode([Double].self, forKey: .weight)
        let bias = try container.decode([Double].self, forKey: .bias)
        guard classes >= 1, dimension >= 1, weight.count == classes * dimension, bias.count == classes else {
            throw DecodingError.dataCorrupted(.init(
                codingPath: decoder.codingPath,
                debugDescription: "linear head has classes=\(classes), dimension=\(dimension), "
                    + "\(weight.count) weights and \(bias.count) biases; expected classes·dimension weights "
                    + "and classes biases — the head file is corrupt, refit the probe"))
        }
        self.init(classes: classes, dimension: dimension, weight: weight, bias: bias)
    }
}

/// A checked (rows, dimension) row-major Double matrix of probe inputs.
struct ProbeDesign {
    let rows: Int
    let dimension: Int
    var values: [Double]

    init(features: [Float], count: Int, dimension: Int, name: String) throws {
        try ProbeDesign.checkShape(values: features.count, count: count, dimension: dimension, name: name)
        var values = [Double](repeating: 0, count: features.count)
        for j in 0..<features.count {
            guard features[j].isFinite else {
                throw ProbeError.nonFiniteFeature(name: name, row: j / dimension, column: j % dimension)
            }
            values[j] = Double(features[j])
        }
        self.init(rows: count, dimension: dimension, values: values)
    }

    init(features: [Double], count: Int, dimension: Int, name: String) throws {
        try ProbeDesign.checkShape(values: features.count, count: count, dimension: dimension, name: name)
        if let bad = features.firstIndex(where: { !$0.isFinite }) {
            throw ProbeError.nonFiniteFeature(name: name, row: bad / dimension, column: bad % dimension)
        }
        self.init(rows: count, dimension: dimension, values: features)
    }

    init(rows: Int, dimension: Int, values: [Double]) {
        self.rows = rows
        self.dimension = dimension
        self.values = values
    }

    /// The rows at `indices`, in that order.
    func gathering(_ indices: [Int]) -> ProbeDesign {
        var values = [Double](repeating: 0, count: indices.count * dimension)
        for (newRow, row) in indices.enumerated() {
            for j in 0..<dimension { values[newRow * dimension + j] = self.values[row * dimension + j] }
        }
        return ProbeDesign(rows: indices.count, dimension: dimension, values: values)
    }

    private static func checkShape(values: Int, count: Int, dimension: Int, name: String) throws {
        guard count >= 0, dimension >= 1, values == count * dimension else {
            throw ProbeError.shape(name: name, expected: "count × dimension = \(count) × \(dimension)", actual: values)
        }
    }
}
