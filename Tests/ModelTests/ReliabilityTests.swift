import XCTest
@testable import Model

final class ReliabilityTests: XCTestCase {
    /// Four binary examples with exact probabilities (as in MetricsTests):
    /// z = (0, ln 3) → max p = 3/4 (label 1: correct; label 0: wrong), z = (ln 9, 0) → 9/10
    /// (correct), z = (0, 0) → 1/2 (first argmax 0, correct).
    func testBinsByHand() throws {
        let logits = try Logits([0, log(3), 0, log(3), log(9), 0, 0, 0] as [Double], classes: 2)
        let diagram = try ReliabilityDiagram(logits: logits, labels: [1, 0, 0, 0])
        // 15 bins of width 1/15: 3/4·15 = 11.25 → bin 11; 9/10·15 = 13.5 → bin 13; 1/2·15 = 7.5 → bin 7.
        var counts = [Int](repeating: 0, count: 15)
        counts[11] = 2; counts[13] = 1; counts[7] = 1
        XCTAssertEqual(diagram.counts, counts)
        XCTAssertEqual(diagram.accuracy[11], 0.5)
        XCTAssertEqual(diagram.accuracy[13], 1)
        XCTAssertEqual(diagram.accuracy[7], 1)
        XCTAssertEqual(diagram.confidence[11], 0.75, accuracy: 1e-15)
        XCTAssertEqual(diagram.confidence[13], 0.9, accuracy: 1e-15)
        XCTAssertEqual(diagram.confidence[7], 0.5, accuracy: 1e-15)
        XCTAssertEqual(diagram.accuracy[0], 0)
        // ECE = 2/4·|0.5 − 0.75| + 1/4·|1 − 0.9| + 1/4·|1 − 0.5| = 0.275.
        XCTAssertEqual(diagram.expectedCalibrationError, 0.275, accuracy: 1e-15)
    }

    /// The bins reproduce calibrationErrors' ECE on random 3-class logits, before and after
    /// a temperature, and their counts add up to the examples.
    func testECEOfBinsEqualsCalibrationErrors() throws {
        var rng = RandomGenerator(seed: 11)
        let n = 500, classes = 3
        let values = (0..<(n * classes)).map { _ in 3 * rng.nextGaussian() }
        let labels = (0..<n).map { _ in rng.uniform(below: classes) }
        let logits = try Logits(values, classes: classes)
        for temperature in [1.0, 1.7, 0.4] {
            let diagram = try ReliabilityDiagram(logits: logits, labels: labels, temperature: temperature)
            let (ece, mce) = try CalibrationMetrics.calibrationErrors(logits: logits, labels: labels, temperature: temperature)
            XCTAssertEqual(diagram.counts.reduce(0, +), n)
            XCTAssertEqual(diagram.expectedCalibrationError, ece, accuracy: 1e-12, "T = \(temperature)")
            let gaps = diagram.counts.indices.filter { diagram.counts[$0] > 0 }.map { abs(diagram.accuracy[$0] - diagram.confidence[$0]) }
            XCTAssertEqual(gaps.max() ?? -1, mce, accuracy: 1e-12, "T = \(temperature)")
        }
    }

    func testBadTemperatureThrows() throws {
        let logits = try Logits([0, 1] as [Double], classes: 2)
        XCTAssertThrowsError(try ReliabilityDiagram(logits: logits, labels: [1], temperature: 0))
        XCTAssertThrowsError(try ReliabilityDiagram(logits: logits, labels: [2]))
    }
}
