/// A batch of tokenised examples padded to its longest sequence (not to the maximum length).
public struct TokenBatch: Sendable {
    public let batchSize: Int
    /// Padded length T (the longest sequence of this batch).
    public let seqLen: Int
    /// (B, T) row-major: token ids, segment ids and position ids; padded slots hold the pad id.
    public var ids: [Int32]
    public var typeIds: [Int32]
    public var positionIds: [Int32]
    /// (B) number of real tokens of each example.
    public var lengths: [Int32]
    /// (B) position of the token whose final hidden state is the example's feature:
    /// 0 ([CLS]/<s>) for BERT and RoBERTa, the last real token for GPT-2.
    public var featurePositions: [Int32]

    public init(_ encodings: [Encoding], config: EncoderConfig) {
        batchSize = encodings.count
        let T = max(1, encodings.map(\.ids.count).max() ?? 1)
        seqLen = T
        let pad = Int32(config.padTokenId)
        ids = [Int32](repeating: pad, count: batchSize * T)
        typeIds = [Int32](repeating: 0, count: batchSize * T)
        // Padded positions: RoBERTa gives them padding_idx; the others 0 (they are masked anyway).
        positionIds = [Int32](repeating: config.family == .roberta ? pad : 0, count: batchSize * T)
        lengths = encodings.map { Int32(max(1, $0.ids.count)) }
        featurePositions = []
        for (b, e) in encodings.enumerated() {
            for t in 0..<e.ids.count {
                ids[b * T + t] = e.ids[t]
                typeIds[b * T + t] = config.typeVocabularySize > 0 ? e.typeIds[t] : 0
                positionIds[b * T + t] = Int32(config.firstPosition + t)
            }
            featurePositions.append(config.family == .gpt2 ? Int32(max(0, e.ids.count - 1)) : 0)
        }
    }

    /// Checks ids against the configuration (a wrong vocabulary would index out of the tables).
    public func validate(_ config: EncoderConfig) throws {
        try Self.check(length: seqLen, ids: ids, typeIds: typeIds, config: config)
    }

    /// The same checks on encodings before they are batched (every example of a split at
    /// once, without building padded batches).
    public static func validate(_ encodings: [Encoding], config: EncoderConfig) throws {
        for e in encodings {
            // Without token types the batch holds zeros, whatever the encoding says.
            try check(length: e.ids.count, ids: e.ids, typeIds: config.typeVocabularySize > 0 ? e.typeIds : [], config: config)
        }
    }

    private static func check(length: Int, ids: [Int32], typeIds: [Int32], config: EncoderConfig) throws {
        if length > config.maxSequenceLength {
            throw ModelError.invalidInput("a sequence of \(length) tokens exceeds the model's \(config.maxSequenceLength) positions; lower --max-length")
        }
        for id in ids where id < 0 || Int(id) >= config.vocabularySize {
            throw ModelError.invalidInput("token id \(id) is outside the model's vocabulary of \(config.vocabularySize); does the tokenizer belong to this model?")
        }
        for t in typeIds where t < 0 || (config.typeVocabularySize > 0 && Int(t) >= config.typeVocabularySize) {
            throw ModelError.invalidInput("token type \(t) is outside the model's \(config.typeVocabularySize) types")
        }
    }
}
