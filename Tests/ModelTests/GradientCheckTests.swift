import XCTest
@testable import Model

/// Finite-difference checks (central differences in Double) of every layer's backward and of
/// the whole classifier.
final class GradientCheckTests: XCTestCase {
    let h = 1e-5

    private func gaussian(_ n: Int, seed: UInt64, scale: Double = 1) -> [Double] {
        var g = RandomGenerator(seed: seed)
        return (0..<n).map { _ in scale * g.nextGaussian() }
    }

    /// Central-difference gradient of f at x (perturbing x in place).
    private func numericGradient(_ x: inout [Double], _ f: () -> Double) -> [Double] {
        var grad = [Double](repeating: 0, count: x.count)
        for i in x.indices {
            let saved = x[i]
            x[i] = saved + h; let plus = f()
            x[i] = saved - h; let minus = f()
            x[i] = saved
            grad[i] = (plus - minus) / (2 * h)
        }
        return grad
    }

    func testLayerNorm() {
        let n = 3, dim = 5
        var x = gaussian(n * dim, seed: 1, scale: 2), gamma = gaussian(dim, seed: 2), beta = gaussian(dim, seed: 3)
        let w = gaussian(n * dim, seed: 4)
        var out = [Double](repeating: 0, count: n * dim), mean = [Double](repeating: 0, count: n), rstd = mean
        func loss() -> Double {
            layerNormForward(&out, mean: &mean, rstd: &rstd, x, gamma: gamma, beta: beta, n: n, dim: dim, eps: 1e-5)
            return zip(out, w).map(*).reduce(0, +)
        }
        _ = loss()
        var dx = [Double](repeating: 0, count: n * dim), dgamma = [Double](repeating: 0, count: dim), dbeta = dgamma
        layerNormBackward(dx: &dx, dgamma: &dgamma, dbeta: &dbeta, dout: w, x: x, mean: mean, rstd: rstd,
                          gamma: gamma, n: n, dim: dim)
        assertClose(dx, numericGradient(&x, loss), rtol: 1e-6, atol: 1e-9, "LayerNorm dx")
        assertClose(dgamma, numericGradient(&gamma, loss), rtol: 1e-6, atol: 1e-9, "LayerNorm dgamma")
        assertClose(dbeta, numericGradient(&beta, loss), rtol: 1e-6, atol: 1e-9, "LayerNorm dbeta")
    }

    func testGELUExactAndTanh() {
        for kind in [Activation.gelu, .geluTanh] {
            var x = gaussian(40, seed: 5, scale: 2.5)
            let w = gaussian(40, seed: 6)
            var out = [Double](repeating: 0, count: 40)
            func loss() -> Double {
                activationForward(&out, x, count: 40, kind)
                return zip(out, w).map(*).reduce(0, +)
            }
            var dx = [Double](repeating: 7, count: 40)  // overwritten, not added to
            activationBackward(dx: &dx, dout: w, x: x, count: 40, kind)
            assertClose(dx, numericGradient(&x, loss), rtol: 1e-6, atol: 1e-9, "\(kind) dx")
        }
        // Exact GELU values: gelu(1) = Φ(1) = 0.8413447460685429, gelu(−2) = −2Φ(−2) = −0.04550026389635842.
        var out = [Double](repeating: 0, count: 2)
        activationForward(&out, [1, -2], count: 2, .gelu)
        XCTAssertEqual(out[0], 0.8413447460685429, accuracy: 1e-15)
        XCTAssertEqual(out[1], -0.04550026389635842, accuracy: 1e-15)
    }

    func testFastFloatMathAgainstLibm() {
        var worstErf = 0.0, worstExp = 0.0
        var x: Float = -6
        while x < 6 {
            worstErf = max(worstErf, abs(Double(FastMath.erf(x)) - erf(Double(x))))
            worstExp = max(worstExp, abs(Double(FastMath.exp(x * 10)) - exp(Double(x * 10))) / exp(Double(x * 10)))
            x += 0.001
        }
        XCTAssertLessThan(worstErf, 5e-7)
        XCTAssertLessThan(worstExp, 2e-7)
        XCTAssertEqual(FastMath.exp(-100), 0)
    }

    /// Attention in all modes: full, one query per example, causal, with a fixed dropout mask.
    func testMaskedAttention() {
        let B = 2, T = 4, H = 4, heads = 2
        let lengths: [Int32] = [4, 2]
        for (single, causal, dropout) in [(false, false, false), (true, false, false), (false, true, false), (false, false, true), (true, true, true)] {
            let shape = AttentionShape(batch: B, seqLen: T, hidden: H, heads: heads, causal: causal)
            let queryPositions: [Int32]? = single ? [2, 1] : nil
            let outRows = single ? B : B * T
            let probsCount = B * heads * T * (single ? 1 : T)
            var mask = [UInt8](repeating: 1, count: probsCount)
            if dropout { var g = RandomGenerator(seed: 9); for i in mask.indices { mask[i] = g.uniform(below: 4) == 0 ? 0 : 1 } }
            var qkv = gaussian(B * T * 3 * H, seed: 7)
            let w = gaussian(outRows * H, seed: 8)
            var ctx = [Double](repeating: 0, count: outRows * H), probs = [Double](repeating: 0, count: probsCount)
            func loss() -> Double {
                lengths.withUnsafeBufferPointer { len in
                    if let queryPositions {
                        queryPositions.withUnsafeBufferPointer { qp in
                            attentionForward(ctx: &ctx, probs: &probs, dropMask: dropout ? mask : nil, dropScale: 4.0 / 3,
                                             qkv: qkv, lengths: len.baseAddress!, queryPositions: qp.baseAddress!, shape: shape)
                        }
                    } else {
                        attentionForward(ctx: &ctx, probs: &probs, dropMask: dropout ? mask : nil, dropScale: 4.0 / 3,
                                         qkv: qkv, lengths: len.baseAddress!, queryPositions: nil, shape: shape)
                    }
                }
                return zip(ctx, w).map(*).reduce(0, +)
            }
            _ = loss()
            var dqkv = [Double](repeating: 0, count: qkv.count)
            lengths.withUnsafeBufferPointer { len in
                func backward(_ queryPositions: UnsafePointer<Int32>?) {
                    attentionBackward(dqkv: &dqkv, dctx: w, probs: probs, dropMask: dropout ? mask : nil, dropScale: 4.0 / 3,
                                      qkv: qkv, lengths: len.baseAddress!, queryPositions: queryPositions, shape: shape)
                }
                // The positions' pointer lives only inside withUnsafeBufferPointer.
                if let queryPositions {
                    queryPositions.withUnsafeBufferPointer { backward($0.baseAddress!) }
                } else {
                    backward(nil)
                }
            }
            let what = "attention single=\(single) causal=\(causal) dropout=\(dropout)"
            assertClose(dqkv, numericGradient(&qkv, loss), rtol: 1e-6, atol: 1e-9, what)
            // Padded keys (example 1, tokens 2, 3) must not influence any output.
            let before = ctx
            for t in 2..<4 { for c in 0..<(3 * H) { qkv[(1 * T + t) * 3 * H + c] += 5 } }
            _ = loss()
            if single {
                XCTAssertEqual(ctx, before, "\(what): padded keys leaked")
            } else {
                // Real rows unchanged; padded query rows are zero.
                for row in [0, 1, 2, 3, 4, 5] { XCTAssertEqual(Array(ctx[(row * H)..<((row + 1) * H)]), Array(before[(row * H)..<((row + 1) * H)]), what) }
                XCTAssertEqual(Array(ctx[(6 * H)..<(8 * H)]), [Double](repeating: 0, count: 2 * H), "\(what): padded rows")
            }
        }
    }

    func testSoftmaxCrossEntropy() {
        let B = 3, C = 4
        var logits = gaussian(B * C, seed: 11, scale: 3)
        let labels = [2, 0, 3]
        var d = [Double](repeating: 0, count: B * C)
        func loss() -> Double { var scratch = d; return crossEntropyForward(dlogits: &scratch, logits: logits, labels: labels, batch: B, classes: C) }
        let value = crossEntropyForward(dlogits: &d, logits: logits, labels: labels, batch: B, classes: C)
        assertClose(d, numericGradient(&logits, loss), rtol: 1e-6, atol: 1e-10, "cross-entropy dlogits")
        // Exact value for uniform logits: log C.
        var uniform = [Double](repeating: 0, count: C)
        XCTAssertEqual(crossEntropyForward(dlogits: &uniform, logits: [0.5, 0.5, 0.5, 0.5], labels: [1], batch: 1, classes: C), log(4.0), accuracy: 1e-15)
        XCTAssertGreaterThan(value, 0)
    }

    func testEmbeddings() {
        let n = 4, dim = 3, vocab = 5, positions = 6, types = 2
        var word = gaussian(vocab * dim, seed: 12), position = gaussian(positions * dim, seed: 13), type = gaussian(types * dim, seed: 14)
        let ids: [Int32] = [1, 3, 1, 4], pos: [Int32] = [0, 1, 2, 3], tt: [Int32] = [0, 0, 1, 1]
        let w = gaussian(n * dim, seed: 15)
        var out = [Double](repeating: 0, count: n * dim)
        func loss() -> Double {
            embeddingForward(&out, ids: ids, positions: pos, types: tt, word: word, position: position, type: type, n: n, dim: dim)
            return zip(out, w).map(*).reduce(0, +)
        }
        var dword = [Double](repeating: 0, count: word.count), dpos = [Double](repeating: 0, count: position.count), dtype = [Double](repeating: 0, count: type.count)
        embeddingBackward(dword: &dword, dposition: &dpos, dtype: &dtype, dout: w, ids: ids, positions: pos, types: tt,
                          rows: Array(0..<n), dim: dim)
        assertClose(dword, numericGradient(&word, loss), rtol: 1e-6, atol: 1e-10, "word embeddings (token 1 repeated)")
        assertClose(dpos, numericGradient(&position, loss), rtol: 1e-6, atol: 1e-10, "position embeddings")
        assertClose(dtype, numericGradient(&type, loss), rtol: 1e-6, atol: 1e-10, "type embeddings")
    }

    /// Loss of the classifier as a function of its parameter arena.
    private func classifierLoss(_ model: SequenceClassifier<Double>, _ batch: TokenBatch, _ labels: [Int], seed: UInt64?) -> Double {
        model.forward(batch, dropoutSeed: seed)
        return model.loss(labels: labels)
    }

    private func checkWholeModel(family: ModelFamily, dropout: Double, lora: LoRAConfig?, trainBackbone: Bool,
                                 file: StaticString = #filePath, line: UInt = #line) {
        let config = TestSupport.tinyConfig(family: family, dropout: dropout)
        let model = SequenceClassifier<Double>(config: config, classes: 3, lora: lora)
        TestSupport.randomize(model.parameters, seed: 21)
        model.trainBackbone = trainBackbone
        let batch = TestSupport.tinyBatch(config)
        let labels = [2, 0, 1]
        let seed: UInt64? = dropout > 0 ? 77 : nil
        model.zeroGradients()
        _ = classifierLoss(model, batch, labels, seed: seed)
        model.backward()
        let analytic = Array(model.parameters.gradients).map { Double($0) }
        var numeric = [Double](repeating: 0, count: analytic.count)
        let values = model.parameters.values.baseAddress!
        for i in 0..<model.parameters.count {
            let saved = values[i]
            values[i] = saved + h; let plus = classifierLoss(model, batch, labels, seed: seed)
            values[i] = saved - h; let minus = classifierLoss(model, batch, labels, seed: seed)
            values[i] = saved
            numeric[i] = (plus - minus) / (2 * h)
        }
        for e in model.parameters.entries {
            let a = Array(analytic[e.range]), n = Array(numeric[e.range])
            let expectGradient = e.group != .backbone || trainBackbone
            if expectGradient {
                assertClose(a, n, rtol: 1e-5, atol: 1e-8, "\(family) dropout=\(dropout) lora=\(lora != nil) \(e.name)", file: file, line: line)
            } else {
                XCTAssertTrue(a.allSatisfy { $0 == 0 }, "\(e.name) is frozen but got a gradient", file: file, line: line)
            }
        }
        // The word-embedding rows of tokens absent from the batch get no gradient.
        let word = model.wordEmbeddingTable.range
        let present = Set(batch.ids.enumerated().filter { i, _ in i % batch.seqLen < Int(batch.lengths[i / batch.seqLen]) }.map { $0.element })
        for v in 0..<config.vocabularySize where !present.contains(Int32(v)) {
            for j in 0..<config.hidden { XCTAssertEqual(numeric[word.lowerBound + v * config.hidden + j], 0, accuracy: 1e-12) }
        }
    }

    func testWholeClassifierEvalMode() { checkWholeModel(family: .bert, dropout: 0, lora: nil, trainBackbone: true) }
    func testWholeClassifierWithDropout() { checkWholeModel(family: .bert, dropout: 0.2, lora: nil, trainBackbone: true) }
    func testWholeRoBERTaClassifier() { checkWholeModel(family: .roberta, dropout: 0, lora: nil, trainBackbone: true) }
    func testWholeGPT2ClassifierEvalMode() { checkWholeModel(family: .gpt2, dropout: 0, lora: nil, trainBackbone: true) }
    func testWholeGPT2ClassifierWithDropout() { checkWholeModel(family: .gpt2, dropout: 0.2, lora: nil, trainBackbone: true) }
    func testGPT2LoRAGradientsOnlyIntoFactorsAndHead() {
        checkWholeModel(family: .gpt2, dropout: 0.1, lora: LoRAConfig(rank: 2, alpha: 4, targets: [.query, .value]), trainBackbone: false)
    }
    func testGPT2LoRAOnAllProjectionsWithBackbone() {
        checkWholeModel(family: .gpt2, dropout: 0.1, lora: LoRAConfig(rank: 3, alpha: 3, targets: [.query, .key, .value]), trainBackbone: true)
    }
    func testLoRAGradientsOnlyIntoFactorsAndHead() {
        checkWholeModel(family: .bert, dropout: 0.1, lora: LoRAConfig(rank: 2, alpha: 4, targets: [.query, .value]), trainBackbone: false)
    }
    func testLoRAOnAllProjectionsWithBackbone() {
        checkWholeModel(family: .bert, dropout: 0, lora: LoRAConfig(rank: 3, alpha: 3, targets: [.query, .key, .value]), trainBackbone: true)
    }

    /// The pruned last layer (feature token only) gives exactly the full computation's φ and
    /// the same parameter gradients (eval mode: dropout masks are per computed row).
    func testPrunedLastLayerMatchesFullComputation() {
        for family in ModelFamily.allCases {
            let config = TestSupport.tinyConfig(family: family)
            let model = SequenceClassifier<Double>(config: config, classes: 2)
            TestSupport.randomize(model.parameters, seed: 3)
            let batch = TestSupport.tinyBatch(config)
            model.zeroGradients()
            model.forward(batch)
            let pruned = Array(model.features)
            model.loss(labels: [1, 0, 1])
            model.backward()
            let prunedGradients = Array(model.parameters.gradients)
            model.zeroGradients()
            model.forward(batch, allTokens: true)
            let full = Array(model.features)
            model.loss(labels: [1, 0, 1])
            model.backward()
            assertClose(pruned, full, rtol: 1e-13, atol: 1e-13, "\(family): pruned vs full features")
            assertClose(prunedGradients, Array(model.parameters.gradients), rtol: 1e-10, atol: 1e-13, "\(family): pruned vs full gradients")
            // The family's pooling of all token states reads the same feature token.
            assertClose(model.pooled(family.defaultPooling), full, rtol: 0, atol: 0, "\(family): default pooling")
        }
    }

    /// Padding is invisible: an example's features do not depend on the other examples' lengths.
    func testFeaturesIndependentOfBatchPadding() {
        for family in ModelFamily.allCases {
            let config = TestSupport.tinyConfig(family: family)
            let model = SequenceClassifier<Double>(config: config, classes: 2)
            TestSupport.randomize(model.parameters, seed: 4)
            let batch = TestSupport.tinyBatch(config, lengths: [7, 4, 5])
            model.forward(batch)
            let together = Array(model.features)
            for b in 0..<3 {
                let n = Int(batch.lengths[b])
                let ids = Array(batch.ids[(b * batch.seqLen)..<(b * batch.seqLen + n)])
                let types = Array(batch.typeIds[(b * batch.seqLen)..<(b * batch.seqLen + n)])
                model.forward(TokenBatch([Encoding(ids: ids, typeIds: types)], config: config))
                assertClose(Array(model.features), Array(together[(b * 8)..<((b + 1) * 8)]), rtol: 1e-12, atol: 1e-12,
                            "\(family): example \(b) alone")
            }
        }
    }

    /// GPT-2 is causal: a token's final state does not depend on the tokens after it, while a
    /// bidirectional encoder's does.
    func testGPT2TokenStatesAreCausal() {
        for family in [ModelFamily.gpt2, .roberta] {
            let config = TestSupport.tinyConfig(family: family)
            let model = SequenceClassifier<Double>(config: config, classes: 2)
            TestSupport.randomize(model.parameters, seed: 6)
            let ids: [Int32] = [3, 9, 4, 17, 8, 12]
            model.forward(TokenBatch([Encoding(ids: ids, typeIds: [0, 0, 0, 0, 0, 0])], config: config), allTokens: true)
            let before = Array(model.tokenStates)
            var changed = ids
            changed[4] = 20; changed[5] = 2
            model.forward(TokenBatch([Encoding(ids: changed, typeIds: [0, 0, 0, 0, 0, 0])], config: config), allTokens: true)
            let after = Array(model.tokenStates)
            let prefix = 0..<(4 * config.hidden)
            if family == .gpt2 {
                XCTAssertEqual(Array(after[prefix]), Array(before[prefix]), "GPT-2 states of tokens 0–3 saw later tokens")
            } else {
                XCTAssertNotEqual(Array(after[prefix]), Array(before[prefix]), "RoBERTa states should see later tokens")
            }
            XCTAssertNotEqual(Array(after[(4 * config.hidden)...]), Array(before[(4 * config.hidden)...]), "\(family): changed tokens")
        }
    }

    /// backward(onGradientsReady:) reports the head, then the stages top to bottom, with arena
    /// ranges whose gradients nothing later in the backward changes; together they cover every
    /// gradient it wrote (the hook a bucketed allreduce would start from).
    func testGradientsReadyTopToBottomAndFinal() {
        let cases: [(ModelFamily, LoRAConfig?, calls: Int)] = [
            (.bert, nil, 1 + 3), (.gpt2, nil, 1 + 4),                    // head, then every stage
            (.roberta, LoRAConfig(rank: 2, alpha: 4), 1 + 2),            // LoRA: the blocks only
            (.gpt2, LoRAConfig(rank: 2, alpha: 4, targets: [.query, .key, .value]), 1 + 3),
        ]
        for (family, lora, calls) in cases {
            let config = TestSupport.tinyConfig(family: family, dropout: 0.1)
            let model = SequenceClassifier<Double>(config: config, classes: 3, lora: lora)
            TestSupport.randomize(model.parameters, seed: 8)
            model.trainBackbone = lora == nil
            model.zeroGradients()
            model.forward(TestSupport.tinyBatch(config), dropoutSeed: 3)
            model.loss(labels: [2, 0, 1])
            var reported: [(ranges: [Range<Int>], values: [Double])] = []
            model.backward { ranges in reported.append((ranges, ranges.flatMap { Array(model.parameters.gradients[$0]) })) }
            let what = "\(family) lora=\(lora != nil)"
            XCTAssertEqual(reported.count, calls, what)
            XCTAssertEqual(reported.first?.ranges, [model.parameters.range(of: [.head])], what)
            let starts = reported.dropFirst().map { $0.ranges[0].lowerBound }
            XCTAssertEqual(starts, starts.sorted(by: >), "\(what): stages top to bottom")
            var covered = [Bool](repeating: false, count: model.parameters.count)
            for (ranges, values) in reported {
                XCTAssertEqual(ranges.flatMap { Array(model.parameters.gradients[$0]) }, values, "\(what): changed after it was reported")
                for range in ranges { for i in range { covered[i] = true } }
            }
            let missed = (0..<model.parameters.count).filter { model.parameters.gradients[$0] != 0 && !covered[$0] }
            XCTAssertTrue(missed.isEmpty, "\(what): \(missed.count) gradients never reported")
            XCTAssertTrue(covered.indices.contains { covered[$0] && model.parameters.gradients[$0] != 0 }, what)
        }
    }
}
