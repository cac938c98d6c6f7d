import Foundation

/// Calibration metrics on softmax(logits / T).
public enum CalibrationMetrics {
    /// The paper's bin count for ECE and MCE.
    public static let defaultBins = 15

    /// Expected and maximum calibration error on the max-softmax confidence c_i with `bins`
    /// equal-width bins: bin b holds b/B < c ≤ (b+1)/B (boundaries as numpy.linspace(0, 1, B+1),
    /// the common Guo et al. implementation).
    /// ECE = Σ_b (n_b/N)·|acc_b − conf_b|; MCE = max over non-empty bins of |acc_b − conf_b|.
    /// The prediction is the first argmax.
    public static func calibrationErrors(logits: Logits, labels: [Int], temperature: Double = 1,
                                         bins: Int = defaultBins) throws -> (expected: Double, maximum: Double) {
        try logits.check(labels: labels)
        try checkTemperature(temperature)
        guard bins >= 1 else { throw MetricsError.undefined("calibration needs at least one bin; got \(bins).") }
        let step = 1 / Double(bins)
        var boundaries = (0...bins).map { Double($0) * step }
        boundaries[bins] = 1
        var counts = [Double](repeating: 0, count: bins)
        var confidenceSums = counts, correctSums = counts
        let predictions = logits.predictions()
        let s = 1 / temperature
        for row in 0..<logits.count {
            // max softmax = exp(s·z_max − logsumexp(s·z)).
            let confidence = exp(s * logits.values[row * logits.classes + predictions[row]]
                                 - logits.scaledLogSumExp(row: row, inverseTemperature: s))
            guard let bin = (0..<bins).first(where: { confidence > boundaries[$0] && confidence <= boundaries[$0 + 1] })
            else { continue }  // unreachable: confidence ∈ [1/K, 1]
            counts[bin] += 1
            confidenceSums[bin] += confidence
            if predictions[row] == labels[row] { correctSums[bin] += 1 }
        }
        var expected = 0.0, maximum = 0.0
        for bin in 0..<bins where counts[bin] > 0 {
            let gap = abs(correctSums[bin] / counts[bin] - confidenceSums[bin] / counts[bin])
            expected += counts[bin] / Double(logits.count) * gap
            maximum = max(maximum, gap)
        }
        return (expected, maximum)
    }

    /// Multi-class Brier score: mean over examples of Σ_k (p_k − onehot(y)_k)², the paper's "mean
    /// squared error to one-hot" (scikit-learn's `brier_score_loss(..., scale_by_half=False)`;
    /// twice the binary Brier score for K = 2).
    public static func brierScore(logits: Logits, labels: [Int], temperature: Double = 1) throws -> Double {
        try logits.check(labels: labels)
        try checkTemperature(temperature)
        let probabilities = logits.probabilities(temperature: temperature)
        var total = 0.0
        for row in 0..<logits.count {
            for k in 0..<logits.classes {
                let difference = probabilities[row * logits.classes + k] - (k == labels[row] ? 1 : 0)
                total += difference * difference
            }
        }
        return total / Double(logits.count)
    }

    /// Mean negative log-likelihood −log softmax(z/T)_y (natural log), computed as logsumexp − z_y.
    public static func negativeLogLikelihood(logits: Logits, labels: [Int], temperature: Double = 1) throws -> Double {
        try logits.check(labels: labels)
        try checkTemperature(temperature)
        let s = 1 / temperature
        var total = 0.0
        for row in 0..<logits.count {
            total += logits.scaledLogSumExp(row: row, inverseTemperature: s) - s * logits.values[row * logits.classes + labels[row]]
        }
        return total / Double(logits.count)
    }

    static func checkTemperature(_ temperature: Double) throws {
        guard temperature > 0, temperature.isFinite else {
            throw MetricsError.undefined("temperature \(temperature) must be positive and finite.")
        }
    }
}

/// Temperature scaling (Guo et al. 2017): one T > 0 minimising the NLL of softmax(z / T).
public enum TemperatureScaling {
    /// The fitted temperature is kept in this range: below 1e-4 the data are separated (NLL keeps
    /// falling as T → 0); above 1e4 the logits carry no signal (NLL falls as T → ∞).
    public static let range: ClosedRange<Double> = 1e-4...1e4

    /// The T in `range` minimising mean NLL(softmax(z/T), y).
    ///
    /// With s = 1/T, NLL(s) = mean_i [logsumexp(s·z_i) − s·z_{i,y}] is convex, with
    /// NLL′(s) = mean_i (E_{p_i}[z_i] − z_{i,y}) and NLL″(s) = mean_i Var_{p_i}(z_i) ≥ 0, so the
    /// optimum is the root of NLL′: found by Newton's method safeguarded by a bracket that is
    /// bisected in log s, to a relative precision of 1e-12 in T.
    public static func fit(logits: Logits, labels: [Int]) throws -> Double {
        try logits.check(labels: labels)
        var low = 1 / range.upperBound, high = 1 / range.lowerBound  // in s
        if derivatives(logits, labels, low).first >= 0 { return range.upperBound }
        if derivatives(logits, labels, high).first <= 0 { return range.lowerBound }
        var s = 1.0  // T = 1 is inside the bracket
        var previousSlope = Double.infinity
        for _ in 0..<400 {
            let (slope, curvature) = derivatives(logits, labels, s)
            if slope == 0 { break }
            if slope < 0 { low = s } else { high = s }
            if high / low - 1 <= 1e-12 { s = (low * high).squareRoot(); break }
            // Newton when it lands inside the bracket and the slope at least halved; else bisect.
            let newton = s - slope / curvature
            let next = newton > low && newton < high && abs(slope) <= 0.5 * previousSlope
                ? newton : (low * high).squareRoot()
            previousSlope = abs(slope)
            if abs(next - s) <= 1e-12 * s { s = next; break }
            s = next
        }
        return 1 / s
    }

    /// NLL′(s) and NLL″(s) at inverse temperature s.
    static func derivatives(_ logits: Logits, _ labels: [Int], _ s: Double) -> (first: Double, second: Double) {
        var first = 0.0, second = 0.0
        let classes = logits.classes
        logits.values.withUnsafeBufferPointer { z in
            for row in 0..<logits.count {
                let base = row * classes
                let logSumExp = logits.scaledLogSumExp(row: row, inverseTemperature: s)
                var mean = 0.0
                for k in 0..<classes { mean += exp(s * z[base + k] - logSumExp) * z[base + k] }
                var variance = 0.0
                for k in 0..<classes {
                    let deviation = z[base + k] - mean
                    variance += exp(s * z[base + k] - logSumExp) * deviation * deviation
                }
                first += mean - z[base + labels[row]]
                second += variance
            }
        }
        return (first / Double(logits.count), second / Double(logits.count))
    }
}

/// The paper's calibration table row: metrics on test logits before and after temperature scaling.
/// Accuracy, F1 and MCC do not depend on T > 0 (the argmax is unchanged).
public struct CalibrationReport: Codable, Sendable, Equatable {
    public var accuracy: Double
    /// Macro-F1.
    public var f1: Double
    /// Matthews correlation (the paper's CoLA metric).
    public var mcc: Double
    public var ece: Double
    public var mce: Double
    /// Multi-class Brier score, Σ_k over classes (see `CalibrationMetrics.brierScore`).
    public var brier: Double
    public var nll: Double
    public var eceScaled: Double
    public var mceScaled: Double
    public var brierScaled: Double
    public var nllScaled: Double
    public var temperature: Double

    private enum CodingKeys: String, CodingKey {
        case accuracy, f1, mcc, ece, mce, brier, nll, temperature
        case eceScaled = "ece_ts", mceScaled = "mce_ts", brierScaled = "brier_ts", nllScaled = "nll_ts"
    }

    /// Metrics of `logits` against `labels` at T = 1 and at the given temperature.
    public init(logits: Logits, labels: [Int], temperature: Double) throws {
        try logits.check(labels: labels)
        let predicted = logits.predictions()
        accuracy = try ClassificationMetrics.accuracy(predicted: predicted, labels: labels)
        f1 = try ClassificationMetrics.macroF1(predicted: predicted, labels: labels)
        mcc = try ClassificationMetrics.matthewsCorrelation(predicted: predicted, labels: labels)
        (ece, mce) = try CalibrationMetrics.calibrationErrors(logits: logits, labels: labels)
        brier = try CalibrationMetrics.brierScore(logits: logits, labels: labels)
        nll = try CalibrationMetrics.negativeLogLikelihood(logits: logits, labels: labels)
        (eceScaled, mceScaled) = try CalibrationMetrics.calibrationErrors(logits: logits, labels: labels, temperature: temperature)
        brierScaled = try CalibrationMetrics.brierScore(logits: logits, labels: labels, temperature: temperature)
        nllScaled = try CalibrationMetrics.negativeLogLikelihood(logits: logits, labels: labels, temperature: temperature)
        self.temperature = temperature
    }

    /// Fits T on the validation logits, then reports the test metrics with and without it.
    public static func evaluate(test: Logits, testLabels: [Int],
                                validation: Logits, validationLabels: [Int]) throws -> CalibrationReport {
        guard validation.classes == test.classes else {
            throw MetricsError.shape(name: "validation logits", expected: "\(test.classes) classes like the test logits",
                                     actual: validation.classes)
        }
        let temperature = try TemperatureScaling.fit(logits: validation, labels: validationLabels)
        return try CalibrationReport(logits: test, labels: testLabels, temperature: temperature)
    }
}
