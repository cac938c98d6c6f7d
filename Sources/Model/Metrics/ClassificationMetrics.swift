import Foundation

/// Bad input to a metric: what was wrong and what to do.
public enum MetricsError: LocalizedError, Equatable {
    case shape(name: String, expected: String, actual: Int)
    case empty(String)
    case labelOutOfRange(name: String, index: Int, label: Int, classes: Int)
    case nonFinite(name: String, index: Int)
    case undefined(String)

    public var errorDescription: String? {
        switch self {
        case let .shape(name, expected, actual):
            return "\(name) has \(actual) values; expected \(expected)."
        case let .empty(what):
            return "\(what) is empty; a metric needs at least one example."
        case let .labelOutOfRange(name, index, label, classes):
            return "\(name)[\(index)] = \(label) is outside 0..<\(classes); labels must be class indices."
        case let .nonFinite(name, index):
            return "\(name)[\(index)] is NaN or infinite; check the model output."
        case let .undefined(message):
            return message
        }
    }
}

/// A checked (count, classes) row-major matrix of logits, in Double.
public struct Logits: Sendable {
    public let count: Int
    public let classes: Int
    public let values: [Double]

    /// Logits of `values.count / classes` examples; throws on a ragged or non-finite matrix.
    public init(_ values: [Double], classes: Int) throws {
        guard classes >= 1, values.count % classes == 0 else {
            throw MetricsError.shape(name: "logits", expected: "a multiple of classes = \(classes)", actual: values.count)
        }
        if let bad = values.firstIndex(where: { !$0.isFinite }) { throw MetricsError.nonFinite(name: "logits", index: bad) }
        self.count = values.count / classes
        self.classes = classes
        self.values = values
    }

    /// Float logits, widened to Double.
    public init(_ values: [Float], classes: Int) throws {
        try self.init(values.map(Double.init), classes: classes)
    }

    /// argmax per row (first maximum on ties, as numpy).
    public func predictions() -> [Int] {
        (0..<count).map { row in
            var best = 0
            for k in 1..<classes where values[row * classes + k] > values[row * classes + best] { best = k }
            return best
        }
    }

    /// softmax(z / temperature) per row, (count, classes) row-major.
    public func probabilities(temperature: Double = 1) -> [Double] {
        var result = [Double](repeating: 0, count: values.count)
        let s = 1 / temperature
        for row in 0..<count {
            let logSumExp = scaledLogSumExp(row: row, inverseTemperature: s)
            for k in 0..<classes {
                result[row * classes + k] = exp(s * values[row * classes + k] - logSumExp)
            }
        }
        return result
    }

    /// log Σ_k exp(s·z_k) for one row, computed stably.
    func scaledLogSumExp(row: Int, inverseTemperature s: Double) -> Double {
        let base = row * classes
        var largest = -Double.infinity
        for k in 0..<classes { largest = max(largest, s * values[base + k]) }
        var sum = 0.0
        for k in 0..<classes { sum += exp(s * values[base + k] - largest) }
        return largest + log(sum)
    }

    /// Throws unless `labels` has one class index in 0..<classes per row.
    func check(labels: [Int]) throws {
        guard count > 0 else { throw MetricsError.empty("logits") }
        guard labels.count == count else {
            throw MetricsError.shape(name: "labels", expected: "one per logit row (\(count))", actual: labels.count)
        }
        if let bad = labels.firstIndex(where: { $0 < 0 || $0 >= classes }) {
            throw MetricsError.labelOutOfRange(name: "labels", index: bad, label: labels[bad], classes: classes)
        }
    }
}

/// Accuracy, macro-F1 and Matthews correlation on predicted and true class indices.
public enum ClassificationMetrics {
    /// Fraction of examples with predicted == label.
    public static func accuracy(predicted: [Int], labels: [Int]) throws -> Double {
        try checkPair(predicted, labels)
        return Double(zip(predicted, labels).filter { $0 == $1 }.count) / Double(labels.count)
    }

    /// scikit-learn's `f1_score(labels, predicted, average="macro", zero_division=0)`: the mean of
    /// per-class F1 = 2TP / (2TP + FP + FN) over the classes present in labels or predictions.
    public static func macroF1(predicted: [Int], labels: [Int]) throws -> Double {
        try checkPair(predicted, labels)
        let present = Set(labels).union(predicted).sorted()
        var total = 0.0
        for c in present {
            var truePositive = 0, falsePositive = 0, falseNegative = 0
            for (p, y) in zip(predicted, labels) {
                if p == c && y == c { truePositive += 1 } else if p == c { falsePositive += 1 } else if y == c { falseNegative += 1 }
            }
            // Never 0/0: every class in `present` occurs as a label or a prediction.
            total += Double(2 * truePositive) / Double(2 * truePositive + falsePositive + falseNegative)
        }
        return total / Double(present.count)
    }

    /// scikit-learn's `matthews_corrcoef` (Gorodkin's multiclass R_K):
    /// (c·s − Σ_k p_k t_k) / √((s² − Σ p_k²)(s² − Σ t_k²)) with c correct, s examples, p_k predicted
    /// and t_k true counts of class k; 0 when the denominator is 0.
    public static func matthewsCorrelation(predicted: [Int], labels: [Int]) throws -> Double {
        try checkPair(predicted, labels)
        var predictedCounts = [Int: Double](), trueCounts = [Int: Double]()
        var correct = 0.0
        for (p, y) in zip(predicted, labels) {
            predictedCounts[p, default: 0] += 1
            trueCounts[y, default: 0] += 1
            if p == y { correct += 1 }
        }
        let samples = Double(labels.count)
        var crossed = 0.0
        for (c, p) in predictedCounts { crossed += p * (trueCounts[c] ?? 0) }
        let predictedSquares = predictedCounts.values.reduce(0) { $0 + $1 * $1 }
        let trueSquares = trueCounts.values.reduce(0) { $0 + $1 * $1 }
        let covariance = correct * samples - crossed
        let denominator = (samples * samples - predictedSquares) * (samples * samples - trueSquares)
        return denominator == 0 ? 0 : covariance / denominator.squareRoot()
    }

    /// counts[y][p]: examples of true class y predicted as p (rows true, columns predicted).
    public static func confusionMatrix(predicted: [Int], labels: [Int], classes: Int) throws -> [[Int]] {
        try checkPair(predicted, labels)
        var counts = [[Int]](repeating: [Int](repeating: 0, count: classes), count: classes)
        for (index, (p, y)) in zip(predicted, labels).enumerated() {
            guard (0..<classes).contains(y) else { throw MetricsError.labelOutOfRange(name: "labels", index: index, label: y, classes: classes) }
            guard (0..<classes).contains(p) else { throw MetricsError.labelOutOfRange(name: "predictions", index: index, label: p, classes: classes) }
            counts[y][p] += 1
        }
        return counts
    }

    /// Per-class precision, recall, F1 and support from a confusion matrix, as scikit-learn's
    /// `precision_recall_fscore_support(..., zero_division=0)`: 0 where a ratio is 0/0.
    public static func perClass(confusion: [[Int]]) -> [ClassScores] {
        confusion.indices.map { c in
            let truePositive = Double(confusion[c][c])
            let predicted = Double(confusion.reduce(0) { $0 + $1[c] }), actual = Double(confusion[c].reduce(0, +))
            let precision = predicted > 0 ? truePositive / predicted : 0
            let recall = actual > 0 ? truePositive / actual : 0
            let f1 = predicted + actual > 0 ? 2 * truePositive / (predicted + actual) : 0
            return ClassScores(precision: precision, recall: recall, f1: f1, support: Int(actual))
        }
    }

    private static func checkPair(_ predicted: [Int], _ labels: [Int]) throws {
        guard !labels.isEmpty else { throw MetricsError.empty("labels") }
        guard predicted.count == labels.count else {
            throw MetricsError.shape(name: "predictions", expected: "one per label (\(labels.count))", actual: predicted.count)
        }
    }
}

/// Precision, recall and F1 of one class, and its number of true examples.
public struct ClassScores: Codable, Sendable, Equatable {
    public var precision: Double
    public var recall: Double
    public var f1: Double
    public var support: Int

    public init(precision: Double, recall: Double, f1: Double, support: Int) {
        self.precision = precision
        self.recall = recall
        self.f1 = f1
        self.support = support
    }
}
