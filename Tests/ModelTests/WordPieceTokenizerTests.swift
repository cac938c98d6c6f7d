import XCTest
@testable import Model

/// WordPieceTokenizer against Hugging Face (fixtures) and hand-checked cases on a tiny vocabulary.
final class WordPieceTokenizerTests: XCTestCase {
    /// One Hugging Face tokenization: ids and token types with specials, and (extra fixture, single
    /// texts) the word pieces without specials.
    private struct ReferenceCase: Decodable {
        let text: String
        let pair: String?
        let max_length: Int
        let input_ids: [Int32]
        let token_type_ids: [Int32]
        let tokens: [String]?
    }

    private func loadCases(_ name: String) throws -> [ReferenceCase] {
        let url = try LoaderTestAssets.fixture(name, "json", subdirectory: "tokenization")
        return try JSONDecoder().decode([ReferenceCase].self, from: Data(contentsOf: url))
    }

    private func assertMatchesReference(_ cases: [ReferenceCase], _ tokenizer: WordPieceTokenizer,
                                        file: StaticString = #filePath, line: UInt = #line) {
        for (index, reference) in cases.enumerated() {
            let label = "case \(index): \(reference.text.debugDescription) / \(reference.pair?.debugDescription ?? "-") max \(reference.max_length)"
            let encoding = tokenizer.encode(reference.text, pair: reference.pair, maxLength: reference.max_length)
            XCTAssertEqual(encoding.ids, reference.input_ids, label, file: file, line: line)
            XCTAssertEqual(encoding.typeIds, reference.token_type_ids, label, file: file, line: line)
            if let tokens = reference.tokens {
                XCTAssertEqual(tokenizer.tokenize(reference.text), tokens, label, file: file, line: line)
            }
        }
    }

    // MARK: Reference: Hugging Face on the real all-MiniLM-L6-v2 vocabulary

    /// minilm-tokenization.json: the 13 cases of ../shared/reference/minilm-reference.json
    /// (Hugging Face transformers), including truncation and pairs.
    func testMatchesHuggingFaceReference() throws {
        let tokenizer = try WordPieceTokenizer(directory: LoaderTestAssets.miniLMDirectory())
        let cases = try loadCases("minilm-tokenization")
        XCTAssertEqual(cases.count, 13)
        assertMatchesReference(cases, tokenizer)
    }

    /// minilm-tokenization-extra.json (make_fixture.py, Hugging Face tokenizers 0.23.3): emoji,
    /// tabs, Unicode spaces and controls, Arabic, Devanagari, Hangul, kana, CJK, combining marks,
    /// Greek sigma, special tokens in the text, 100/101-scalar words, and a grid of pair truncations.
    func testMatchesHuggingFaceOnUnusualTextAndPairTruncation() throws {
        let tokenizer = try WordPieceTokenizer(directory: LoaderTestAssets.miniLMDirectory())
        let cases = try loadCases("minilm-tokenization-extra")
        XCTAssertEqual(cases.count, 189)
        assertMatchesReference(cases, tokenizer)
    }

    func testMiniLMSpecialIdsAndVocabulary() throws {
        let tokenizer = try WordPieceTokenizer(directory: LoaderTestAssets.miniLMDirectory())
        // Lines of the standard BERT uncased vocab.txt (0-based).
        XCTAssertEqual([tokenizer.padId, tokenizer.unkId, tokenizer.clsId, tokenizer.sepId, tokenizer.maskId],
                       [0, 100, 101, 102, 103])
        XCTAssertEqual(tokenizer.vocabularySize, 30522)
        XCTAssertEqual(tokenizer.id(of: "the"), 1996)
        XCTAssertEqual(tokenizer.id(of: "##s"), 2015)
        XCTAssertEqual(tokenizer.token(of: 1996), "the")
        XCTAssertTrue(tokenizer.lowercase)
        XCTAssertTrue(tokenizer.stripAccents)
    }

    // MARK: Hand-checked cases on a tiny vocabulary

    private static let tinyVocabulary = [
        "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",         // 0-4
        "un", "##aff", "##able", "hello", "cafe",             // 5-9
        "中", "文", ",", "!", "a",                             // 10-14
        "##a", "b", "hi", "there", "$",                       // 15-19
        "€5", "##b", "¿", "?", "world",                       // 20-24
        "Caf\u{E9}",                                          // 25
    ]

    private var temporaryDirectory: URL!

    override func setUpWithError() throws {
        temporaryDirectory = FileManager.default.temporaryDirectory
            .appendingPathComponent("WordPieceTokenizerTests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: temporaryDirectory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: temporaryDirectory)
    }

    private func writeVocabulary(_ tokens: [String] = tinyVocabulary) throws -> URL {
        let url = temporaryDirectory.appendingPathComponent("vocab.txt")
        try (tokens.joined(separator: "\n") + "\n").write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    private func tinyTokenizer(lowercase: Bool = true, stripAccents: Bool? = nil) throws -> WordPieceTokenizer {
        try WordPieceTokenizer(vocabularyFile: writeVocabulary(), lowercase: lowercase, stripAccents: stripAccents)
    }

    func testControlCharactersAreRemovedAndWhitespaceSplits() throws {
        let tokenizer = try tinyTokenizer()
        XCTAssertEqual(tokenizer.tokenize("hel\u{07}lo\u{200B}"), ["hello"])   // BEL (Cc), zero-width space (Cf)
        XCTAssertEqual(tokenizer.tokenize("\u{0}hel\u{FFFD}lo\u{E000}"), ["hello"])  // NUL, U+FFFD, private use
        XCTAssertEqual(tokenizer.tokenize("hello\tworld\r\nhi\u{A0}there\u{3000}a"),
                       ["hello", "world", "hi", "there", "a"])              // \t \r \n and Zs spaces
        XCTAssertEqual(tokenizer.tokenize("hello\u{85}world"), ["[UNK]"])    // NEL is Cc: removed, not a space
    }

    func testCJKIdeographsBecomeSeparateWords() throws {
        let tokenizer = try tinyTokenizer()
        XCTAssertEqual(tokenizer.tokenize("中文hello"), ["中", "文", "hello"])
        XCTAssertEqual(tokenizer.tokenize("a中b"), ["a", "中", "b"])
        XCTAssertEqual(tokenizer.tokenize("hiひら"), ["[UNK]"])  // kana are not CJK ideographs: one word
    }

    func testAccentsAreStrippedAndTextLowerCased() throws {
        let tokenizer = try tinyTokenizer()
        XCTAssertEqual(tokenizer.tokenize("CAF\u{C9} H\u{E9}llo"), ["cafe", "hello"])
        XCTAssertEqual(tokenizer.tokenize("Cafe\u{301}"), ["cafe"])  // decomposed accent
        let cased = try tinyTokenizer(lowercase: false)
        XCTAssertFalse(cased.stripAccents)
        XCTAssertEqual(cased.tokenize("Caf\u{E9} cafe CAFE"), ["Caf\u{E9}", "cafe", "[UNK]"])
        // Code points, not canonical equivalence: the decomposed form is not the vocabulary's token.
        XCTAssertEqual(cased.tokenize("Cafe\u{301}"), ["[UNK]"])
        XCTAssertNil(cased.id(of: "Cafe\u{301}"))
        XCTAssertEqual(cased.id(of: "Caf\u{E9}"), 25)
        let lowercaseKeepingAccents = try tinyTokenizer(lowercase: true, stripAccents: false)
        XCTAssertEqual(lowercaseKeepingAccents.tokenize("CAF\u{C9}"), ["[UNK]"])  // "café" is not in the vocabulary
    }

    func testPunctuationIsSplitOff() throws {
        let tokenizer = try tinyTokenizer()
        XCTAssertEqual(tokenizer.tokenize("hi,there!"), ["hi", ",", "there", "!"])
        XCTAssertEqual(tokenizer.tokenize("¿hi?"), ["¿", "hi", "?"])         // Unicode Po
        // "$" is ASCII punctuation for BERT (though category Sc); "€" is not punctuation.
        XCTAssertEqual(tokenizer.tokenize("$€5"), ["$", "€5"])
    }

    func testOverlongWordBecomesUnknown() throws {
        let tokenizer = try tinyTokenizer()
        XCTAssertEqual(tokenizer.tokenize(String(repeating: "a", count: 100)),
                       ["a"] + [String](repeating: "##a", count: 99))
        XCTAssertEqual(tokenizer.tokenize(String(repeating: "a", count: 101)), ["[UNK]"])
        XCTAssertEqual(tokenizer.tokenize("hi " + String(repeating: "a", count: 101) + " hi"), ["hi", "[UNK]", "hi"])
    }

    func testWordWithUnknownCharacterIsOneUnknown() throws {
        let tokenizer = try tinyTokenizer()
        XCTAssertEqual(tokenizer.tokenize("ab\u{2603}"), ["[UNK]"])  // not "a", "##b", "[UNK]"
        XCTAssertEqual(tokenizer.tokenize("hello \u{2603} hi"), ["hello", "[UNK]", "hi"])
        XCTAssertEqual(tokenizer.tokenize("affable"), ["[UNK]"])     // "aff" only exists as "##aff"
    }

    func testContinuationPieces() throws {
        let tokenizer = try tinyTokenizer()
        XCTAssertEqual(tokenizer.tokenize("unaffable"), ["un", "##aff", "##able"])
        XCTAssertEqual(tokenizer.tokenIds("unaffable"), [5, 6, 7])
        XCTAssertEqual(tokenizer.tokenize("ab"), ["a", "##b"])
        XCTAssertEqual(tokenizer.id(of: "##aff"), 6)
        XCTAssertNil(tokenizer.id(of: "aff"))
    }

    func testSpecialTokensWrittenInTextAreKept() throws {
        let tokenizer = try tinyTokenizer()
        XCTAssertEqual(tokenizer.tokenIds("hello [SEP] world[MASK]"), [8, 3, 24, 4])
        XCTAssertEqual(tokenizer.tokenIds("[sep]"), [1, 1, 1])  // case-sensitive: "[", "sep", "]" unknown
    }

    func testEmptyTextAndShortMaxLength() throws {
        let tokenizer = try tinyTokenizer()
        XCTAssertEqual(tokenizer.encode(""), Encoding(ids: [2, 3], typeIds: [0, 0]))
        XCTAssertEqual(tokenizer.encode(" \t\n "), Encoding(ids: [2, 3], typeIds: [0, 0]))
        XCTAssertEqual(tokenizer.encode("hello world hi", maxLength: 2), Encoding(ids: [2, 3], typeIds: [0, 0]))
        XCTAssertEqual(tokenizer.encode("hello world hi", maxLength: 3), Encoding(ids: [2, 8, 3], typeIds: [0, 0, 0]))
        XCTAssertEqual(tokenizer.encode("hello world hi", maxLength: 1), Encoding(ids: [2, 3], typeIds: [0, 0]))  // specials kept
    }

    func testPairsWithShortMaxLength() throws {
        let tokenizer = try tinyTokenizer()
        XCTAssertEqual(tokenizer.encode("hello world", pair: "hi there", maxLength: 3),
                       Encoding(ids: [2, 3, 3], typeIds: [0, 0, 1]))
        // Tie (2 vs 2) with 1 token of room: it goes to the second text (tokenizers' rule).
        XCTAssertEqual(tokenizer.encode("hello world", pair: "hi there", maxLength: 4),
                       Encoding(ids: [2, 3, 17, 3], typeIds: [0, 0, 1, 1]))
        XCTAssertEqual(tokenizer.encode("hello world", pair: "hi there", maxLength: 5),
                       Encoding(ids: [2, 8, 3, 17, 3], typeIds: [0, 0, 0, 1, 1]))
        // 3 vs 1 tokens: room 2 → 1 + 1; room 3 → the shorter keeps its 1, the longer takes 2.
        XCTAssertEqual(tokenizer.encode("hello world hi", pair: "there", maxLength: 5),
                       Encoding(ids: [2, 8, 3, 18, 3], typeIds: [0, 0, 0, 1, 1]))
        XCTAssertEqual(tokenizer.encode("hello world hi", pair: "there", maxLength: 6),
                       Encoding(ids: [2, 8, 24, 3, 18, 3], typeIds: [0, 0, 0, 0, 1, 1]))
        XCTAssertEqual(tokenizer.encode("hello", pair: "", maxLength: 128),
                       Encoding(ids: [2, 8, 3, 3], typeIds: [0, 0, 0, 1]))
        XCTAssertEqual(tokenizer.encode("hello", pair: "hi", maxLength: 2),  // below the 3 specials
                       Encoding(ids: [2, 3, 3], typeIds: [0, 0, 1]))
    }

    // MARK: Loading

    func testDirectoryReadsConfig() throws {
        _ = try writeVocabulary()
        let uncased = try WordPieceTokenizer(directory: temporaryDirectory)  // no config: uncased defaults
        XCTAssertTrue(uncased.lowercase)
        XCTAssertEqual(uncased.tokenize("HELLO"), ["hello"])

        let config = temporaryDirectory.appendingPathComponent("tokenizer_config.json")
        try #"{"do_lower_case": false, "strip_accents": null, "cls_token": {"content": "[CLS]"}}"#
            .write(to: config, atomically: true, encoding: .utf8)
        let cased = try WordPieceTokenizer(directory: temporaryDirectory)
        XCTAssertFalse(cased.lowercase)
        XCTAssertFalse(cased.stripAccents)
        XCTAssertEqual(cased.tokenize("Caf\u{E9} HELLO"), ["Caf\u{E9}", "[UNK]"])

        try #"{"do_lower_case": "yes"}"#.write(to: config, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try WordPieceTokenizer(directory: temporaryDirectory)) { error in
            let message = error.localizedDescription
            XCTAssertTrue(message.contains(config.path) && message.contains("do_lower_case"), message)
        }
        try "not json".write(to: config, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try WordPieceTokenizer(directory: temporaryDirectory)) { error in
            XCTAssertTrue(error.localizedDescription.contains(config.path), error.localizedDescription)
        }
    }

    func testMissingVocabularyNamesThePath() throws {
        let missing = temporaryDirectory.appendingPathComponent("nowhere")
        XCTAssertThrowsError(try WordPieceTokenizer(directory: missing)) { error in
            XCTAssertEqual(error as? WordPieceTokenizerError,
                           .vocabularyMissing(missing.appendingPathComponent("vocab.txt")))
            XCTAssertTrue(error.localizedDescription.contains(missing.appendingPathComponent("vocab.txt").path))
        }
    }

    func testVocabularyWithoutSpecialTokenFails() throws {
        let url = try writeVocabulary(["[PAD]", "[UNK]", "[CLS]", "hello"])
        XCTAssertThrowsError(try WordPieceTokenizer(vocabularyFile: url)) { error in
            XCTAssertEqual(error as? WordPieceTokenizerError, .specialTokenMissing("[SEP]", url))
            XCTAssertTrue(error.localizedDescription.contains("[SEP]"))
        }
    }

    func testUniversalNewlinesAndRepeatedTokenKeepsLastLine() throws {
        let url = temporaryDirectory.appendingPathComponent("vocab.txt")
        try "[PAD]\r\n[UNK]\r[CLS]\n[SEP]\r\n[MASK]\r\nhi\r\nhi\r\n".write(to: url, atomically: true, encoding: .utf8)
        let tokenizer = try WordPieceTokenizer(vocabularyFile: url)
        XCTAssertEqual(tokenizer.vocabularySize, 7)
        XCTAssertEqual(tokenizer.id(of: "hi"), 6)  // Python's dict keeps the last line's id
        XCTAssertEqual(tokenizer.tokenIds("hi"), [6])
    }
}
