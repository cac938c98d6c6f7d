import Foundation
import XCTest
@testable import Model

/// The single-process pieces of the eNTK: staged backward, sparse word-embedding share, Gram
/// tiles, and the analysis math — each against a direct computation or hand-computed values.
final class KernelTests: XCTestCase {
    // MARK: Staged backward

    /// Backpropagating stage by stage (restarting from saved boundary gradients, splitting
    /// stages between chunks) gives exactly the gradients of one full backward.
    func testStagedBackwardEqualsFullBackward() {
        // Chunk sequences (top, bottom, saveStage): the next chunk starts from the saved gradient.
        checkStagedBackward(family: .bert, stageCount: 3, sequences: [
            [(2, 0, nil)],
            [(2, 2, 1), (1, 0, nil)],          // boundary between stages: save after stage 2
            [(2, 1, 1), (1, 0, nil)],          // stage 1 split: save before running it
            [(2, 2, 2), (2, 1, 0), (0, 0, nil)],  // top stage split (compact feature row saved)
            [(2, 0, 0), (0, 0, nil)],          // stage 0 split: save before the embeddings
            [(2, 1, 1), (1, 0, 0), (0, 0, 0), (0, 0, nil)],
        ])
    }

    /// GPT-2's stages: the position table, the blocks, and ln_f on top (stage 3).
    func testGPT2StagedBackwardEqualsFullBackward() {
        checkStagedBackward(family: .gpt2, stageCount: 4, sequences: [
            [(3, 0, nil)],
            [(3, 3, 2), (2, 0, nil)],          // ln_f alone, then the blocks
            [(3, 2, 2), (2, 0, nil)],          // block 1 split: save before running it
            [(3, 3, 3), (3, 1, 0), (0, 0, nil)],  // ln_f split (compact feature rows saved)
            [(3, 1, 1), (1, 1, 0), (0, 0, nil)],  // block 0 split: its ln_1 needs the attention's input gradient
            [(3, 2, 2), (2, 1, 1), (1, 0, 0), (0, 0, 0), (0, 0, nil)],
        ])
    }

    private func checkStagedBackward(family: ModelFamily, stageCount: Int, sequences: [[(Int, Int, Int?)]],
                                     file: StaticString = #filePath, line: UInt = #line) {
        let config = TestSupport.tinyConfig(family: family)
        let model = SequenceClassifier<Double>(config: config, classes: 3)
        TestSupport.randomize(model.parameters, seed: 11)
        let batch = TestSupport.tinyBatch(config, lengths: [6])
        model.forward(batch)
        var rng = RandomGenerator(seed: 4)
        let H = config.hidden, T = batch.seqLen
        let dphi = (0..<H).map { _ in rng.nextGaussian() }
        model.zeroGradients()
        dphi.withUnsafeBufferPointer { model.backward(featureGradient: $0.baseAddress!) }
        let reference = Array(model.parameters.gradients)
        let referenceEmbedding = Array(model.embeddingGradient)
        let stages = model.backboneStageRanges
        XCTAssertEqual(stages.count, stageCount, file: file, line: line)
        XCTAssertEqual(stages.first?.lowerBound, model.wordEmbeddingTable.range.upperBound, file: file, line: line)
        XCTAssertEqual(stages.last?.upperBound, model.parameters.range(of: [.backbone]).upperBound, file: file, line: line)

        for sequence in sequences {
            var saved = [Double](repeating: .nan, count: T * H)
            var start = dphi
            for (top, bottom, save) in sequence {
                model.zeroGradients()
                start.withUnsafeBufferPointer { s in
                    saved.withUnsafeMutableBufferPointer { out in
                        model.backwardStages(startGradient: s.baseAddress!, top: top, bottom: bottom,
                                             saveStage: save, save: save == nil ? nil : out.baseAddress!)
                    }
                }
                for stage in bottom...top {
                    let range = stages[stage]
                    assertClose(Array(model.parameters.gradients[range]), Array(reference[range]), rtol: 1e-13, atol: 0,
                                "\(family) sequence \(sequence.map { "\($0.0)-\($0.1)" }) stage \(stage)", file: file, line: line)
                }
                if bottom == 0 {
                    assertClose(Array(model.embeddingGradient), referenceEmbedding, rtol: 1e-13, atol: 0, "\(family) embedding gradient",
                                file: file, line: line)
                }
                if let save { start = Array(saved.prefix(model.stageOutputRows(save) * H)) }
            }
        }
    }

    // MARK: Word embeddings

    /// Rows of a small vocabulary with repeated tokens: dense table gradients D_r (V × H) with
    /// D_r[v] = Σ_{t: id_t = v} e_rt; the exact share is Σ_{v,h} D_r D_q.
    private func wordRows(seed: UInt64, rows: Int, rowBase: Int = 0) -> (SparseWordRows, [[Double]]) {
        let V = 7, H = 4
        var rng = RandomGenerator(seed: seed)
        var sparse = SparseWordRows(hidden: H)
        var dense: [[Double]] = []
        for r in 0..<rows {
            let length = 2 + rng.uniform(below: 6)
            let ids = (0..<length).map { _ in Int32(rng.uniform(below: V)) }
            let e = (0..<(length * H)).map { _ in rng.nextGaussian() }
            var table = [Double](repeating: 0, count: V * H)
            for (t, id) in ids.enumerated() { for h in 0..<H { table[Int(id) * H + h] += e[t * H + h] } }
            dense.append(table)
            e.withUnsafeBufferPointer { sparse.append(row: rowBase + r, ids: ids[...], gradient: $0.baseAddress!) }
        }
        return (sparse, dense)
    }

    private func denseShare(_ a: [[Double]], _ b: [[Double]], keep: (Int) -> Double = { _ in 1 }) -> [Double] {
        var out = [Double](repeating: 0, count: a.count * b.count)
        for i in a.indices { for j in b.indices { for k in a[i].indices { out[i * b.count + j] += a[i][k] * b[j][k] * keep(k) } } }
        return out
    }

    func testSparseWordShareEqualsDenseTableProducts() {
        let (train, trainDense) = wordRows(seed: 1, rows: 6)
        let (eval, evalDense) = wordRows(seed: 2, rows: 3)
        var gram = [Double](repeating: 0, count: 36), cross = [Double](repeating: 0, count: 18)
        gram.withUnsafeMutableBufferPointer { g in
            cross.withUnsafeMutableBufferPointer { c in
                WordEmbeddingKernel.accumulate(train: train, eval: eval, trainRows: 6, trainGram: g.baseAddress!, cross: c.baseAddress!)
            }
        }
        assertClose(gram, denseShare(trainDense, trainDense), rtol: 1e-12, atol: 1e-12, "train × train word share")
        assertClose(cross, denseShare(evalDense, trainDense), rtol: 1e-12, atol: 1e-12, "eval × train word share")

        // The paper's estimate: the kept entries only, divided by the fraction.
        let sample = WordEmbeddingSample(fraction: 0.4, seed: 9)
        var sampled = [Double](repeating: 0, count: 36)
        sampled.withUnsafeMutableBufferPointer { g in
            WordEmbeddingKernel.accumulate(train: train, eval: nil, trainRows: 6, trainGram: g.baseAddress!, cross: nil, sample: sample)
        }
        let expected = denseShare(trainDense, trainDense) { k in
            sample.keeps(token: Int64(k / 4), column: k % 4, hidden: 4) ? 1 / 0.4 : 0
        }
        assertClose(sampled, expected, rtol: 1e-12, atol: 1e-12, "sampled word share")
        XCTAssertNotEqual(sampled, gram)
    }

    func testSampledShareIsUnbiasedAndKeepsTheFraction() {
        var kept = 0
        let sample = WordEmbeddingSample(fraction: 0.1, seed: 5)
        for v in 0..<1000 { for h in 0..<100 where sample.keeps(token: Int64(v), column: h, hidden: 100) { kept += 1 } }
        XCTAssertEqual(Double(kept) / 100_000, 0.1, accuracy: 0.005)
        // The mean of the estimate over many seeds approaches the exact share.
        let (train, dense) = wordRows(seed: 3, rows: 3)
        let exact = denseShare(dense, dense)
        var mean = [Double](repeating: 0, count: 9)
        let seeds = 4000
        for seed in 0..<seeds {
            var g = [Double](repeating: 0, count: 9)
            g.withUnsafeMutableBufferPointer {
                WordEmbeddingKernel.accumulate(train: train, eval: nil, trainRows: 3, trainGram: $0.baseAddress!, cross: nil,
                                               sample: WordEmbeddingSample(fraction: 0.5, seed: UInt64(seed)))
            }
            for i in 0..<9 { mean[i] += g[i] / Double(seeds) }
        }
        let scale = exact.map(abs).max()!
        for i in 0..<9 { XCTAssertEqual(mean[i], exact[i], accuracy: 0.05 * scale, "entry \(i)") }
    }

    // MARK: Gram tiles

    func testGramTilesAddExactProductsSlabBySlab() {
        // Small integers: every product and sum is exact in Float.
        let n = 5, m = 3, widths = [4, 4, 2]
        var rng = RandomGenerator(seed: 8)
        let a = widths.map { w in (0..<(n * w)).map { _ in Float(rng.uniform(below: 7)) - 3 } }
        let e = widths.map { w in (0..<(m * w)).map { _ in Float(rng.uniform(below: 7)) - 3 } }
        var expectedGram = [Double](repeating: 0, count: n * n), expectedCross = [Double](repeating: 0, count: m * n)
        for (s, w) in widths.enumerated() {
            for i in 0..<n { for j in 0..<n { for k in 0..<w { expectedGram[i * n + j] += Double(a[s][i * w + k] * a[s][j * w + k]) } } }
            for i in 0..<m { for j in 0..<n { for k in 0..<w { expectedCross[i * n + j] += Double(e[s][i * w + k] * a[s][j * w + k]) } } }
        }
        let tiles = GramTiles<Float>()
        var gram = [Double](repeating: 0, count: n * n), cross = [Double](repeating: 0, count: m * n)
        let aPointers = a.map { UnsafePointer(UnsafeMutablePointer<Float>.allocate(capacity: $0.count)) }
        let ePointers = e.map { UnsafePointer(UnsafeMutablePointer<Float>.allocate(capacity: $0.count)) }
        defer { (aPointers + ePointers).forEach { $0.deallocate() } }
        for s in widths.indices {
            UnsafeMutablePointer(mutating: aPointers[s]).update(from: a[s], count: a[s].count)
            UnsafeMutablePointer(mutating: ePointers[s]).update(from: e[s], count: e[s].count)
        }
        gram.withUnsafeMutableBufferPointer { g in
            cross.withUnsafeMutableBufferPointer { c in
                tiles.addDiagonal(gram: g.baseAddress!, n: n, slabs: aPointers, widths: widths, eval: (ePointers, m, c.baseAddress!))
            }
        }
        for i in 0..<n { for j in 0...i { XCTAssertEqual(gram[i * n + j], expectedGram[i * n + j], "gram (\(i), \(j))") } }
        XCTAssertEqual(cross, expectedCross)
        XCTAssertEqual(tiles.flops, widths.reduce(0.0) { $0 + Double(n * (n + 1) * $1) + 2 * Double(m * n * $1) })

        var product = [Double](repeating: 0, count: m * n)
        product.withUnsafeMutableBufferPointer { p in
            for (s, w) in widths.enumerated() {
                tiles.addProduct(into: p.baseAddress!, ldc: n, a: ePointers[s], lda: w, b: aPointers[s], ldb: w, m: m, n: n, k: w)
            }
        }
        XCTAssertEqual(product, expectedCross)
    }

    // MARK: Digest

    func testDigestIsFNV1aOverWordsThenBytes() {
        // Under 8 bytes it is plain FNV-1a 64 (standard test vectors); "abcdefghij" is one word
        // "abcdefgh" (little-endian) then the bytes "i", "j" (computed by hand in Python).
        func digest(_ text: String) -> UInt64 {
            var hash = ParameterDigest()
            Array(text.utf8).withUnsafeBytes { hash.update($0) }
            return hash.value
        }
        XCTAssertEqual(digest("a"), 0xAF63_DC4C_8601_EC8C)
        XCTAssertEqual(digest("foobar"), 0x8594_4171_F739_67E8)
        XCTAssertEqual(digest("abcdefghij"), 0xB7DC_0928_7FB5_9BCF)
    }

    // MARK: Analysis

    func testPretrainEffectivePartIsFeatureGramPlusOneTimesIdentity() {
        // a = [[1, 2], [0, 1]], b = [[1, 0]]: ⟨a0, b0⟩ + 1 = 2, ⟨a1, b0⟩ + 1 = 1; C = 2.
        let p = KernelAnalysis.pretrainEffective([1, 2, 0, 1], count: 2, [1, 0], count: 1, hidden: 2, classes: 2)
        XCTAssertEqual(p, [2, 0,
                           0, 2,
                           1, 0,
                           0, 1])
    }

    func testSpectrumAndNumericalRankOfALowRankMatrix() throws {
        // M = A·Aᵀ, A = [[1, 0], [0, 1], [1, 1], [2, −1]]: rank 2, nonzero eigenvalues those of
        // AᵀA = [[6, −1], [−1, 3]]: (9 ± √13)/2.
        let a: [[Double]] = [[1, 0], [0, 1], [1, 1], [2, -1]]
        let m = (0..<4).flatMap { i in (0..<4).map { j in a[i][0] * a[j][0] + a[i][1] * a[j][1] } }
        let spectrum = try XCTUnwrap(KernelAnalysis.spectrum(m, n: 4, relativeTolerance: 1e-12, top: 3))
        XCTAssertEqual(spectrum.rank, 2)
        XCTAssertEqual(spectrum.topEigenvalues[0], (9 + 13.0.squareRoot()) / 2, accuracy: 1e-12)
        XCTAssertEqual(spectrum.topEigenvalues[1], (9 - 13.0.squareRoot()) / 2, accuracy: 1e-12)
        XCTAssertEqual(spectrum.topEigenvalues[2], 0, accuracy: 1e-12)
        XCTAssertEqual(spectrum.tolerance, 1e-12 * (9 + 13.0.squareRoot()) / 2, accuracy: 1e-24)
        XCTAssertEqual(KernelAnalysis.frobeniusNorm([3, 4, 0, 0]), 5)
    }

    func testResidualsFTRatioAndChangeComparisonByHand() {
        // softmax(0, ln 3) = (1/4, 3/4); label 0 → δ = (3/4, −3/4).
        let delta = KernelAnalysis.residuals(logits: [0, log(3)], labels: [0], classes: 2)
        XCTAssertEqual(delta[0], 0.75, accuracy: 1e-15)
        XCTAssertEqual(delta[1], -0.75, accuracy: 1e-15)
        // ‖(3, 4)‖/‖(6, 8)‖ = 0.5 and ‖(0, 0)‖/‖(1, 0)‖ = 0 → mean 0.25.
        XCTAssertEqual(KernelAnalysis.ftRatio(fDelta: [3, 4, 0, 0], ntkDelta: [6, 8, 1, 0], examples: 2, classes: 2), 0.25)
        XCTAssertEqual(KernelAnalysis.apply([1, 2, 3, 4, 5, 6], rows: 2, columns: 3, [1, 0, -1]), [-2, -2])
        let c = KernelAnalysis.compare(predicted: [1, 0], observed: [1, 1])
        XCTAssertEqual(c.cosine, 1 / 2.0.squareRoot(), accuracy: 1e-15)
        XCTAssertEqual(c.relativeError, 1 / 2.0.squareRoot(), accuracy: 1e-15)
    }

    /// A kernel whose rows (i, c) are separable exactly when c is example i's label: entry
    /// ((i, c), (j, c')) = [c = c']·(+1 if y_i = y_j else −1) + 0.1·[same row].
    func testKernelRegressionAccuracyOnASeparableKernel() throws {
        let labels = (0..<12).map { $0 % 3 == 0 ? 1 : 0 }, evalLabels = [1, 0, 0, 1, 0, 1]
        func kernel(_ rowLabels: [Int], diagonal: Bool) -> [Double] {
            let R = rowLabels.count * 2, Rt = labels.count * 2
            var k = [Double](repeating: 0, count: R * Rt)
            for r in 0..<R {
                for q in 0..<Rt where r % 2 == q % 2 {
                    k[r * Rt + q] = rowLabels[r / 2] == labels[q / 2] ? 1 : -1
                    if diagonal && r == q { k[r * Rt + q] += 0.1 }
                }
            }
            return k
        }
        let result = try KernelAnalysis.kernelRegressionAccuracy(train: kernel(labels, diagonal: true), labels: labels, classes: 2,
                                                                 eval: kernel(evalLabels, diagonal: false), evalLabels: evalLabels)
        XCTAssertEqual(result.train, 1)
        XCTAssertEqual(result.eval, 1)
        XCTAssertEqual(result.scale, 1.1, accuracy: 1e-12)
        // Relabelled eval examples (the kernel says the opposite) are all wrong.
        let flipped = try KernelAnalysis.kernelRegressionAccuracy(train: kernel(labels, diagonal: true), labels: labels, classes: 2,
                                                                  eval: kernel(evalLabels, diagonal: false),
                                                                  evalLabels: evalLabels.map { 1 - $0 })
        XCTAssertEqual(flipped.eval, 0)
    }
}
