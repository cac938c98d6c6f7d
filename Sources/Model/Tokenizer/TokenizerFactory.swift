import Foundation

/// The tokenizer of a Hugging Face model directory, chosen by config.json's model_type:
/// WordPiece (vocab.txt) for BERT, byte-level BPE (vocab.json + merges.txt) for RoBERTa/GPT-2.
public func loadTokenizer(directory: URL) throws -> any TextTokenizer {
    let config = try EncoderConfig.load(directory: directory)
    switch config.family {
    case .bert:
        let vocab = directory.appendingPathComponent("vocab.txt")
        guard FileManager.default.fileExists(atPath: vocab.path) else {
            throw ModelError.missingFile(vocab.path, hint: "a BERT model directory needs its WordPiece vocabulary vocab.txt")
        }
        return try WordPieceTokenizer(directory: directory)
    case .roberta, .gpt2:
        return try BytePairTokenizer(directory: directory)
    }
}
