import XCTest
@testable import Model

/// Kernel distance and kernel–label alignment against values worked out by hand.
final class KernelComparisonTests: XCTestCase {
    func testDistanceIsZeroForMultiplesAndOneMinusTheCosineOtherwise() throws {
        let k0: [Double] = [2, 1, 1, 3]
        XCTAssertEqual(try XCTUnwrap(KernelComparison.distance(k0, k0.map { 5 * $0 })), 0, accuracy: 1e-15)
        XCTAssertEqual(try XCTUnwrap(KernelComparison.distance(k0, k0.map { -$0 })), 2, accuracy: 1e-15)
        // ⟨K0, K⟩ = 2·1 + 1·0 + 1·0 + 3·1 = 5; ‖K0‖ = √15, ‖K‖ = √2 → d = 1 − 5/√30.
        let k: [Double] = [1, 0, 0, 1]
        XCTAssertEqual(try XCTUnwrap(KernelComparison.distance(k0, k)), 1 - 5 / 30.0.squareRoot(), accuracy: 1e-15)
        XCTAssertNil(KernelComparison.distance(k0, [0, 0, 0, 0]))
    }

    func testAlignmentSumsTheOwnClassEntries() throws {
        // Two examples, two classes, rows (i, c) example-major; labels [1, 0].
        // Own-class rows: (0,1) = row 1, (1,0) = row 2. Yᵀ K Y = K[1][1] + K[1][2] + K[2][1] + K[2][2].
        let k: [Double] = [
            1, 2, 3, 4,
            5, 6, 7, 8,
            9, 10, 11, 12,
            13, 14, 15, 16,
        ]
        let norm = k.reduce(0) { $0 + $1 * $1 }.squareRoot()
        let expected = (6.0 + 7 + 10 + 11) / (norm * 2)
        XCTAssertEqual(try XCTUnwrap(KernelComparison.labelAlignment(k, labels: [1, 0], classes: 2)), expected, accuracy: 1e-15)
        // A kernel equal to YYᵀ is perfectly aligned.
        let y: [Double] = [0, 1, 1, 0]
        let yyT = y.flatMap { a in y.map { a * $0 } }
        XCTAssertEqual(try XCTUnwrap(KernelComparison.labelAlignment(yyT, labels: [1, 0], classes: 2)), 1, accuracy: 1e-15)
        XCTAssertNil(KernelComparison.labelAlignment([Double](repeating: 0, count: 16), labels: [1, 0], classes: 2))
    }
}
