import Foundation
import XCTest
@testable import Model

/// Shared helpers of the Model tests.
enum TestSupport {
    /// A tiny configuration of `family` for gradient checks (GPT-2: no token types, tanh GELU).
    static func tinyConfig(family: ModelFamily = .bert, dropout: Double = 0) -> EncoderConfig {
        EncoderConfig(family: family, layers: 2, hidden: 8, heads: 2, intermediate: 12, vocabularySize: 23,
                      maxPositions: 16, typeVocabularySize: family == .bert ? 2 : family == .roberta ? 1 : 0,
                      layerNormEps: 1e-5, hiddenDropout: dropout, attentionDropout: dropout,
                      activation: family == .gpt2 ? .geluTanh : .gelu, padTokenId: family == .bert ? 0 : 1)
    }

    /// Fills every parameter with N(0, scale²) values; LayerNorm gains around 1.
    static func randomize<T: ModelScalar>(_ store: ParameterStore<T>, seed: UInt64, scale: Double = 0.3) {
        var rng = RandomGenerator(seed: seed)
        for e in store.entries {
            let p = store.values.baseAddress! + e.offset
            let isGain = e.name.hasSuffix("LayerNorm.weight") || e.name.contains("ln_") && e.name.hasSuffix(".weight")
            for i in 0..<e.count { p[i] = T((isGain ? 1 : 0) + scale * rng.nextGaussian()) }
        }
    }

    /// A batch of 3 examples of different lengths (padding exercised), ids < vocab.
    static func tinyBatch(_ config: EncoderConfig, lengths: [Int] = [7, 4, 5], seed: UInt64 = 5) -> TokenBatch {
        var rng = RandomGenerator(seed: seed)
        let encodings = lengths.map { n -> Encoding in
            let ids = (0..<n).map { _ in Int32(2 + rng.uniform(below: config.vocabularySize - 2)) }
            let types = (0..<n).map { i in Int32(config.typeVocabularySize > 1 && i >= n / 2 ? 1 : 0) }
            return Encoding(ids: ids, typeIds: types)
        }
        return TokenBatch(encodings, config: config)
    }
}

/// Asserts |a − b| ≤ atol + rtol·|b| elementwise, reporting the worst index.
func assertClose(_ a: [Double], _ b: [Double], rtol: Double, atol: Double, _ what: String,
                 file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, "\(what): count", file: file, line: line)
    var worst = 0.0, worstIndex = -1
    for i in 0..<min(a.count, b.count) {
        let excess = abs(a[i] - b[i]) - (atol + rtol * abs(b[i]))
        if excess > worst { worst = excess; worstIndex = i }
    }
    if worstIndex >= 0 {
        XCTFail("\(what): index \(worstIndex): \(a[worstIndex]) vs \(b[worstIndex])", file: file, line: line)
    }
}
