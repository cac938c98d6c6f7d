import Foundation
import Model

/// The MiniLM tokenizer ($LPFT_FUZZ_WORDPIECE_MODEL), loaded once.
let referenceTokenizer: WordPieceTokenizer = {
    do { return try WordPieceTokenizer(directory: requiredFolder("LPFT_FUZZ_WORDPIECE_MODEL")) } catch {
        FileHandle.standardError.write(Data("fuzz: \(error.localizedDescription)\n".utf8))
        exit(2)
    }
}()

/// Input: byte 0 picks the mode, byte 1 the maximum length (signed).
/// - even mode: the rest is text [0x00 pair text], encoded with the MiniLM vocabulary;
/// - odd mode: the rest is vocab.txt [0x00 tokenizer_config.json], loaded as a model folder
///   and used to encode a fixed sentence pair.
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
        _ = referenceTokenizer.tokenize(text)
    } else {
        let parts = sections(rest, limit: 2)
        let directory = scratchDirectory("wordpiece")
        _ = scratchFile("wordpiece/vocab.txt", parts[0])
        if parts.count > 1 { _ = scratchFile("wordpiece/tokenizer_config.json", parts[1]) }
        guard let tokenizer = try? WordPieceTokenizer(directory: directory) else { return }
        let encoding = tokenizer.encode("Hello, [MASK] wörld! 東京 unaffable", pair: "a ##b [SEP] c", maxLength: maxLength)
        precondition(encoding.ids.allSatisfy { $0 >= 0 && Int($0) < tokenizer.vocabularySize })
    }
}
