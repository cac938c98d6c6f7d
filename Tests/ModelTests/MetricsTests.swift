import XCTest
@testable import Model

/// Double logits from literals (the Float overload makes bare literals ambiguous).
private func makeLogits(_ values: [Double], classes: Int) throws -> Logits { try Logits(values, classes: classes) }

final class MetricsTests: XCTestCase {
    // Four binary examples with probabilities chosen to be exact fractions:
    //   z = (0, ln 3) → p = (1/4, 3/4);  z = (ln 9, 0) → p = (9/10, 1/10);  z = (0, 0) → p = (1/2, 1/2).
    // labels 1, 0, 0, 0. Predictions (first argmax): 1, 1, 0, 0 → correct, wrong, correct, correct.
    private let handLogits: [Double] = [0, log(3), 0, log(3), log(9), 0, 0, 0]
    private let handLabels = [1, 0, 0, 0]

    func testAccuracyBrierAndNLLByHand() throws {
        let logits = try Logits(handLogits, classes: 2)
        XCTAssertEqual(logits.predictions(), [1, 1, 0, 0])
        XCTAssertEqual(try ClassificationMetrics.accuracy(predicted: logits.predictions(), labels: handLabels), 0.75)
        // Brier: (1/4)²+(1/4)² = 1/8; (3/4)²+(3/4)² = 9/8; (1/10)²+(1/10)² = 1/50; (1/2)²+(1/2)² = 1/2
        // → (0.125 + 1.125 + 0.02 + 0.5) / 4 = 0.4425.
        XCTAssertEqual(try CalibrationMetrics.brierScore(logits: logits, labels: handLabels), 0.4425, accuracy: 1e-15)
        // NLL: (ln 4/3 + ln 4 + ln 10/9 + ln 2) / 4 = ln(320/27) / 4.
        XCTAssertEqual(try CalibrationMetrics.negativeLogLikelihood(logits: logits, labels: handLabels),
                       log(320.0 / 27.0) / 4, accuracy: 1e-15)
        // With T = 2 the first example has z/T = (0, ln √3): p = (1/(1+√3), √3/(1+√3)).
        let scaled = try CalibrationMetrics.negativeLogLikelihood(logits: try makeLogits(Array(handLogits[0..<2]), classes: 2),
                                                                  labels: [1], temperature: 2)
        XCTAssertEqual(scaled, -log(3.0.squareRoot() / (1 + 3.0.squareRoot())), accuracy: 1e-15)
    }

    func testCalibrationErrorsByHand() throws {
        let logits = try Logits(handLogits, classes: 2)
        // Confidences 0.75, 0.75, 0.9, 0.5 → bins (11/15, 12/15], (11/15, 12/15], (13/15, 14/15], (7/15, 8/15].
        // bin 11: n = 2, accuracy 1/2, confidence 3/4 → gap 1/4, weight 2/4 → 1/8
        // bin 13: n = 1, accuracy 1, confidence 9/10 → gap 1/10, weight 1/4 → 1/40
        // bin 7:  n = 1, accuracy 1, confidence 1/2 → gap 1/2, weight 1/4 → 1/8
        // ECE = 1/8 + 1/40 + 1/8 = 0.275; MCE = 1/2.
        let (ece, mce) = try CalibrationMetrics.calibrationErrors(logits: logits, labels: handLabels)
        XCTAssertEqual(ece, 0.275, accuracy: 1e-15)
        XCTAssertEqual(mce, 0.5, accuracy: 1e-15)
        // Confidence exactly 1 belongs to the last bin (14/15, 1]: a wrong sure prediction has gap 1.
        let sure = try makeLogits([0, 1000], classes: 2)
        let wrong = try CalibrationMetrics.calibrationErrors(logits: sure, labels: [0])
        XCTAssertEqual(wrong.expected, 1)
        XCTAssertEqual(wrong.maximum, 1)
        XCTAssertEqual(try CalibrationMetrics.calibrationErrors(logits: sure, labels: [1]).expected, 0)
    }

    func testMacroF1AndMCCByHand() throws {
        // labels [0,0,1,1,2], predicted [0,1,1,1,3]; classes in either: {0,1,2,3}.
        // F1_0 = 2·1/(2·1+0+1) = 2/3; F1_1 = 2·2/(2·2+1+0) = 4/5; F1_2 = 0; F1_3 = 0 → macro = 11/30.
        let labels = [0, 0, 1, 1, 2], predicted = [0, 1, 1, 1, 3]
        XCTAssertEqual(try ClassificationMetrics.macroF1(predicted: predicted, labels: labels), 11.0 / 30.0, accuracy: 1e-15)
        // s = 5, c = 3, t = (2, 2, 1, 0), p = (1, 3, 0, 1): Σ p·t = 2 + 6 = 8, cov = 15 − 8 = 7,
        // s² − Σp² = 25 − 11 = 14, s² − Σt² = 25 − 9 = 16 → MCC = 7 / √(14·16).
        XCTAssertEqual(try ClassificationMetrics.matthewsCorrelation(predicted: predicted, labels: labels),
                       7 / (14.0 * 16).squareRoot(), accuracy: 1e-15)
        // A constant predictor makes s² − Σp² = 0: MCC is defined as 0.
        XCTAssertEqual(try ClassificationMetrics.matthewsCorrelation(predicted: [1, 1, 1], labels: [0, 1, 2]), 0)
        // Binary check with the textbook formula (TP·TN − FP·FN)/√(...): TP 2, TN 1, FP 1, FN 0 → 2/√(3·2·2·1).
        XCTAssertEqual(try ClassificationMetrics.matthewsCorrelation(predicted: [1, 1, 1, 0], labels: [1, 1, 0, 0]),
                       2 / 12.0.squareRoot(), accuracy: 1e-15)
    }

    func testMetricsMatchScikitLearnOnRandomCase() throws {
        let reference = try SklearnFixture.load().metrics
        let logits = try Logits(reference.logits, classes: reference.classes)
        let predicted = logits.predictions()
        XCTAssertEqual(predicted, reference.predicted)
        XCTAssertEqual(try ClassificationMetrics.accuracy(predicted: predicted, labels: reference.labels), reference.accuracy, accuracy: 1e-15)
        XCTAssertEqual(try ClassificationMetrics.macroF1(predicted: predicted, labels: reference.labels), reference.macro_f1, accuracy: 1e-14)
        XCTAssertEqual(try ClassificationMetrics.matthewsCorrelation(predicted: predicted, labels: reference.labels), reference.mcc, accuracy: 1e-14)
        XCTAssertEqual(try CalibrationMetrics.negativeLogLikelihood(logits: logits, labels: reference.labels), reference.nll, accuracy: 1e-12)
        XCTAssertEqual(try CalibrationMetrics.brierScore(logits: logits, labels: reference.labels), reference.brier, accuracy: 1e-12)
        // ECE/MCE reference: the script's numpy port of the common _ECELoss.
        let (ece, mce) = try CalibrationMetrics.calibrationErrors(logits: logits, labels: reference.labels)
        XCTAssertEqual(ece, reference.ece, accuracy: 1e-12)
        XCTAssertEqual(mce, reference.mce, accuracy: 1e-12)
    }

    /// Labels drawn from softmax(z); returns (5·z, labels).
    private func overconfidentSample(count: Int, classes: Int, scale: Double, factor: Double, seed: UInt64) -> ([Double], [Int]) {
        var random = RandomGenerator(seed: seed)
        var logits = [Double](), labels = [Int]()
        for _ in 0..<count {
            let z = (0..<classes).map { _ in scale * random.nextGaussian() }
            let m = z.max()!
            let weights = z.map { exp($0 - m) }
            var u = random.nextDouble() * weights.reduce(0, +), label = 0
            while label < classes - 1 && u >= weights[label] { u -= weights[label]; label += 1 }
            labels.append(label)
            logits += z.map { factor * $0 }
        }
        return (logits, labels)
    }

    func testTemperatureRecoversKnownOverconfidence() throws {
        // Labels sampled from softmax(z), logits given as 5·z: the NLL-optimal temperature is 5 in the
        // limit; with N = 20,000 its sampling s.d. is ≈ 0.03 (Fisher information of 1/T).
        let (values, labels) = overconfidentSample(count: 20_000, classes: 4, scale: 1.5, factor: 5, seed: 2024)
        let logits = try Logits(values, classes: 4)
        let temperature = try TemperatureScaling.fit(logits: logits, labels: labels)
        XCTAssertEqual(temperature, 5, accuracy: 0.15)
        try assertStationary(logits: logits, labels: labels, temperature: temperature)
    }

    func testTemperatureIsStationaryForHugeLogits() throws {
        // LP heads give logit norms in the 100s: z·100 with labels from softmax(z) → T ≈ 100, finite, NLL minimal.
        let (values, labels) = overconfidentSample(count: 2_000, classes: 3, scale: 2, factor: 100, seed: 77)
        let logits = try Logits(values, classes: 3)
        XCTAssertGreaterThan(try FeatureStatistics.meanLogitNorm(logits), 100)
        let temperature = try TemperatureScaling.fit(logits: logits, labels: labels)
        XCTAssertEqual(temperature, 100, accuracy: 15)
        try assertStationary(logits: logits, labels: labels, temperature: temperature)
        let report = try CalibrationReport.evaluate(test: logits, testLabels: labels, validation: logits, validationLabels: labels)
        XCTAssertLessThanOrEqual(report.nllScaled, report.nll)
        XCTAssertLessThan(report.eceScaled, report.ece)
        XCTAssertEqual(report.temperature, temperature)
    }

    private func assertStationary(logits: Logits, labels: [Int], temperature: Double,
                                  file: StaticString = #filePath, line: UInt = #line) throws {
        func nll(_ t: Double) throws -> Double {
            try CalibrationMetrics.negativeLogLikelihood(logits: logits, labels: labels, temperature: t)
        }
        let h = 1e-4 * temperature
        let derivative = (try nll(temperature + h) - nll(temperature - h)) / (2 * h)
        XCTAssertEqual(derivative * temperature, 0, accuracy: 1e-8, "dNLL/dlogT", file: file, line: line)
        XCTAssertLessThanOrEqual(try nll(temperature), try nll(1), file: file, line: line)
        XCTAssertLessThan(try nll(temperature), try nll(temperature * 1.01), file: file, line: line)
        XCTAssertLessThan(try nll(temperature), try nll(temperature / 1.01), file: file, line: line)
    }

    func testTemperatureAtRangeEndsForSeparatedOrUninformativeLogits() throws {
        // Every prediction right: NLL keeps falling as T → 0.
        XCTAssertEqual(try TemperatureScaling.fit(logits: makeLogits([2, 0, 0, 3], classes: 2), labels: [0, 1]),
                       TemperatureScaling.range.lowerBound)
        // Every prediction wrong: NLL keeps falling as T → ∞.
        XCTAssertEqual(try TemperatureScaling.fit(logits: makeLogits([2, 0, 0, 3], classes: 2), labels: [1, 0]),
                       TemperatureScaling.range.upperBound)
    }

    func testCalibrationReportJSONKeys() throws {
        let report = try CalibrationReport(logits: Logits(handLogits, classes: 2), labels: handLabels, temperature: 2)
        XCTAssertEqual(report.ece, 0.275, accuracy: 1e-15)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: JSONEncoder().encode(report)) as? [String: Double])
        XCTAssertEqual(Set(object.keys), ["accuracy", "f1", "mcc", "ece", "mce", "brier", "nll",
                                          "ece_ts", "mce_ts", "brier_ts", "nll_ts", "temperature"])
        XCTAssertEqual(object["temperature"], 2)
        XCTAssertEqual(object["nll_ts"], report.nllScaled)
    }

    func testFeatureStatisticsByHand() throws {
        // Diff: before (0,0),(1,1); after (3,4),(1,2) → norms 5 and 1 → 3.
        XCTAssertEqual(try FeatureStatistics.meanFeatureChange(before: [0, 0, 1, 1], after: [3, 4, 1, 2], count: 2, dimension: 2), 3)
        // CS: (1,0), (0,2), (3,3): cosines 0, 1/√2, 1/√2 over 3 pairs → √2/3.
        XCTAssertEqual(try FeatureStatistics.meanPairwiseCosine(features: [1, 0, 0, 2, 3, 3], count: 3, dimension: 2),
                       2.0.squareRoot() / 3, accuracy: 1e-15)
        // A zero row adds 3 pairs of cosine 0: √2 / 6.
        XCTAssertEqual(try FeatureStatistics.meanPairwiseCosine(features: [1, 0, 0, 2, 3, 3, 0, 0], count: 4, dimension: 2),
                       2.0.squareRoot() / 6, accuracy: 1e-15)
        // FDR: class 0 = (0,0),(2,0) mean (1,0); class 1 = (4,4),(4,6) mean (4,5); overall (2.5,2.5).
        // between = 2·(1.5² + 2.5²) + 2·(1.5² + 2.5²) = 34; within = 1 + 1 + 1 + 1 = 4 → 8.5.
        XCTAssertEqual(try FeatureStatistics.fisherDiscriminantRatio(features: [0, 0, 2, 0, 4, 4, 4, 6], count: 4, dimension: 2,
                                                                      labels: [0, 0, 1, 1], classes: 3), 8.5, accuracy: 1e-15)
        // Logit norms 5, 0, 10 → 5.
        XCTAssertEqual(try FeatureStatistics.meanLogitNorm(makeLogits([3, 4, 0, 0, -6, 8], classes: 2)), 5)
    }

    func testMeanPairwiseCosineEqualsExplicitPairs() throws {
        var random = RandomGenerator(seed: 3)
        let count = 13, dimension = 7
        let features = (0..<count * dimension).map { _ in Float(random.nextGaussian() + 0.3) }
        var total = 0.0
        for i in 0..<count {
            for j in (i + 1)..<count {
                var dot = 0.0, a = 0.0, b = 0.0
                for d in 0..<dimension {
                    let x = Double(features[i * dimension + d]), y = Double(features[j * dimension + d])
                    dot += x * y; a += x * x; b += y * y
                }
                total += dot / (a * b).squareRoot()
            }
        }
        XCTAssertEqual(try FeatureStatistics.meanPairwiseCosine(features: features, count: count, dimension: dimension),
                       total / Double(count * (count - 1) / 2), accuracy: 1e-13)
    }

    func testBadInputThrowsNamedErrors() {
        XCTAssertThrowsError(try makeLogits([1, 2, 3], classes: 2)) {
            XCTAssertEqual($0 as? MetricsError, .shape(name: "logits", expected: "a multiple of classes = 2", actual: 3))
        }
        XCTAssertThrowsError(try makeLogits([1, Double.infinity], classes: 2)) {
            XCTAssertEqual($0 as? MetricsError, .nonFinite(name: "logits", index: 1))
        }
        XCTAssertThrowsError(try CalibrationMetrics.brierScore(logits: makeLogits([1, 2], classes: 2), labels: [2])) {
            XCTAssertEqual($0 as? MetricsError, .labelOutOfRange(name: "labels", index: 0, label: 2, classes: 2))
        }
        XCTAssertThrowsError(try CalibrationMetrics.negativeLogLikelihood(logits: makeLogits([1, 2], classes: 2), labels: [0, 1])) {
            XCTAssertEqual($0 as? MetricsError, .shape(name: "labels", expected: "one per logit row (1)", actual: 2))
        }
        XCTAssertThrowsError(try CalibrationMetrics.brierScore(logits: makeLogits([1, 2], classes: 2), labels: [0], temperature: 0))
        XCTAssertThrowsError(try TemperatureScaling.fit(logits: makeLogits([], classes: 2), labels: [])) {
            XCTAssertEqual($0 as? MetricsError, .empty("logits"))
        }
        XCTAssertThrowsError(try FeatureStatistics.fisherDiscriminantRatio(features: [1, 1, 1, 1], count: 2, dimension: 2,
                                                                            labels: [0, 1], classes: 2)) {
            XCTAssertNotNil(($0 as? LocalizedError)?.errorDescription?.range(of: "within-class scatter is zero"))
        }
        XCTAssertThrowsError(try FeatureStatistics.meanFeatureChange(before: [0, 0], after: [0, 0, 0], count: 1, dimension: 2))
    }

    /// Confusion matrix and per-class scores as scikit-learn's confusion_matrix and
    /// precision_recall_fscore_support(zero_division=0) give them (values worked by hand).
    func testConfusionMatrixAndPerClassScores() throws {
        let labels = [0, 0, 0, 1, 1, 2, 2, 2], predicted = [0, 1, 0, 1, 0, 1, 1, 1]
        let confusion = try ClassificationMetrics.confusionMatrix(predicted: predicted, labels: labels, classes: 4)
        XCTAssertEqual(confusion, [[2, 1, 0, 0], [1, 1, 0, 0], [0, 3, 0, 0], [0, 0, 0, 0]])
        let scores = ClassificationMetrics.perClass(confusion: confusion)
        XCTAssertEqual(scores[0], ClassScores(precision: 2.0 / 3, recall: 2.0 / 3, f1: 2.0 / 3, support: 3))
        XCTAssertEqual(scores[1].precision, 0.2, accuracy: 1e-15)
        XCTAssertEqual(scores[1].recall, 0.5)
        XCTAssertEqual(scores[1].f1, 2 * 1.0 / 7, accuracy: 1e-15)
        XCTAssertEqual(scores[2], ClassScores(precision: 0, recall: 0, f1: 0, support: 3), "never predicted: 0/0 → 0")
        XCTAssertEqual(scores[3], ClassScores(precision: 0, recall: 0, f1: 0, support: 0))
        XCTAssertThrowsError(try ClassificationMetrics.confusionMatrix(predicted: [0, 5], labels: [0, 1], classes: 2))
    }
}
