import Foundation

extension ModelFamily {
    /// The family of the model in `directory`, from config.json's "model_type".
    /// Throws `ModelError` naming config.json when it is missing, is not JSON, has no
    /// "model_type", or names a family other than bert, roberta and gpt2.
    public init(directory: URL) throws {
        let (json, path) = try EncoderConfig.configJSON(directory: directory)
        try self.init(modelType: json["model_type"], path: path)
    }

    /// The pooling that gives the family's classifier feature φ: the first token ([CLS] / <s>)
    /// for BERT and RoBERTa, the last real token for GPT-2.
    public var defaultPooling: Pooling { self == .gpt2 ? .last : .cls }
}

/// Loads the tokenizer of the model in `directory`, picked by config.json's "model_type":
/// WordPiece (vocab.txt, optional tokenizer_config.json) for bert; byte-level BPE (vocab.json,
/// merges.txt, optional tokenizer.json and tokenizer_config.json) for roberta and gpt2.
/// Errors name the directory's file that is missing or wrong (`ModelError`,
/// `WordPieceTokenizerError`, `BytePairTokenizerError`).
public func loadTokenizer(directory: URL) throws -> any TextTokenizer {
    switch try ModelFamily(directory: directory) {
    case .bert: return try WordPieceTokenizer(directory: directory)
    case .roberta, .gpt2: return try BytePairTokenizer(directory: directory)
    }
}
