import Foundation
import XCTest
@testable import Model

/// The real all-MiniLM-L6-v2 against outputs of an independent implementation (Hugging Face
/// transformers in float64; Fixtures/reference/minilm-reference.json).
final class ReferenceTests: XCTestCase {
    struct Reference: Decodable {
        struct Embedding: Decodable { let text: String; let cls: [Double]; let mean_pooled_normalized: [Double] }
        struct GradientStats: Decodable { let shape: [Int]; let frobenius: Double; let sum: Double; let first4: [Double] }
        struct Gradients: Decodable {
            let texts: [String]; let labels: [Int]; let num_classes: Int
            let loss: Double; let logits: [[Double]]
            let grads: [String: GradientStats]
        }
        let embeddings: [Embedding]
        let gradients: Gradients
    }

    func reference() throws -> Reference {
        let url = try LoaderTestAssets.fixture("minilm-reference", "json", subdirectory: "reference")
        return try JSONDecoder().decode(Reference.self, from: Data(contentsOf: url))
    }

    private func embeddings<T: ModelScalar>(_: T.Type, tolerance: Double) throws {
        let directory = try LoaderTestAssets.miniLMDirectory()
        let tokenizer = try WordPieceTokenizer(directory: directory)
        let model = try SequenceClassifier<T>.pretrained(directory: directory, classes: 2)
        let ref = try reference()
        let batch = TokenBatch(ref.embeddings.map { tokenizer.encode($0.text, maxLength: 128) }, config: model.config)
        model.forward(batch, allTokens: true)
        let cls = model.pooled(.cls).map(Double.init), mean = model.pooled(.mean, normalize: true).map(Double.init)
        let H = model.config.hidden
        var worstCLS = 0.0, worstMean = 0.0
        for (i, e) in ref.embeddings.enumerated() {
            for j in 0..<H {
                worstCLS = max(worstCLS, abs(cls[i * H + j] - e.cls[j]))
                worstMean = max(worstMean, abs(mean[i * H + j] - e.mean_pooled_normalized[j]))
            }
        }
        print("\(T.self): max |Δ| [CLS] \(worstCLS), mean-pooled \(worstMean)")
        XCTAssertLessThan(worstCLS, tolerance)
        XCTAssertLessThan(worstMean, tolerance)
        // The pruned path (feature token only in the last layer) gives the same [CLS] state.
        model.forward(batch)
        let pruned = Array(model.features).map(Double.init)
        assertClose(pruned, cls, rtol: 0, atol: T.self == Float.self ? 1e-5 : 1e-12, "pruned [CLS]")
    }

    func testCLSAndMeanPooledEmbeddingsFloat() throws { try embeddings(Float.self, tolerance: 1e-4) }
    func testCLSAndMeanPooledEmbeddingsDouble() throws { try embeddings(Double.self, tolerance: 1e-9) }

    private func gradients<T: ModelScalar>(_: T.Type, lossRtol: Double, gradRtol: Double, gradAtol: Double) throws {
        let directory = try LoaderTestAssets.miniLMDirectory()
        let tokenizer = try WordPieceTokenizer(directory: directory)
        let ref = try reference().gradients
        let model = try SequenceClassifier<T>.pretrained(directory: directory, classes: ref.num_classes)
        // The fixed head of the reference: V[c][h] = 0.05·sin(c·hidden + h + 1), b[c] = 0.01·(c + 1).
        let H = model.config.hidden
        let v = model.parameters.value("classifier.weight"), b = model.parameters.value("classifier.bias")
        for c in 0..<ref.num_classes {
            for h in 0..<H { v[c * H + h] = T(0.05 * sin(Double(c * H + h + 1))) }
            b[c] = T(0.01 * Double(c + 1))
        }
        let batch = TokenBatch(ref.texts.map { tokenizer.encode($0, maxLength: 128) }, config: model.config)
        model.zeroGradients()
        model.forward(batch)
        let loss = model.loss(labels: ref.labels)
        XCTAssertEqual(loss, ref.loss, accuracy: lossRtol * ref.loss, "loss")
        assertClose(Array(model.logits).map(Double.init), ref.logits.flatMap { $0 }, rtol: lossRtol, atol: 1e-6, "logits")
        model.backward()
        var checked = 0, worst = 0.0, worstName = ""
        for (name, stats) in ref.grads {
            guard let entry = model.parameters.entry(name) else {
                XCTAssertTrue(name.hasPrefix("pooler."), "reference gradient \(name) has no parameter here")
                continue
            }
            XCTAssertEqual(entry.shape, stats.shape, name)
            let g = model.parameters.gradients.baseAddress! + entry.offset
            var sq = 0.0
            for i in 0..<entry.count { sq += Double(g[i]) * Double(g[i]) }
            let norm = sq.squareRoot()
            let error = abs(norm - stats.frobenius)
            XCTAssertLessThanOrEqual(error, gradRtol * stats.frobenius + gradAtol, "\(name): ‖∇‖ \(norm) vs \(stats.frobenius)")
            if stats.frobenius > 1e-6 { let rel = error / stats.frobenius; if rel > worst { worst = rel; worstName = name } }
            checked += 1
        }
        print("\(T.self): loss \(loss) vs \(ref.loss); \(checked) gradient norms, worst relative error \(worst) (\(worstName))")
        XCTAssertEqual(checked, model.parameters.entries.filter { $0.group == .backbone }.count)
    }

    func testLossAndEveryGradientNormFloat() throws {
        try gradients(Float.self, lossRtol: 1e-5, gradRtol: 1e-3, gradAtol: 1e-7)
    }
    func testLossAndEveryGradientNormDouble() throws {
        try gradients(Double.self, lossRtol: 1e-10, gradRtol: 1e-8, gradAtol: 1e-14)
    }
}
