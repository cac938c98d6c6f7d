import Foundation

/// A reliability diagram: per confidence bin, how many examples fall in it, their accuracy and
/// their mean max-softmax confidence at temperature T. The bins are those of
/// `CalibrationMetrics.calibrationErrors` (bin b holds b/B < c ≤ (b+1)/B), so
/// Σ_b (count_b/N)·|accuracy_b − confidence_b| is its ECE. Empty bins have accuracy and
/// confidence 0.
public struct ReliabilityDiagram: Codable, Sendable, Equatable {
    public var temperature: Double
    public var counts: [Int]
    public var accuracy: [Double]
    public var confidence: [Double]

    public init(logits: Logits, labels: [Int], temperature: Double = 1,
                bins: Int = CalibrationMetrics.defaultBins) throws {
        try logits.check(labels: labels)
        try CalibrationMetrics.checkTemperature(temperature)
        guard bins >= 1 else { throw MetricsError.undefined("a reliability diagram needs at least one bin; got \(bins).") }
        var counts = [Int](repeating: 0, count: bins)
        var correct = [Double](repeating: 0, count: bins), confidenceSums = correct
        let predictions = logits.predictions()
        let s = 1 / temperature
        for row in 0..<logits.count {
            let confidence = exp(s * logits.values[row * logits.classes + predictions[row]]
                                 - logits.scaledLogSumExp(row: row, inverseTemperature: s))
            let bin = Self.bin(of: confidence, bins: bins)
            counts[bin] += 1
            confidenceSums[bin] += confidence
            if predictions[row] == labels[row] { correct[bin] += 1 }
        }
        self.temperature = temperature
        self.counts = counts
        accuracy = (0..<bins).map { counts[$0] > 0 ? correct[$0] / Double(counts[$0]) : 0 }
        confidence = (0..<bins).map { counts[$0] > 0 ? confidenceSums[$0] / Double(counts[$0]) : 0 }
    }

    /// The bin b with b/B < c ≤ (b+1)/B, boundaries as in `calibrationErrors`.
    static func bin(of confidence: Double, bins: Int) -> Int {
        let step = 1 / Double(bins)
        for b in 0..<bins where confidence <= (b + 1 == bins ? 1 : Double(b + 1) * step) { return b }
        return bins - 1
    }

    /// Σ_b (count_b/N)·|accuracy_b − confidence_b|.
    public var expectedCalibrationError: Double {
        let total = counts.reduce(0, +)
        guard total > 0 else { return 0 }
        return counts.indices.reduce(0) { $0 + Double(counts[$1]) / Double(total) * abs(accuracy[$1] - confidence[$1]) }
    }
}
