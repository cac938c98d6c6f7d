import Foundation

/// BERT's WordPiece tokenizer, equal to Hugging Face's `BertTokenizerFast` (the Rust
/// `tokenizers` BertNormalizer + BertPreTokenizer + WordPiece + BERT template that
/// `AutoTokenizer` returns for BERT models):
///
/// 1. special tokens ([CLS], [SEP], [PAD], [UNK], [MASK]) written in the text are kept whole;
/// 2. clean: drop U+0000, U+FFFD and control characters (categories C*, except \t \n \r), map
///    whitespace to a space; put spaces around CJK ideographs;
/// 3. strip accents (NFD, then drop Mn marks), then lower-case, when the model is uncased;
/// 4. split on whitespace and around every punctuation character;
/// 5. greedy longest-match-first word pieces with "##" continuations; a word without a full
///    segmentation, or longer than 100 scalars, becomes [UNK].
///
/// Text is handled as Unicode scalars (Python's and Rust's code points), not as Swift
/// `Character`s (grapheme clusters).
public struct WordPieceTokenizer: TextTokenizer {
    /// Lower-cases text before the word-piece lookup (`do_lower_case`).
    public let lowercase: Bool
    /// Removes accents (NFD, then drops non-spacing marks); defaults to `lowercase`.
    public let stripAccents: Bool
    /// Surrounds CJK ideographs with spaces so each one is a word (`tokenize_chinese_chars`).
    public let handleChineseCharacters: Bool

    public let clsId: Int32
    public let sepId: Int32
    public let padId: Int32
    public let unkId: Int32
    public let maskId: Int32

    /// Number of lines of vocab.txt (the model's embedding rows).
    public var vocabularySize: Int { tokens.count }

    /// Words longer than this many scalars become [UNK] (`max_input_chars_per_word`).
    public static let maxInputCharactersPerWord = 100
    static let continuationPrefix = "##"

    /// Token text by id (line of vocab.txt).
    private let tokens: [String]
    private let trie: VocabularyTrie
    /// Node reached from the root by "##": word pieces after the first start here.
    private let continuationRoot: Int32?
    /// Special tokens recognised verbatim in the input text, longest first.
    private let specialTokens: [(scalars: [Unicode.Scalar], id: Int32)]
    /// First scalars of the special tokens ("[" for BERT): the cheap test before matching.
    private let specialTokenStarts: [Unicode.Scalar]

    /// Loads vocab.txt (one token per line, id = line number) with BERT's special tokens.
    /// - Parameters:
    ///   - lowercase: lower-case the text (uncased models).
    ///   - stripAccents: remove accents; `nil` follows `lowercase`, as in Hugging Face.
    public init(vocabularyFile: URL, lowercase: Bool = true, stripAccents: Bool? = nil) throws {
        try self.init(vocabularyFile: vocabularyFile, lowercase: lowercase, stripAccents: stripAccents,
                      handleChineseCharacters: true, specialTokenNames: SpecialTokenNames())
    }

    /// Loads a Hugging Face tokenizer folder: vocab.txt and, when present, tokenizer_config.json
    /// (do_lower_case, strip_accents, tokenize_chinese_chars, special token names). Without a
    /// config the uncased defaults apply.
    public init(directory: URL) throws {
        let vocabularyFile = directory.appendingPathComponent("vocab.txt")
        let configFile = directory.appendingPathComponent("tokenizer_config.json")
        var lowercase = true
        var stripAccents: Bool?
        var handleChineseCharacters = true
        var names = SpecialTokenNames()
        if FileManager.default.fileExists(atPath: configFile.path) {
            let config = try TokenizerConfig(url: configFile)
            lowercase = try config.bool("do_lower_case") ?? true
            stripAccents = try config.bool("strip_accents")
            handleChineseCharacters = try config.bool("tokenize_chinese_chars") ?? true
            names.cls = try config.tokenName("cls_token") ?? names.cls
            names.sep = try config.tokenName("sep_token") ?? names.sep
            names.pad = try config.tokenName("pad_token") ?? names.pad
            names.unk = try config.tokenName("unk_token") ?? names.unk
            names.mask = try config.tokenName("mask_token") ?? names.mask
        }
        try self.init(vocabularyFile: vocabularyFile, lowercase: lowercase, stripAccents: stripAccents,
                      handleChineseCharacters: handleChineseCharacters, specialTokenNames: names)
    }

    private init(vocabularyFile: URL, lowercase: Bool, stripAccents: Bool?,
                 handleChineseCharacters: Bool, specialTokenNames names: SpecialTokenNames) throws {
        guard FileManager.default.fileExists(atPath: vocabularyFile.path) else {
            throw WordPieceTokenizerError.vocabularyMissing(vocabularyFile)
        }
        let data: Data
        do {
            data = try Data(contentsOf: vocabularyFile)
        } catch {
            throw WordPieceTokenizerError.vocabularyUnreadable(vocabularyFile, error.localizedDescription)
        }
        guard String(data: data, encoding: .utf8) != nil else {
            throw WordPieceTokenizerError.vocabularyNotUTF8(vocabularyFile)
        }
        let tokens = Self.lines(of: [UInt8](data))
        guard !tokens.isEmpty, tokens.count < Int(Int32.max) else {
            throw WordPieceTokenizerError.vocabularyEmpty(vocabularyFile)
        }
        let trie = VocabularyTrie(tokens: tokens)  // a repeated token keeps its last id, as in Python
        self.tokens = tokens
        self.trie = trie
        self.continuationRoot = trie.walk(Self.continuationPrefix.unicodeScalars, from: VocabularyTrie.root)
        self.lowercase = lowercase
        self.stripAccents = stripAccents ?? lowercase
        self.handleChineseCharacters = handleChineseCharacters

        func specialId(_ name: String) throws -> Int32 {
            guard let id = trie.tokenId(at: trie.walk(name.unicodeScalars, from: VocabularyTrie.root)) else {
                throw WordPieceTokenizerError.specialTokenMissing(name, vocabularyFile)
            }
            return id
        }
        clsId = try specialId(names.cls)
        sepId = try specialId(names.sep)
        padId = try specialId(names.pad)
        unkId = try specialId(names.unk)
        maskId = try specialId(names.mask)
        specialTokens = [(names.cls, clsId), (names.sep, sepId), (names.pad, padId), (names.unk, unkId),
                         (names.mask, maskId)]
            .map { (scalars: Array($0.0.unicodeScalars), id: $0.1) }
            .sorted { $0.scalars.count > $1.scalars.count }
        specialTokenStarts = Array(Set(specialTokens.compactMap(\.scalars.first)))
    }

    /// Lines of UTF-8 text as Python's universal-newline readlines() sees them: \n, \r\n and \r
    /// end a line; a final line ending adds no empty line. (UTF-8 continuation bytes are never
    /// 0x0A or 0x0D, so splitting bytes is safe.)
    static func lines(of bytes: [UInt8]) -> [String] {
        var lines: [String] = []
        var lineStart = 0
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == 0x0A || byte == 0x0D {
                lines.append(String(decoding: bytes[lineStart..<index], as: UTF8.self))
                index += (byte == 0x0D && index + 1 < bytes.count && bytes[index + 1] == 0x0A) ? 2 : 1
                lineStart = index
            } else {
                index += 1
            }
        }
        if lineStart < bytes.count {
            lines.append(String(decoding: bytes[lineStart...], as: UTF8.self))
        }
        return lines
    }

    // MARK: Lookup

    /// The id of `token` exactly as written in vocab.txt (continuations with their "##").
    public func id(of token: String) -> Int32? {
        trie.tokenId(at: trie.walk(token.unicodeScalars, from: VocabularyTrie.root))
    }

    /// The text of token `id`, or nil outside the vocabulary.
    public func token(of id: Int32) -> String? {
        tokens.indices.contains(Int(id)) ? tokens[Int(id)] : nil
    }

    // MARK: Encoding

    /// Word pieces of `text`, without [CLS]/[SEP] ("##" marks continuations, [UNK] unknown words).
    public func tokenize(_ text: String) -> [String] {
        tokenIds(text).map { tokens[Int($0)] }
    }

    /// Ids of the word pieces of `text`, without [CLS]/[SEP].
    public func tokenIds(_ text: String) -> [Int32] {
        let scalars = Array(text.unicodeScalars)
        var ids: [Int32] = []
        ids.reserveCapacity(scalars.count / 3 + 4)
        var segmentStart = 0
        var position = 0
        while position < scalars.count {
            if specialTokenStarts.contains(scalars[position]), let special = specialToken(in: scalars, at: position) {
                appendWordPieces(of: scalars[segmentStart..<position], to: &ids)
                ids.append(special.id)
                position += special.length
                segmentStart = position
            } else {
                position += 1
            }
        }
        appendWordPieces(of: scalars[segmentStart..<scalars.count], to: &ids)
        return ids
    }

    /// [CLS] text [SEP] (type 0), or [CLS] text [SEP] pair [SEP] with the pair and its [SEP] of
    /// type 1. Longer inputs are cut to `maxLength` tokens in all, pairs "longest first" exactly
    /// as Hugging Face `tokenizers` does. The special tokens are always kept, so a `maxLength`
    /// below 2 (3 for a pair) still returns them (Hugging Face would then not truncate at all).
    public func encode(_ text: String, pair: String?, maxLength: Int) -> Encoding {
        var first = tokenIds(text)
        guard let pair else {
            first.removeLast(max(0, first.count - max(0, maxLength - 2)))
            let ids = [clsId] + first + [sepId]
            return Encoding(ids: ids, typeIds: [Int32](repeating: 0, count: ids.count))
        }
        var second = tokenIds(pair)
        let kept = Self.longestFirstLengths(first.count, second.count, budget: max(0, maxLength - 3))
        first.removeLast(first.count - kept.first)
        second.removeLast(second.count - kept.second)
        let ids = [clsId] + first + [sepId] + second + [sepId]
        let typeIds = [Int32](repeating: 0, count: first.count + 2) + [Int32](repeating: 1, count: second.count + 1)
        return Encoding(ids: ids, typeIds: typeIds)
    }

    /// Lengths kept of a pair under `budget` tokens, as `tokenizers`' LongestFirst truncation:
    /// the shorter sequence keeps what it can up to half the budget, the longer one takes the rest;
    /// when both exceed half, the budget is split evenly, the odd token going to the
    /// sequence that was longer (to the second on a tie). (The older Python `BertTokenizer` gives
    /// the odd token to the first on a tie; this follows the fast tokenizer.)
    static func longestFirstLengths(_ firstCount: Int, _ secondCount: Int, budget: Int) -> (first: Int, second: Int) {
        if firstCount + secondCount <= budget { return (firstCount, secondCount) }
        let swapped = firstCount > secondCount
        let shorter = swapped ? secondCount : firstCount
        var keepShorter = shorter
        var keepLonger = shorter > budget ? shorter : max(shorter, budget - shorter)
        if keepShorter + keepLonger > budget {
            keepShorter = budget / 2
            keepLonger = keepShorter + budget % 2
        }
        let (keepFirst, keepSecond) = swapped ? (keepLonger, keepShorter) : (keepShorter, keepLonger)
        return (min(firstCount, keepFirst), min(secondCount, keepSecond))
    }

    // MARK: Steps

    /// The special token starting at `position`, longest first.
    private func specialToken(in scalars: [Unicode.Scalar], at position: Int) -> (id: Int32, length: Int)? {
        for special in specialTokens where special.scalars.first == scalars[position] {
            let end = position + special.scalars.count
            if end <= scalars.count && scalars[position..<end].elementsEqual(special.scalars) {
                return (special.id, special.scalars.count)
            }
        }
        return nil
    }

    /// Normalizes a stretch of text without special tokens, splits it into words and appends
    /// their word-piece ids.
    private func appendWordPieces(of raw: ArraySlice<Unicode.Scalar>, to ids: inout [Int32]) {
        if raw.isEmpty { return }
        let text = normalize(raw)
        var wordStart = 0
        for index in 0..<text.count {
            let scalar = text[index]
            if scalar == " " {
                appendWord(text, wordStart..<index, to: &ids)
                wordStart = index + 1
            } else if Self.isPunctuation(scalar) {
                appendWord(text, wordStart..<index, to: &ids)
                appendWord(text, index..<index + 1, to: &ids)
                wordStart = index + 1
            }
        }
        appendWord(text, wordStart..<text.count, to: &ids)
    }

    /// BertNormalizer: clean, space CJK ideographs, strip accents, lower-case. All whitespace
    /// comes out as " ".
    private func normalize(_ raw: ArraySlice<Unicode.Scalar>) -> [Unicode.Scalar] {
        var text: [Unicode.Scalar] = []
        text.reserveCapacity(raw.count + 8)
        var isASCII = true
        for scalar in raw {
            let value = scalar.value
            if value < 0x80 {
                if value == 0x20 || value == 0x09 || value == 0x0A || value == 0x0D {
                    text.append(" ")
                } else if value >= 0x20 && value != 0x7F {
                    text.append(scalar)
                }  // else: NUL and other ASCII controls are dropped
                continue
            }
            isASCII = false
            if value == 0xFFFD || Self.isControl(scalar) { continue }
            if scalar.properties.isWhitespace {
                text.append(" ")
            } else if handleChineseCharacters && Self.isChineseCharacter(value) {
                text.append(" ")
                text.append(scalar)
                text.append(" ")
            } else {
                text.append(scalar)
            }
        }
        if isASCII {
            if lowercase {
                for index in text.indices where text[index].value >= 0x41 && text[index].value <= 0x5A {
                    text[index] = Unicode.Scalar(UInt8(text[index].value + 0x20))  // A-Z → a-z
                }
            }
            return text
        }
        if stripAccents {
            let decomposed = String(String.UnicodeScalarView(text)).decomposedStringWithCanonicalMapping
            text = decomposed.unicodeScalars.filter { $0.properties.generalCategory != .nonspacingMark }
        }
        if lowercase {
            var lowered: [Unicode.Scalar] = []
            lowered.reserveCapacity(text.count)
            for scalar in text {
                if scalar.value < 0x80 {
                    let value = scalar.value
                    lowered.append(value >= 0x41 && value <= 0x5A ? Unicode.Scalar(UInt8(value + 0x20)) : scalar)
                } else {
                    // Full per-scalar mapping (İ → i + U+0307); no final-sigma context, as in Rust.
                    lowered.append(contentsOf: scalar.properties.lowercaseMapping.unicodeScalars)
                }
            }
            text = lowered
        }
        return text
    }

    /// WordPiece: greedy longest-match-first over the word's scalars.
    private func appendWord(_ text: [Unicode.Scalar], _ word: Range<Int>, to ids: inout [Int32]) {
        if word.isEmpty { return }
        if word.count > Self.maxInputCharactersPerWord {
            ids.append(unkId)
            return
        }
        let firstPiece = ids.count
        var start = word.lowerBound
        while start < word.upperBound {
            guard let startNode = start == word.lowerBound ? VocabularyTrie.root : continuationRoot else {
                break
            }
            var node = startNode
            var match: (id: Int32, end: Int)?
            var position = start
            while position < word.upperBound, let next = trie.child(of: node, text[position]) {
                node = next
                position += 1
                if let id = trie.tokenId(at: node) { match = (id, position) }
            }
            guard let match else {
                ids.removeLast(ids.count - firstPiece)
                ids.append(unkId)
                return
            }
            ids.append(match.id)
            start = match.end
        }
        if start < word.upperBound {  // no "##" tokens in the vocabulary
            ids.removeLast(ids.count - firstPiece)
            ids.append(unkId)
        }
    }

    // MARK: Character classes (as BERT's tokenization.py and tokenizers' bert normalizer)

    /// Categories Cc, Cf, Cn, Co, Cs, except tab, newline and carriage return (whitespace).
    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09, 0x0A, 0x0D: return false
        default: break
        }
        switch scalar.properties.generalCategory {
        case .control, .format, .unassigned, .privateUse, .surrogate: return true
        default: return false
        }
    }

    /// ASCII 33-47, 58-64, 91-96, 123-126 (including $ + < = > ^ ` | ~) or any Unicode P*.
    static func isPunctuation(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        if (33...47).contains(value) || (58...64).contains(value) || (91...96).contains(value)
            || (123...126).contains(value) {
            return true
        }
        if value < 0x80 { return false }
        switch scalar.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation:
            return true
        default:
            return false
        }
    }

    /// The CJK Unified Ideographs blocks of BERT's `_is_chinese_char` (not kana or hangul).
    static func isChineseCharacter(_ value: UInt32) -> Bool {
        (0x4E00...0x9FFF).contains(value) || (0x3400...0x4DBF).contains(value)
            || (0x20000...0x2A6DF).contains(value) || (0x2A700...0x2B73F).contains(value)
            || (0x2B740...0x2B81F).contains(value) || (0x2B820...0x2CEAF).contains(value)
            || (0xF900...0xFAFF).contains(value) || (0x2F800...0x2FA1F).contains(value)
    }
}

/// Errors loading a WordPiece vocabulary or tokenizer config.
public enum WordPieceTokenizerError: LocalizedError, Equatable {
    case vocabularyMissing(URL)
    case vocabularyUnreadable(URL, String)
    case vocabularyNotUTF8(URL)
    case vocabularyEmpty(URL)
    case specialTokenMissing(String, URL)
    case configInvalid(URL, String)

    public var errorDescription: String? {
        switch self {
        case .vocabularyMissing(let url):
            return "WordPiece vocabulary not found at \(url.path). Expected vocab.txt (one token per line) "
                + "in the model folder; run scripts/fetch-assets.sh or point to a BERT-family model."
        case .vocabularyUnreadable(let url, let reason):
            return "Cannot read WordPiece vocabulary \(url.path): \(reason)."
        case .vocabularyNotUTF8(let url):
            return "WordPiece vocabulary \(url.path) is not valid UTF-8 text; expected one token per line."
        case .vocabularyEmpty(let url):
            return "WordPiece vocabulary \(url.path) has no tokens (or too many for 32-bit ids)."
        case .specialTokenMissing(let token, let url):
            return "WordPiece vocabulary \(url.path) has no special token \(token); expected a BERT vocab.txt "
                + "with [CLS], [SEP], [PAD], [UNK] and [MASK] (or the names set in tokenizer_config.json)."
        case .configInvalid(let url, let reason):
            return "Tokenizer config \(url.path) is invalid: \(reason)."
        }
    }
}

/// Names of the special tokens (overridable in tokenizer_config.json).
private struct SpecialTokenNames {
    var cls = "[CLS]"
    var sep = "[SEP]"
    var pad = "[PAD]"
    var unk = "[UNK]"
    var mask = "[MASK]"
}

/// The fields of tokenizer_config.json that the WordPiece tokenizer uses.
private struct TokenizerConfig {
    let url: URL
    let object: [String: Any]

    init(url: URL) throws {
        self.url = url
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: Data(contentsOf: url))
        } catch {
            throw WordPieceTokenizerError.configInvalid(url, "not readable JSON (\(error.localizedDescription))")
        }
        guard let object = parsed as? [String: Any] else {
            throw WordPieceTokenizerError.configInvalid(url, "expected a JSON object at the top level")
        }
        self.object = object
    }

    /// A boolean field; nil when absent or null.
    func bool(_ key: String) throws -> Bool? {
        guard let value = object[key], !(value is NSNull) else { return nil }
        guard let flag = value as? Bool else {
            throw WordPieceTokenizerError.configInvalid(url, "\"\(key)\" must be true, false or null")
        }
        return flag
    }

    /// A token name, written either as a string or as {"content": string, ...}.
    func tokenName(_ key: String) throws -> String? {
        guard let value = object[key], !(value is NSNull) else { return nil }
        if let name = value as? String { return name }
        if let added = value as? [String: Any], let name = added["content"] as? String { return name }
        throw WordPieceTokenizerError.configInvalid(url, "\"\(key)\" must be a string or {\"content\": string}")
    }
}

/// The vocabulary as a trie over Unicode scalars, so the greedy longest match walks each piece
/// once without building substrings. Edges (node, scalar) → child live in one open-addressing
/// hash table with a multiplicative hash: lookups are the tokenizer's inner loop.
struct VocabularyTrie: Sendable {
    static let root: Int32 = 0
    private static let emptySlot = UInt64.max
    /// Key and child side by side: one cache miss per lookup.
    private struct Edge {
        var key: UInt64
        var child: Int32
    }
    private let edges: [Edge]
    private let slotMask: Int
    private let hashShift: UInt64
    /// Token id ending at each node, -1 for none.
    private let tokenIds: [Int32]

    /// Builds the trie of `tokens`, token i having id i; a repeated token keeps its last id.
    init(tokens: [String]) {
        var edges: [UInt64: Int32] = [:]
        var tokenIds: [Int32] = [-1]
        for (index, token) in tokens.enumerated() {
            var node = Self.root
            for scalar in token.unicodeScalars {
                let key = Self.key(node, scalar)
                if let next = edges[key] {
                    node = next
                } else {
                    node = Int32(tokenIds.count)
                    tokenIds.append(-1)
                    edges[key] = node
                }
            }
            tokenIds[Int(node)] = Int32(index)
        }
        // At most half full, so probe runs stay short.
        var bits = 4
        while 1 << bits < 2 * max(edges.count, 1) { bits += 1 }
        var table = [Edge](repeating: Edge(key: Self.emptySlot, child: -1), count: 1 << bits)
        slotMask = (1 << bits) - 1
        hashShift = UInt64(64 - bits)
        for (key, child) in edges {
            var slot = Self.slot(key, shift: hashShift)
            while table[slot].key != Self.emptySlot { slot = (slot + 1) & slotMask }
            table[slot] = Edge(key: key, child: child)
        }
        self.edges = table
        self.tokenIds = tokenIds
    }

    @inline(__always)
    func child(of node: Int32, _ scalar: Unicode.Scalar) -> Int32? {
        let key = Self.key(node, scalar)
        var slot = Self.slot(key, shift: hashShift)
        while true {
            let edge = edges[slot]
            if edge.key == key { return edge.child }
            if edge.key == Self.emptySlot { return nil }
            slot = (slot + 1) & slotMask
        }
    }

    /// The node reached by `scalars` from `node`, or nil when the path leaves the trie.
    func walk(_ scalars: String.UnicodeScalarView, from node: Int32) -> Int32? {
        var node = node
        for scalar in scalars {
            guard let next = child(of: node, scalar) else { return nil }
            node = next
        }
        return node
    }

    @inline(__always)
    func tokenId(at node: Int32?) -> Int32? {
        guard let node, tokenIds[Int(node)] >= 0 else { return nil }
        return tokenIds[Int(node)]
    }

    /// Scalars take 21 bits; node numbers the bits above.
    @inline(__always)
    private static func key(_ node: Int32, _ scalar: Unicode.Scalar) -> UInt64 {
        UInt64(UInt32(bitPattern: node)) << 21 | UInt64(scalar.value)
    }

    @inline(__always)
    private static func slot(_ key: UInt64, shift: UInt64) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift)  // Fibonacci hashing
    }
}
