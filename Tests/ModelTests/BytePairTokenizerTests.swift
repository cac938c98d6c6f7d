import Foundation
import XCTest
@testable import Model

/// Byte-level BPE (GPT-2 / RoBERTa) against Hugging Face's ids.
/// Fixtures (Fixtures/tiny, made by make_bpe_fixture.py):
/// - tiny-roberta/, tiny-gpt2/: tokenizer files of the tiny reference models;
/// - tiny-reference-ids.json: ids computed by transformers (token-id part of tiny-reference.json);
/// - bpe-reference.json: ids and pre-tokenizer splits computed by `tokenizers` for tricky strings.
final class BytePairTokenizerTests: XCTestCase {
    // MARK: Fixture cases

    func testTinyReferenceIdsFromTransformers() throws {
        let reference = try decodeFixture(TinyReference.self, "tiny-reference-ids.json")
        let roberta = try tokenizer("tiny-roberta")
        let gpt2 = try tokenizer("tiny-gpt2")
        XCTAssertEqual(reference.roberta.texts.count, reference.roberta.inputIds.count)
        for (text, ids) in zip(reference.roberta.texts, reference.roberta.inputIds) {
            XCTAssertEqual(roberta.encode(text, maxLength: 512).ids, ids, "roberta \(text.debugDescription)")
        }
        let pairs = try XCTUnwrap(reference.roberta.pairs)
        XCTAssertEqual(pairs.count, 4)
        for pair in pairs {
            XCTAssertEqual(roberta.encode(pair.a, pair: pair.b, maxLength: pair.maxLength).ids, pair.inputIds,
                           "roberta pair \(pair.a.debugDescription) / \(pair.b.debugDescription)")
        }
        XCTAssertEqual(reference.gpt2.texts.count, reference.gpt2.inputIds.count)
        for (text, ids) in zip(reference.gpt2.texts, reference.gpt2.inputIds) {
            XCTAssertEqual(gpt2.encode(text, maxLength: 512).ids, ids, "gpt2 \(text.debugDescription)")
        }
    }

    func testTrickyStringsTruncationAndPairs() throws {
        let reference = try decodeFixture(BPEReference.self, "bpe-reference.json")
        for (name, cases) in [("tiny-roberta", reference.roberta), ("tiny-gpt2", reference.gpt2)] {
            let tokenizer = try tokenizer(name)
            XCTAssertGreaterThan(cases.singles.count, 50)
            for single in cases.singles {
                let encoding = tokenizer.encode(single.text, maxLength: 10_000)
                XCTAssertEqual(encoding.ids, single.ids, "\(name) \(single.text.debugDescription)")
                XCTAssertEqual(encoding.typeIds, [Int32](repeating: 0, count: single.ids.count))
            }
            for truncated in cases.truncated {
                XCTAssertEqual(tokenizer.encode(truncated.text, maxLength: truncated.maxLength).ids, truncated.ids,
                               "\(name) \(truncated.text.debugDescription) max \(truncated.maxLength)")
            }
            for pair in cases.pairs {
                let encoding = tokenizer.encode(pair.a, pair: pair.b, maxLength: pair.maxLength)
                XCTAssertEqual(encoding.ids, pair.ids,
                               "\(name) \(pair.a.debugDescription) / \(pair.b.debugDescription) max \(pair.maxLength)")
                XCTAssertEqual(encoding.typeIds, [Int32](repeating: 0, count: pair.ids.count))
            }
        }
    }

    /// tokenizer_config.json's add_prefix_space wins over tokenizer.json's (which says false).
    func testAddPrefixSpaceFromTokenizerConfig() throws {
        let reference = try decodeFixture(BPEReference.self, "bpe-reference.json")
        let directory = try copyOfFixture("tiny-roberta")
        defer { try? FileManager.default.removeItem(at: directory) }
        try editJSON(directory.appendingPathComponent("tokenizer_config.json")) { $0["add_prefix_space"] = true }
        let tokenizer = try BytePairTokenizer(directory: directory)
        XCTAssertTrue(tokenizer.addsPrefixSpace)
        for single in reference.robertaAddPrefixSpace {
            XCTAssertEqual(tokenizer.encode(single.text, maxLength: 10_000).ids, single.ids, single.text.debugDescription)
        }
    }

    /// Without the key in tokenizer_config.json, tokenizer.json's ByteLevel setting applies.
    func testAddPrefixSpaceFromTokenizerJSON() throws {
        let reference = try decodeFixture(BPEReference.self, "bpe-reference.json")
        let directory = try copyOfFixture("tiny-roberta")
        defer { try? FileManager.default.removeItem(at: directory) }
        try editJSON(directory.appendingPathComponent("tokenizer_config.json")) { $0["add_prefix_space"] = nil }
        try editJSON(directory.appendingPathComponent("tokenizer.json")) { pipeline in
            var preTokenizer = pipeline["pre_tokenizer"] as? [String: Any] ?? [:]
            preTokenizer["add_prefix_space"] = true
            pipeline["pre_tokenizer"] = preTokenizer
        }
        let tokenizer = try BytePairTokenizer(directory: directory)
        XCTAssertTrue(tokenizer.addsPrefixSpace)
        for single in reference.robertaAddPrefixSpace {
            XCTAssertEqual(tokenizer.encode(single.text, maxLength: 10_000).ids, single.ids, single.text.debugDescription)
        }
    }

    func testAddedTokensWithStripAndSingleWordFlags() throws {
        let raw = try fixtureJSON("bpe-reference.json")
        let reference = try decodeFixture(BPEReference.self, "bpe-reference.json")
        let variants = [("roberta_stripped_added_tokens", reference.robertaStrippedAddedTokens),
                        ("roberta_single_word_added_token", reference.robertaSingleWordAddedToken)]
        for (key, variant) in variants {
            let directory = try copyOfFixture("tiny-roberta")
            defer { try? FileManager.default.removeItem(at: directory) }
            let addedTokens = (raw[key] as? [String: Any])?["added_tokens"]
            XCTAssertNotNil(addedTokens, key)
            try editJSON(directory.appendingPathComponent("tokenizer.json")) { $0["added_tokens"] = addedTokens }
            let tokenizer = try BytePairTokenizer(directory: directory)
            for single in variant.cases {
                XCTAssertEqual(tokenizer.encode(single.text, maxLength: 10_000).ids, single.ids,
                               "\(key) \(single.text.debugDescription)")
            }
        }
    }

    // MARK: Pre-tokenizer

    func testPreTokenizerMatchesHuggingFaceSplits() throws {
        let reference = try decodeFixture(BPEReference.self, "bpe-reference.json")
        XCTAssertGreaterThan(reference.preTokenizer.count, 60)
        for probe in reference.preTokenizer {
            let pieces = ByteLevel.preTokenize(probe.text).map { ByteLevel.token(ofBytes: $0.utf8) }
            XCTAssertEqual(pieces, probe.pieces, probe.text.debugDescription)
        }
    }

    /// Expected splits written by hand from the regex
    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
    func testPreTokenizerHandWrittenCases() {
        let cases: [(String, [String])] = [
            ("", []),
            ("Hello world", ["Hello", " world"]),
            // \s+(?!\S) leaves the last space for the next word; at the end it takes all.
            ("  double  spaces", [" ", " double", " ", " spaces"]),
            ("end  ", ["end", "  "]),
            ("   ", ["   "]),
            // A lone tab before a word is \s+ on its own; the word gets no prefix (only U+0020 is one).
            ("\ttab", ["\t", "tab"]),
            ("x \t y", ["x", " \t", " y"]),
            ("line\nbreak\n", ["line", "\n", "break", "\n"]),
            ("a\n\n b", ["a", "\n\n", " b"]),
            // Contractions are lower-case only; an apostrophe otherwise is punctuation.
            ("don't I'M we'll 're'm", ["don", "'t", " I", "'", "M", " we", "'ll", " '", "re", "'m"]),
            ("x!'s ''s", ["x", "!'", "s", " ''", "s"]),
            ("123,456.78", ["123", ",", "456", ".", "78"]),
            ("abc123 ½ Ⅻ", ["abc", "123", " ½", " Ⅻ"]),
            (" !? ...", [" !?", " ..."]),
            // é precomposed is a letter; a combining accent (Mn) is not.
            ("naïve cafe\u{301}s", ["naïve", " cafe", "\u{301}", "s"]),
            ("😀👍🏽 ok", ["😀👍🏽", " ok"]),
            ("中文 text", ["中文", " text"]),
            // U+00A0 is White_Space; U+200B is not.
            ("!\u{A0}!", ["!", "\u{A0}", "!"]),
            ("!\u{200B}!", ["!\u{200B}!"]),
        ]
        for (text, expected) in cases {
            XCTAssertEqual(ByteLevel.preTokenize(text), expected, text.debugDescription)
        }
    }

    // MARK: Byte-level alphabet

    func testByteToUnicodeIsTheDocumentedBijection() throws {
        let table = ByteLevel.byteToScalar
        XCTAssertEqual(table.count, 256)
        XCTAssertEqual(Set(table.map(\.value)).count, 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            let printable = (33...126).contains(byte) || (161...172).contains(byte) || (174...255).contains(byte)
            if printable {
                XCTAssertEqual(table[byte].value, UInt32(byte), "byte \(byte)")
            } else {
                XCTAssertEqual(table[byte].value, next, "byte \(byte)")
                next += 1
            }
            XCTAssertEqual(ByteLevel.scalarToByte[table[byte].value], UInt8(byte))
        }
        XCTAssertEqual(next, 256 + 68)   // 33 + 34 + 1 remapped bytes
        XCTAssertEqual(table[0x20], "Ġ")
        XCTAssertEqual(table[0x0A], "Ċ")
        XCTAssertEqual(table[0xAD], "\u{143}")
        XCTAssertEqual(ByteLevel.token(ofBytes: Array(" naïve\n".utf8)), "ĠnaÃ¯veĊ")
        XCTAssertEqual(ByteLevel.bytes(ofToken: "ĠnaÃ¯veĊ"), Array(" naïve\n".utf8))
        XCTAssertEqual(ByteLevel.bytes(ofToken: "é"), [0xE9])   // a scalar of the alphabet, not UTF-8 "é"
        XCTAssertNil(ByteLevel.bytes(ofToken: "€"))   // outside the alphabet
        XCTAssertNil(ByteLevel.bytes(ofToken: " "))   // the space byte is written "Ġ"
    }

    // MARK: Loading

    func testFamilySpecialTokensAndPadRule() throws {
        let roberta = try tokenizer("tiny-roberta")
        XCTAssertEqual(roberta.family, .roberta)
        XCTAssertEqual(roberta.wrappingIds?.begin, 0)
        XCTAssertEqual(roberta.wrappingIds?.separator, 2)
        XCTAssertEqual(roberta.padId, 1)
        XCTAssertEqual(roberta.vocabularySize, 1200)
        XCTAssertFalse(roberta.addsPrefixSpace)
        XCTAssertEqual(roberta.encode("", maxLength: 0).ids, [0, 2])   // never less than the special tokens

        let gpt2 = try tokenizer("tiny-gpt2")
        XCTAssertEqual(gpt2.family, .gpt2)
        XCTAssertNil(gpt2.wrappingIds)
        XCTAssertEqual(gpt2.padId, 1)   // config.json pad_token_id (the fixture's padding note: pad id 1)
        XCTAssertEqual(gpt2.vocabularySize, 1200)

        // Without pad_token_id in config.json: tokenizer_config.json's "<pad>" (id 1 in vocab.json) …
        let directory = try copyOfFixture("tiny-gpt2")
        defer { try? FileManager.default.removeItem(at: directory) }
        try editJSON(directory.appendingPathComponent("config.json")) { $0["pad_token_id"] = nil }
        XCTAssertEqual(try BytePairTokenizer(directory: directory).padId, 1)
        // … without a pad_token either: config.json eos_token_id 2.
        try editJSON(directory.appendingPathComponent("tokenizer_config.json")) { $0["pad_token"] = nil }
        XCTAssertEqual(try BytePairTokenizer(directory: directory).padId, 2)
        try editJSON(directory.appendingPathComponent("config.json")) { $0["eos_token_id"] = nil }
        XCTAssertEqual(try BytePairTokenizer(directory: directory).padId, 2)   // tokenizer_config "</s>"
        try editJSON(directory.appendingPathComponent("tokenizer_config.json")) { $0["eos_token"] = nil }
        XCTAssertThrowsError(try BytePairTokenizer(directory: directory)) { error in
            XCTAssertEqual(error as? BytePairTokenizerError, .noPadToken(directory: directory.path))
        }
    }

    func testMissingAndCorruptFilesAreNamed() throws {
        for name in ["vocab.json", "merges.txt", "config.json"] {
            let directory = try copyOfFixture("tiny-roberta")
            defer { try? FileManager.default.removeItem(at: directory) }
            try FileManager.default.removeItem(at: directory.appendingPathComponent(name))
            XCTAssertThrowsError(try BytePairTokenizer(directory: directory)) { error in
                XCTAssertEqual(error as? BytePairTokenizerError, .missingFile(name: name, directory: directory.path))
                let message = error.localizedDescription
                XCTAssertTrue(message.hasPrefix("\(name) not found in \(directory.path)"), message)
                XCTAssertTrue(message.contains("needs config.json, vocab.json and merges.txt"), message)
            }
        }

        let directory = try copyOfFixture("tiny-roberta")
        defer { try? FileManager.default.removeItem(at: directory) }
        let vocabulary = directory.appendingPathComponent("vocab.json")
        let merges = directory.appendingPathComponent("merges.txt")
        let goodVocabulary = try Data(contentsOf: vocabulary)
        let goodMerges = try String(contentsOf: merges, encoding: .utf8)

        try Data("{\"a\": 0,".utf8).write(to: vocabulary)
        assertThrows(.corruptFile(path: vocabulary.path, problem: "not a JSON object"), directory)
        try Data("{\"a\": \"zero\"}".utf8).write(to: vocabulary)
        assertThrows(.corruptFile(path: vocabulary.path,
                                  problem: "token \"a\" has id zero, not an integer in 0..<2^31"), directory)
        try goodVocabulary.write(to: vocabulary)

        // Line 1 is "#version: 0.2" (skipped); line 3 is broken.
        var lines = goodMerges.components(separatedBy: "\n")
        XCTAssertTrue(lines[0].hasPrefix("#version"))
        lines[2] = "Ġa"
        try lines.joined(separator: "\n").write(to: merges, atomically: true, encoding: .utf8)
        assertThrows(.badMerge(path: merges.path, line: 3, text: "Ġa",
                               problem: "is not two tokens separated by one space"), directory)
        lines[2] = "Ġ zzzz"
        try lines.joined(separator: "\n").write(to: merges, atomically: true, encoding: .utf8)
        assertThrows(.badMerge(path: merges.path, line: 3, text: "Ġ zzzz",
                               problem: "has \"zzzz\" not in vocab.json"), directory)
        try goodMerges.write(to: merges, atomically: true, encoding: .utf8)

        try editJSON(directory.appendingPathComponent("config.json")) { $0["model_type"] = "bert" }
        assertThrows(.unsupportedModelType("bert", path: directory.appendingPathComponent("config.json").path),
                     directory)
    }

    // MARK: Cache and threads

    /// A warm cache and concurrent callers give the ids of a cold tokenizer; 10k sentences.
    func testCachedAndConcurrentEncodingAgree() throws {
        let reference = try decodeFixture(BPEReference.self, "bpe-reference.json")
        let texts = reference.roberta.singles.map(\.text)
        let sentences = (0..<10_000).map { "\(texts[$0 % texts.count]) \($0) \(texts[($0 * 7) % texts.count])" }
        let cold = try tokenizer("tiny-roberta")
        let start = Date()
        let expected = sentences.map { cold.encode($0, maxLength: 512).ids }
        let seconds = Date().timeIntervalSince(start)
        print("BytePairTokenizer: 10k sentences (cold cache) in \(String(format: "%.3f", seconds)) s")
        XCTAssertLessThan(seconds, 10, "tokenising should take well under a second")

        let warm = try tokenizer("tiny-roberta")
        _ = sentences.prefix(500).map { warm.encode($0, maxLength: 512) }
        var results = [[[Int32]]](repeating: [], count: 4)
        results.withUnsafeMutableBufferPointer { slots in
            DispatchQueue.concurrentPerform(iterations: 4) { worker in
                slots[worker] = sentences.map { warm.encode($0, maxLength: 512).ids }
            }
        }
        for result in results { XCTAssertEqual(result, expected) }
    }

    // MARK: Helpers

    private func fixtureURL(_ name: String) throws -> URL {
        try XCTUnwrap(Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures/tiny"),
                      "fixture Fixtures/tiny/\(name) missing from the test bundle")
    }

    private func tokenizer(_ name: String) throws -> BytePairTokenizer {
        try BytePairTokenizer(directory: try fixtureURL(name))
    }

    private func decodeFixture<T: Decodable>(_ type: T.Type, _ name: String) throws -> T {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(type, from: Data(contentsOf: try fixtureURL(name)))
    }

    private func fixtureJSON(_ name: String) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: try fixtureURL(name)))
        return try XCTUnwrap(object as? [String: Any])
    }

    /// A writable copy of a fixture model directory in a fresh temporary directory.
    private func copyOfFixture(_ name: String) throws -> URL {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("bpe-test-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: try fixtureURL(name), to: directory)
        return directory
    }

    private func editJSON(_ url: URL, _ edit: (inout [String: Any]) -> Void) throws {
        var object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        edit(&object)
        try JSONSerialization.data(withJSONObject: object).write(to: url)
    }

    private func assertThrows(_ expected: BytePairTokenizerError, _ directory: URL,
                              file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try BytePairTokenizer(directory: directory), file: file, line: line) { error in
            XCTAssertEqual(error as? BytePairTokenizerError, expected, file: file, line: line)
        }
    }
}

// MARK: Fixture layouts

private struct SingleCase: Decodable {
    let text: String
    let ids: [Int32]
}

private struct TruncatedCase: Decodable {
    let text: String
    let maxLength: Int
    let ids: [Int32]
}

private struct PairCase: Decodable {
    let a: String
    let b: String
    let maxLength: Int
    let ids: [Int32]
}

private struct FamilyCases: Decodable {
    let singles: [SingleCase]
    let truncated: [TruncatedCase]
    let pairs: [PairCase]
}

private struct VariantCases: Decodable {
    let cases: [SingleCase]
}

private struct PreTokenizerCase: Decodable {
    let text: String
    let pieces: [String]
}

private struct BPEReference: Decodable {
    let roberta: FamilyCases
    let gpt2: FamilyCases
    let robertaAddPrefixSpace: [SingleCase]
    let robertaStrippedAddedTokens: VariantCases
    let robertaSingleWordAddedToken: VariantCases
    let preTokenizer: [PreTokenizerCase]
}

private struct TinyReference: Decodable {
    struct Pair: Decodable {
        let a: String
        let b: String
        let maxLength: Int
        let inputIds: [Int32]
    }
    struct Family: Decodable {
        let texts: [String]
        let inputIds: [[Int32]]
        let pairs: [Pair]?
    }
    let roberta: Family
    let gpt2: Family
}
