import Foundation

/// A Hugging Face model directory opened once and checked before any unchecked code reads it:
/// config.json, the tokenizer files, and that the two agree. Every command that reads a model
/// (train, ntk, embed, tokenize, the linear probe) opens it through here.
///
/// The checks (release builds use -Ounchecked, so an id without a row in a table would write
/// past a buffer instead of stopping):
/// - every id the tokenizer can emit (vocabulary, added and special tokens) < `vocab_size`;
/// - a text pair's token types < `type_vocab_size` (families that have token types);
/// - `maxLength` ≤ the positions the table allows (RoBERTa's padding offset included).
public struct ModelDirectory: Sendable {
    public let url: URL
    public let config: EncoderConfig
    public let tokenizer: any TextTokenizer

    public init(_ url: URL) throws {
        self.url = url
        config = try EncoderConfig.load(directory: url)
        tokenizer = try loadTokenizer(directory: url)
        guard tokenizer.vocabularySize <= config.vocabularySize else {
            throw ModelError.invalidInput(
                "\(url.path): the tokenizer (\(tokenizerFiles)) emits token ids up to \(tokenizer.vocabularySize - 1), "
                + "but config.json's vocab_size is \(config.vocabularySize): ids ≥ \(config.vocabularySize) have no embedding row. "
                + "Use the tokenizer files that belong to this model (or a model whose vocab_size is at least \(tokenizer.vocabularySize))")
        }
    }

    /// The tokenizer's files in this directory, for messages.
    var tokenizerFiles: String {
        let names = config.family == .bert ? ["vocab.txt", "tokenizer_config.json"]
            : ["vocab.json", "merges.txt", "tokenizer.json", "tokenizer_config.json"]
        let present = names.filter { FileManager.default.fileExists(atPath: url.appendingPathComponent($0).path) }
        return present.joined(separator: ", ")
    }

    /// Checks what depends on the inputs: `maxLength` tokens fit the position table, and text
    /// pairs (when `hasPairs`) get token types the model has. `flag` names the length setting.
    public func checkInputs(maxLength: Int, hasPairs: Bool, flag: String = "--max-length") throws {
        try Check.integer(flag, maxLength, in: 3...max(3, config.maxSequenceLength),
                          hint: "\(url.lastPathComponent)/config.json has \(config.maxPositions) positions"
                              + (config.firstPosition > 0 ? " (the first \(config.firstPosition) reserved)" : ""))
        guard hasPairs, config.typeVocabularySize > 0 else { return }
        let largestType = tokenizer.encode("a", pair: "b", maxLength: 8).typeIds.max() ?? 0
        guard Int(largestType) < config.typeVocabularySize else {
            throw ModelError.invalidInput(
                "\(url.path): the data has text pairs, which the tokenizer marks with token type \(largestType), "
                + "but config.json's type_vocab_size is \(config.typeVocabularySize); use single texts, or a model with segment embeddings")
        }
    }

    /// The classifier with this directory's weights (shapes checked against config.json), a
    /// `classes`-way head and LoRA factors initialised from `seed`.
    public func classifier<T: ModelScalar>(classes: Int, lora: LoRAConfig? = nil, seed: UInt64 = 0) throws
        -> SequenceClassifier<T> {
        try Check.integer("classes", classes, in: 1...100_000)
        if let lora {
            try Check.integer("--lora-r", lora.rank, in: 1...config.hidden,
                              hint: "a rank above the hidden size \(config.hidden) adds nothing and only costs memory")
            try Check.real("--lora-alpha", lora.alpha, in: 0...1e6, openBelow: true)
        }
        return try SequenceClassifier<T>.pretrained(directory: url, classes: classes, lora: lora, seed: seed, config: config)
    }
}
