import Foundation
import XCTest
@testable import Model

/// The tiny random RoBERTa and GPT-2 against Hugging Face transformers in float64
/// (Fixtures/reference/tiny-reference.json, a copy of ../shared/reference/tiny/tiny-reference.json):
/// token ids, RoBERTa <s> states, GPT-2 last-real-token states, and with the file's fixed head
/// the loss and every backbone parameter's gradient norm. The model directories are assembled
/// from Fixtures/safetensors/tiny-* (config, weights) and Fixtures/tiny/tiny-* (tokenizer files).
final class FamilyReferenceTests: XCTestCase {
    struct Reference: Decodable {
        struct GradientStats: Decodable { let shape: [Int]; let frobenius: Double; let first4: [Double] }
        struct Family: Decodable {
            let texts: [String]
            let input_ids: [[Int32]]
            /// RoBERTa: final state of <s>; GPT-2: final (ln_f) state of the last real token.
            let cls: [[Double]]?
            let last_token_hidden: [[Double]]?
            let loss: Double
            let grads: [String: GradientStats]
            var features: [[Double]] { cls ?? last_token_hidden ?? [] }
        }
        let roberta: Family
        let gpt2: Family
        let head: String
    }

    private func reference(_ family: ModelFamily) throws -> Reference.Family {
        let url = try LoaderTestAssets.fixture("tiny-reference", "json", subdirectory: "reference")
        let reference = try JSONDecoder().decode(Reference.self, from: Data(contentsOf: url))
        XCTAssertTrue(reference.head.hasPrefix("head V[c][h] = 0.05*sin(c*64 + h + 1), b[c] = 0.01*(c+1); labels i % 2"),
                      "the reference's head changed: \(reference.head)")
        return family == .gpt2 ? reference.gpt2 : reference.roberta
    }

    private func modelName(_ family: ModelFamily) -> String { family == .gpt2 ? "tiny-gpt2" : "tiny-roberta" }

    /// The reference texts tokenised by the factory's tokenizer (ids checked against the
    /// reference), as a batch for `config`.
    private func referenceBatch(_ ref: Reference.Family, directory: URL, config: EncoderConfig) throws -> TokenBatch {
        let tokenizer = try loadTokenizer(directory: directory)
        let encodings = ref.texts.map { tokenizer.encode($0, maxLength: config.maxSequenceLength) }
        XCTAssertEqual(encodings.map(\.ids), ref.input_ids, "\(config.family) token ids")
        XCTAssertEqual(tokenizer.padId, Int32(config.padTokenId), "\(config.family) pad id")
        return TokenBatch(encodings, config: config)
    }

    // MARK: Features

    private func features<T: ModelScalar>(_: T.Type, family: ModelFamily, tolerance: Double) throws {
        let directory = try LoaderTestAssets.tinyModelDirectory(modelName(family))
        defer { try? FileManager.default.removeItem(at: directory) }
        let ref = try reference(family)
        let model = try SequenceClassifier<T>.pretrained(directory: directory, classes: 2)
        XCTAssertEqual(model.config.family, family)
        let batch = try referenceBatch(ref, directory: directory, config: model.config)
        XCTAssertGreaterThan(Set(batch.lengths).count, 1, "the batch must exercise padding")
        let expected = ref.features.flatMap { $0 }
        // Pruned last layer (feature token only), then all tokens pooled by the family's default.
        model.forward(batch)
        let pruned = Array(model.features).map(Double.init)
        model.forward(batch, allTokens: true)
        let pooled = model.pooled(family.defaultPooling).map(Double.init)
        var worst = 0.0
        for (a, b) in zip(pruned, expected) { worst = max(worst, abs(a - b)) }
        print("\(family) \(T.self): max |Δ| of the feature states \(worst)")
        assertClose(pruned, expected, rtol: 0, atol: tolerance, "\(family) \(T.self) features (pruned)")
        assertClose(pooled, expected, rtol: 0, atol: tolerance, "\(family) \(T.self) features (\(family.defaultPooling) pooling)")
    }

    func testRoBERTaFirstTokenStatesFloat() throws { try features(Float.self, family: .roberta, tolerance: 1e-4) }
    func testRoBERTaFirstTokenStatesDouble() throws { try features(Double.self, family: .roberta, tolerance: 1e-9) }
    func testGPT2LastTokenStatesFloat() throws { try features(Float.self, family: .gpt2, tolerance: 1e-4) }
    func testGPT2LastTokenStatesDouble() throws { try features(Double.self, family: .gpt2, tolerance: 1e-9) }

    // MARK: Loss and gradients

    /// GPT-2's Conv1D weights: [in, out] in Hugging Face, (out, in) here.
    private func isTransposed(_ name: String, _ family: ModelFamily) -> Bool {
        family == .gpt2 && ["attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight"]
            .contains { name.hasSuffix($0) }
    }

    private func gradients<T: ModelScalar>(_: T.Type, family: ModelFamily, lossRtol: Double,
                                           gradRtol: Double, gradAtol: Double) throws {
        let directory = try LoaderTestAssets.tinyModelDirectory(modelName(family))
        defer { try? FileManager.default.removeItem(at: directory) }
        let ref = try reference(family)
        let classes = 2
        let model = try SequenceClassifier<T>.pretrained(directory: directory, classes: classes)
        // The reference's fixed head: V[c][h] = 0.05·sin(c·hidden + h + 1), b[c] = 0.01·(c + 1).
        let H = model.config.hidden
        let v = model.parameters.value("classifier.weight"), b = model.parameters.value("classifier.bias")
        for c in 0..<classes {
            for h in 0..<H { v[c * H + h] = T(0.05 * sin(Double(c * H + h + 1))) }
            b[c] = T(0.01 * Double(c + 1))
        }
        let batch = try referenceBatch(ref, directory: directory, config: model.config)
        model.zeroGradients()
        model.forward(batch)
        let loss = model.loss(labels: (0..<batch.batchSize).map { $0 % 2 })
        XCTAssertEqual(loss, ref.loss, accuracy: lossRtol * ref.loss, "\(family) loss")
        model.backward()
        var checked = 0, worst = 0.0, worstName = ""
        for (name, stats) in ref.grads {
            guard let entry = model.parameters.entry(name) else {
                XCTFail("reference gradient \(name) has no parameter here")
                continue
            }
            let transposed = isTransposed(name, family)
            XCTAssertEqual(entry.shape, transposed ? stats.shape.reversed() : stats.shape, name)
            let g = model.parameters.gradients.baseAddress! + entry.offset
            var sq = 0.0
            for i in 0..<entry.count { sq += Double(g[i]) * Double(g[i]) }
            let norm = sq.squareRoot()
            let error = abs(norm - stats.frobenius)
            XCTAssertLessThanOrEqual(error, gradRtol * stats.frobenius + gradAtol, "\(name): ‖∇‖ \(norm) vs \(stats.frobenius)")
            if stats.frobenius > 1e-6 { let rel = error / stats.frobenius; if rel > worst { worst = rel; worstName = name } }
            // The first four elements in Hugging Face's order: element (0, j) of an [in, out]
            // tensor is our (j, 0).
            let first4 = (0..<4).map { j in Double(g[transposed ? j * entry.shape[1] : j]) }
            assertClose(first4, stats.first4, rtol: 0, atol: gradRtol * stats.frobenius + gradAtol, "\(name) first four")
            checked += 1
        }
        print("\(family) \(T.self): loss \(loss) vs \(ref.loss); \(checked) gradient norms, worst relative error \(worst) (\(worstName))")
        XCTAssertEqual(checked, model.parameters.entries.filter { $0.group == .backbone }.count)
    }

    func testRoBERTaLossAndEveryGradientNormFloat() throws {
        try gradients(Float.self, family: .roberta, lossRtol: 1e-5, gradRtol: 1e-3, gradAtol: 1e-7)
    }
    func testRoBERTaLossAndEveryGradientNormDouble() throws {
        try gradients(Double.self, family: .roberta, lossRtol: 1e-10, gradRtol: 1e-8, gradAtol: 1e-14)
    }
    func testGPT2LossAndEveryGradientNormFloat() throws {
        try gradients(Float.self, family: .gpt2, lossRtol: 1e-5, gradRtol: 1e-3, gradAtol: 1e-7)
    }
    func testGPT2LossAndEveryGradientNormDouble() throws {
        try gradients(Double.self, family: .gpt2, lossRtol: 1e-10, gradRtol: 1e-8, gradAtol: 1e-14)
    }
}
