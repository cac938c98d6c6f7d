import XCTest
@testable import Model

final class OptimizerTests: XCTestCase {
    /// AdamW against the torch.optim.AdamW update written out by hand for two steps.
    func testAdamWMatchesTheTorchFormula() {
        let store = ParameterStore<Double>([("dense.weight", [3], .backbone), ("dense.bias", [2], .head)])
        let p0: [Double] = [0.5, -1.0, 2.0, 0.1, -0.2]
        for i in 0..<5 { store.values[i] = p0[i] }
        let grads: [[Double]] = [[0.1, -0.3, 0.0, 1.0, 2.0], [-0.2, 0.05, 0.4, -1.0, 0.5]]
        let lr = 0.01, wd = 0.1
        let opt = AdamW(parameters: store, range: 0..<5, weightDecay: wd)
        var p = p0, m = [Double](repeating: 0, count: 5), v = m
        for (t, g) in grads.enumerated() {
            for i in 0..<5 { store.gradients[i] = g[i] }
            opt.update(store, learningRate: lr)
            let step = Double(t + 1)
            for i in 0..<5 {
                if i < 3 { p[i] *= 1 - lr * wd }  // the weight decays; the bias does not (Hugging Face Trainer)
                m[i] = 0.9 * m[i] + 0.1 * g[i]
                v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i]
                let mhat = m[i] / (1 - pow(0.9, step)), denom = (v[i] / (1 - pow(0.999, step))).squareRoot() + 1e-8
                p[i] -= lr * mhat / denom
            }
            for i in 0..<5 { XCTAssertEqual(store.values[i], p[i], accuracy: 1e-14, "step \(t + 1) index \(i)") }
        }
    }

    /// The Float update runs 8 lanes at a time; it must give, bit for bit, what the scalar
    /// formula gives in Float (37 values: four groups of 8 and a tail of 5, over three steps).
    func testFloatLanesAreBitIdenticalToTheScalarFormula() {
        let n = 37
        let store = ParameterStore<Float>([("w", [n], .backbone)])
        var rng = RandomGenerator(seed: 11)
        var p = (0..<n).map { _ in Float(rng.nextGaussian()) }
        for i in 0..<n { store.values[i] = p[i] }
        let opt = AdamW(parameters: store, range: 0..<n)
        var m = [Float](repeating: 0, count: n), v = m
        let lr = 3e-3
        for step in 1...3 {
            let g = (0..<n).map { _ in Float(rng.nextGaussian()) * 0.1 }
            for i in 0..<n { store.gradients[i] = g[i] }
            opt.update(store, learningRate: lr)
            let b1 = Float(0.9), b2 = Float(0.999)
            let stepSize = Float(lr / (1 - pow(0.9, Double(step))))
            let invSqrtCorrection2 = Float(1 / (1 - pow(0.999, Double(step))).squareRoot())
            for i in 0..<n {
                m[i] = b1 * m[i] + (1 - b1) * g[i]
                v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i]
                p[i] -= stepSize * m[i] / (v[i].squareRoot() * invSqrtCorrection2 + Float(1e-8))
            }
            XCTAssertEqual(Array(store.values).map(\.bitPattern), p.map(\.bitPattern), "step \(step)")
        }
    }

    /// The 8-lane sum of squares agrees with a Double sum, for every length around the lane width.
    func testSumOfSquaresOverLanes() {
        var rng = RandomGenerator(seed: 5)
        let x = (0..<70).map { _ in Float(rng.nextGaussian()) }
        for count in [0, 1, 7, 8, 9, 16, 23, 70] {
            let exact = x[0..<count].reduce(0.0) { $0 + Double($1) * Double($1) }
            let got = x.withUnsafeBufferPointer { sumOfSquares($0.baseAddress!, count: count) }
            XCTAssertEqual(Double(got), exact, accuracy: 1e-5 * max(1, exact), "count \(count)")
            // The lanes and their order are fixed (lane j sums elements j, j + 8, …): the vector
            // loop gives the bits of the scalar definition, so the gradient norm never depends on
            // how the compiler vectorizes it.
            var lanes = [Float](repeating: 0, count: 8)
            for i in 0..<(count / 8 * 8) { lanes[i % 8] += x[i] * x[i] }
            var scalar = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]))
            for i in (count / 8 * 8)..<count { scalar += x[i] * x[i] }
            XCTAssertEqual(got.bitPattern, scalar.bitPattern, "count \(count)")
        }
    }

    /// Skipping untouched word-embedding rows gives bit-identical parameters to the dense update.
    func testSparseRowsAreExactlyTheDenseUpdate() {
        let rows = 6, dim = 4
        func make() -> ParameterStore<Float> { ParameterStore<Float>([("table", [rows, dim], .backbone), ("rest", [5], .head)]) }
        let dense = make(), sparse = make()
        var rng = RandomGenerator(seed: 3)
        for i in 0..<dense.count { let x = Float(rng.nextGaussian()); dense.values[i] = x; sparse.values[i] = x }
        let denseOpt = AdamW(parameters: dense, range: 0..<dense.count)
        let sparseOpt = AdamW(parameters: sparse, range: 0..<sparse.count)
        sparseOpt.setSparseTable(range: 0..<(rows * dim), rowLength: dim)
        let touchedPerStep: [[Int]] = [[1], [1, 4], [], [2], [4]]
        let touchedRows = TouchedRows(table: 0..<(rows * dim), rowLength: dim)
        for touched in touchedPerStep {
            touchedRows.removeAll()
            for i in 0..<dense.count { dense.gradients[i] = 0; sparse.gradients[i] = 0 }
            for r in touched { touchedRows.mark(r) }
            for i in 0..<dense.count where i >= rows * dim || touchedRows.flags[i / dim] != 0 {
                let g = Float(rng.nextGaussian())
                dense.gradients[i] = g; sparse.gradients[i] = g
            }
            denseOpt.update(dense, learningRate: 0.01)
            sparseOpt.update(sparse, learningRate: 0.01, touchedRows: touchedRows)
            XCTAssertEqual(Array(dense.values), Array(sparse.values))
        }
        XCTAssertEqual(sparseOpt.activeRows, [0, 1, 1, 0, 1, 0])
        // Rows never touched kept their initial values.
        XCTAssertEqual(Array(sparse.values[0..<dim]), Array(dense.values[0..<dim]))
    }

    func testLinearScheduleMatchesTransformers() {
        // get_linear_schedule_with_warmup(num_warmup_steps=2, num_training_steps=10), base 1.
        let s = LinearSchedule(baseRate: 1, totalSteps: 10, warmupSteps: 2)
        let expected: [Double] = [0, 0.5, 1, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125, 0]
        for (step, e) in expected.enumerated() { XCTAssertEqual(s.rate(atStep: step), e, accuracy: 1e-15) }
        let noWarmup = LinearSchedule(baseRate: 2, totalSteps: 4, warmupSteps: 0)
        XCTAssertEqual((0..<4).map { noWarmup.rate(atStep: $0) }, [2, 1.5, 1, 0.5])
    }

    /// clip_grad_norm_'s factor: maxNorm/(norm + 1e-6) above the maximum, 1 below it.
    func testClippingFactorMatchesTorch() {
        let store = ParameterStore<Double>([("a", [2], .backbone), ("b", [2], .head)])
        for (i, g) in [3.0, 0.0, 0.0, 4.0].enumerated() { store.gradients[i] = g }
        let norm = gradientNorm(store, ranges: [0..<4])
        XCTAssertEqual(norm, 5, accuracy: 1e-15)
        XCTAssertEqual(clippingFactor(norm: norm, maxNorm: 1), 1 / (5 + 1e-6), accuracy: 1e-15)
        XCTAssertEqual(clippingFactor(norm: norm, maxNorm: 10), 1)
    }

    /// AdamW applying the clipping factor as it reads each gradient gives, bit for bit, the
    /// update after a separate pass g ← g·factor (what torch's clip_grad_norm_ then step() do):
    /// Float lanes and tail (37 values), a sparse table with untouched rows, four steps.
    func testScaledUpdateIsTheUpdateOfScaledGradients() {
        let rows = 4, dim = 8, n = rows * dim + 5
        func make() -> ParameterStore<Float> { ParameterStore<Float>([("table", [rows, dim], .backbone), ("rest", [5], .head)]) }
        let fused = make(), separate = make()
        var rng = RandomGenerator(seed: 21)
        for i in 0..<n { let x = Float(rng.nextGaussian()); fused.values[i] = x; separate.values[i] = x }
        let fusedOpt = AdamW(parameters: fused, range: 0..<n), separateOpt = AdamW(parameters: separate, range: 0..<n)
        fusedOpt.setSparseTable(range: 0..<(rows * dim), rowLength: dim)
        separateOpt.setSparseTable(range: 0..<(rows * dim), rowLength: dim)
        let touchedRows = TouchedRows(table: 0..<(rows * dim), rowLength: dim)
        for (step, touched) in [[1], [1, 3], [0], [2]].enumerated() {
            touchedRows.removeAll()
            for r in touched { touchedRows.mark(r) }
            for i in 0..<n {
                let g = i >= rows * dim || touchedRows.flags[i / dim] != 0 ? Float(rng.nextGaussian()) * 3 : 0
                fused.gradients[i] = g; separate.gradients[i] = g
            }
            let factor = clippingFactor(norm: gradientNorm(fused, ranges: [0..<n]), maxNorm: 1)
            XCTAssertLessThan(factor, 1, "step \(step) must clip")
            for i in 0..<n { separate.gradients[i] *= Float(factor) }
            fusedOpt.update(fused, learningRate: 0.01, gradientScale: factor, touchedRows: touchedRows)
            separateOpt.update(separate, learningRate: 0.01, touchedRows: touchedRows)
            XCTAssertEqual(Array(fused.values).map(\.bitPattern), Array(separate.values).map(\.bitPattern), "step \(step)")
        }
    }

    /// zeroGradients() and touchedRows.gradientRanges(within:) of the classifier skip only rows that are zero.
    func testClassifierSparseZeroingAndRanges() {
        let config = TestSupport.tinyConfig()
        let model = SequenceClassifier<Double>(config: config, classes: 2)
        TestSupport.randomize(model.parameters, seed: 1)
        let batch = TestSupport.tinyBatch(config)
        model.zeroGradients()
        model.forward(batch); model.loss(labels: [0, 1, 0]); model.backward()
        let all = 0..<model.parameters.count
        XCTAssertEqual(gradientNorm(model.parameters, ranges: model.touchedRows.gradientRanges(within: all)),
                       gradientNorm(model.parameters, ranges: [all]), accuracy: 1e-12)
        model.zeroGradients()
        XCTAssertTrue(model.parameters.gradients.allSatisfy { $0 == 0 })
        XCTAssertTrue(model.touchedRows.flags.allSatisfy { $0 == 0 })
    }
}
