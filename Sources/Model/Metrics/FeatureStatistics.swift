import Foundation

/// The paper's feature statistics on (count, dimension) row-major Float feature matrices,
/// accumulated in Double.
public enum FeatureStatistics {
    /// Diff(F) = mean_i ‖after_i − before_i‖₂: how far fine-tuning moved each example's feature.
    public static func meanFeatureChange(before: [Float], after: [Float], count: Int, dimension: Int) throws -> Double {
        try checkShape(before, count: count, dimension: dimension, name: "features before")
        try checkShape(after, count: count, dimension: dimension, name: "features after")
        var total = 0.0
        before.withUnsafeBufferPointer { a in
            after.withUnsafeBufferPointer { b in
                for row in 0..<count {
                    var squared = 0.0
                    for j in row * dimension..<(row + 1) * dimension {
                        let difference = Double(b[j]) - Double(a[j])
                        squared += difference * difference
                    }
                    total += squared.squareRoot()
                }
            }
        }
        return total / Double(count)
    }

    /// CS(F) = mean cosine similarity over the N(N−1)/2 pairs i < j (i = j excluded).
    ///
    /// With unit rows u_i = x_i/‖x_i‖: Σ_{i<j} u_i·u_j = (‖Σ_i u_i‖² − Σ_i ‖u_i‖²) / 2, so no N×N Gram
    /// matrix is needed (O(N·D)). A zero row has cosine 0 with every other row (as
    /// scikit-learn's `cosine_similarity`, which leaves zero rows unnormalised).
    public static func meanPairwiseCosine(features: [Float], count: Int, dimension: Int) throws -> Double {
        try checkShape(features, count: count, dimension: dimension, name: "features")
        guard count >= 2 else { throw MetricsError.undefined("mean pairwise cosine needs at least 2 examples; got \(count).") }
        var sum = [Double](repeating: 0, count: dimension)
        var unitRows = 0.0  // Σ‖u_i‖²: 1 per non-zero row
        features.withUnsafeBufferPointer { x in
            for row in 0..<count {
                let base = row * dimension
                var squared = 0.0
                for j in 0..<dimension { squared += Double(x[base + j]) * Double(x[base + j]) }
                guard squared > 0 else { continue }
                let inverseNorm = 1 / squared.squareRoot()
                for j in 0..<dimension { sum[j] += Double(x[base + j]) * inverseNorm }
                unitRows += 1
            }
        }
        let sumSquared = sum.reduce(0) { $0 + $1 * $1 }
        let pairs = Double(count) * Double(count - 1) / 2
        return (sumSquared - unitRows) / 2 / pairs
    }

    /// FDR(F) = tr(S_between) / tr(S_within), with
    /// tr(S_between) = Σ_k n_k ‖μ_k − μ‖² and tr(S_within) = Σ_i ‖x_i − μ_{y_i}‖²
    /// (μ the overall mean, μ_k the class means; classes without examples contribute nothing).
    public static func fisherDiscriminantRatio(features: [Float], count: Int, dimension: Int,
                                               labels: [Int], classes: Int) throws -> Double {
        try checkShape(features, count: count, dimension: dimension, name: "features")
        guard labels.count == count else {
            throw MetricsError.shape(name: "labels", expected: "one per feature row (\(count))", actual: labels.count)
        }
        if let bad = labels.firstIndex(where: { $0 < 0 || $0 >= classes }) {
            throw MetricsError.labelOutOfRange(name: "labels", index: bad, label: labels[bad], classes: classes)
        }
        var classSums = [Double](repeating: 0, count: classes * dimension)
        var classCounts = [Double](repeating: 0, count: classes)
        features.withUnsafeBufferPointer { x in
            for row in 0..<count {
                let k = labels[row]
                classCounts[k] += 1
                for j in 0..<dimension { classSums[k * dimension + j] += Double(x[row * dimension + j]) }
            }
        }
        var mean = [Double](repeating: 0, count: dimension)
        for k in 0..<classes { for j in 0..<dimension { mean[j] += classSums[k * dimension + j] } }
        for j in 0..<dimension { mean[j] /= Double(count) }
        var classMeans = classSums
        for k in 0..<classes where classCounts[k] > 0 {
            for j in 0..<dimension { classMeans[k * dimension + j] /= classCounts[k] }
        }
        var between = 0.0
        for k in 0..<classes where classCounts[k] > 0 {
            var squared = 0.0
            for j in 0..<dimension {
                let difference = classMeans[k * dimension + j] - mean[j]
                squared += difference * difference
            }
            between += classCounts[k] * squared
        }
        var within = 0.0
        features.withUnsafeBufferPointer { x in
            for row in 0..<count {
                let k = labels[row]
                for j in 0..<dimension {
                    let difference = Double(x[row * dimension + j]) - classMeans[k * dimension + j]
                    within += difference * difference
                }
            }
        }
        guard within > 0 else {
            throw MetricsError.undefined("Fisher discriminant ratio is undefined: the within-class scatter is zero (every example equals its class mean).")
        }
        return between / within
    }

    /// Mean over examples of the logit vector's Euclidean norm ‖z_i‖₂.
    public static func meanLogitNorm(_ logits: Logits) throws -> Double {
        guard logits.count > 0 else { throw MetricsError.empty("logits") }
        var total = 0.0
        for row in 0..<logits.count {
            var squared = 0.0
            for k in 0..<logits.classes { squared += logits.values[row * logits.classes + k] * logits.values[row * logits.classes + k] }
            total += squared.squareRoot()
        }
        return total / Double(logits.count)
    }

    private static func checkShape(_ features: [Float], count: Int, dimension: Int, name: String) throws {
        guard count >= 1, dimension >= 1 else {
            throw MetricsError.empty("\(name) (count \(count), dimension \(dimension))")
        }
        guard features.count == count * dimension else {
            throw MetricsError.shape(name: name, expected: "count × dimension = \(count) × \(dimension)", actual: features.count)
        }
        if let bad = features.firstIndex(where: { !$0.isFinite }) { throw MetricsError.nonFinite(name: name, index: bad) }
    }
}
