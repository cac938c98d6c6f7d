import Foundation
import Model

/// The tiny RoBERTa tokenizer ($LPFT_FUZZ_BYTEPAIR_MODEL), loaded once.
let referenceTokenizer: BytePairTokenizer = {
    do { return try BytePairTokenizer(directory: requiredFolder("LPFT_FUZZ_BYTEPAIR_MODEL")) } catch {
        FileHandle.standardError.write(Data("fuzz: \(error.localizedDescription)\n".utf8))
        exit(2)
    }
}()

/// Files of a model folder, in the order of the input's 0x00-separated sections.
let modelFileNames = ["config.json", "vocab.json", "merges.txt", "tokenizer.json", "tokenizer_config.json"]

/// Input: byte 0 picks the mode, byte 1 the maximum length (signed).
/// - even mode: the rest is text [0x00 pair text], encoded with the tiny RoBERTa vocabulary;
/// - odd mode: the rest is config.json 0x00 vocab.json 0x00 merges.txt [0x00 tokenizer.json
///   [0x00 tokenizer_config.json]], loaded as a model folder and used to encode a fixed pair.
func fuzzOneInput(_ bytes: [UInt8]) {
    guard bytes.count >= 2 else { return }
    let maxLength = Int(Int8(bitPattern: bytes[1]))
    let rest = bytes[2...]
    if bytes[0] % 2 == 0 {
        let parts = sections(rest, limit: 2)
        let text = String(decoding: parts[0], as: UTF8.self)
        let pair = parts.count > 1 ? String(decoding: parts[1], as: UTF8.self) : nil
        let encoding = referenceTokenizer.encode(text, pair: pair, maxLength: maxLength)
        precondition(encoding.ids.allSatisfy { $0 >= 0 && Int($0) < referenceTokenizer.vocabularySize })
    } else {
        let parts = sections(rest, limit: modelFileNames.count)
        let directory = scratchDirectory("bytepair")
        for (name, content) in zip(modelFileNames, parts) { _ = scratchFile("bytepair/\(name)", content) }
        guard let tokenizer = try? BytePairTokenizer(directory: directory) else { return }
        let encoding = tokenizer.encode(" Hello, <mask> wörld! 東京 \u{1F600}", pair: "<s> it's  a\ttest</s>", maxLength: maxLength)
        precondition(encoding.ids.allSatisfy { $0 >= 0 && Int($0) < tokenizer.vocabularySize })
    }
}
