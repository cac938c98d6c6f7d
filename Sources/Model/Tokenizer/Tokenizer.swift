/// Token ids of one example as the encoder consumes them.
public struct Encoding: Equatable, Sendable {
    /// Token ids including the family's special tokens ([CLS] … [SEP], <s> … </s>, …).
    public var ids: [Int32]
    /// Segment ids: 0 for the first text (and its special tokens), 1 for the second of a pair
    /// where the family has token types (BERT); all 0 otherwise.
    public var typeIds: [Int32]

    public init(ids: [Int32], typeIds: [Int32]) {
        precondition(ids.count == typeIds.count)
        self.ids = ids
        self.typeIds = typeIds
    }
}

/// A tokenizer of one model family: text (or a text pair) → ids with special tokens, truncated
/// to `maxLength` tokens in all (longest-first for pairs, as Hugging Face truncates).
public protocol TextTokenizer: Sendable {
    func encode(_ text: String, pair: String?, maxLength: Int) -> Encoding
    /// Id used to pad batches (the model masks padded positions out).
    var padId: Int32 { get }
    var vocabularySize: Int { get }
}

extension TextTokenizer {
    public func encode(_ text: String, maxLength: Int = 128) -> Encoding {
        encode(text, pair: nil, maxLength: maxLength)
    }
}
