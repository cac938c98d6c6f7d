/// A token matched verbatim in the raw text before pre-tokenisation (Hugging Face "added
/// tokens": `<s>`, `</s>`, `<pad>`, `<unk>`, `<mask>`, `<|endoftext|>`, …).
struct AddedToken: Sendable, Equatable {
    let content: [UInt8]
    let id: Int32
    /// The match also swallows the whitespace on its left (roberta-base's `<mask>`).
    let stripsLeft: Bool
    /// The match also swallows the whitespace on its right.
    let stripsRight: Bool
    /// The match counts only if no word character touches it on either side.
    let isSingleWord: Bool
}

/// A stretch of the text: an added token, or ordinary text (a byte range) to pre-tokenise.
enum TextSegment: Equatable {
    case text(Range<Int>)
    case addedToken(Int32)
}

/// Finds added tokens as Hugging Face's AddedVocabulary does: leftmost-longest matches over the
/// raw text, scanned left to right; a match rejected by `isSingleWord` stays ordinary text.
struct AddedTokenMatcher: Sendable {
    /// Longest first, so the first token that matches at a position is the longest.
    private let tokens: [AddedToken]
    /// Whether some token starts with this byte (skips most positions at once).
    private let startsToken: [Bool]

    init(tokens: [AddedToken]) {
        self.tokens = tokens.filter { !$0.content.isEmpty }.sorted { $0.content.count > $1.content.count }
        var startsToken = [Bool](repeating: false, count: 256)
        for token in self.tokens { startsToken[Int(token.content[0])] = true }
        self.startsToken = startsToken
    }

    /// `bytes` (UTF-8) cut into ordinary text and added tokens, in order.
    func segments(of bytes: [UInt8]) -> [TextSegment] {
        var segments: [TextSegment] = []
        var textStart = 0   // end of the previous match (with its stripped whitespace)
        var position = 0
        while position < bytes.count {
            guard startsToken[Int(bytes[position])], let token = longestMatch(in: bytes, at: position) else {
                position += 1
                continue
            }
            var start = position
            var end = position + token.content.count
            position = end
            if token.isSingleWord && (touchesWord(bytes, before: start) || touchesWord(bytes, after: end)) {
                continue
            }
            if token.stripsLeft {
                while start > textStart, let (scalar, length) = scalar(in: bytes, endingAt: start),
                      scalar.properties.isWhitespace {
                    start -= length
                }
            }
            if token.stripsRight {
                while let (scalar, length) = scalar(in: bytes, startingAt: end), scalar.properties.isWhitespace {
                    end += length
                }
                position = end
            }
            if textStart < start { segments.append(.text(textStart..<start)) }
            segments.append(.addedToken(token.id))
            textStart = end
        }
        if textStart < bytes.count || segments.isEmpty { segments.append(.text(textStart..<bytes.count)) }
        return segments
    }

    private func longestMatch(in bytes: [UInt8], at position: Int) -> AddedToken? {
        tokens.first { token in
            position + token.content.count <= bytes.count
                && bytes[position..<(position + token.content.count)].elementsEqual(token.content)
        }
    }

    /// Regex `\w` of the Rust regex crate: Alphabetic, marks, decimal digits, connector
    /// punctuation, join controls.
    private func isWordCharacter(_ scalar: Unicode.Scalar) -> Bool {
        let properties = scalar.properties
        if properties.isAlphabetic || properties.isJoinControl { return true }
        switch properties.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation:
            return true
        default:
            return false
        }
    }

    private func touchesWord(_ bytes: [UInt8], before index: Int) -> Bool {
        scalar(in: bytes, endingAt: index).map { isWordCharacter($0.scalar) } ?? false
    }

    private func touchesWord(_ bytes: [UInt8], after index: Int) -> Bool {
        scalar(in: bytes, startingAt: index).map { isWordCharacter($0.scalar) } ?? false
    }

    /// The scalar whose UTF-8 starts at `index`, and its length in bytes; nil at the end.
    private func scalar(in bytes: [UInt8], startingAt index: Int) -> (scalar: Unicode.Scalar, length: Int)? {
        guard index < bytes.count else { return nil }
        var end = index + 1
        while end < bytes.count && bytes[end] & 0xC0 == 0x80 { end += 1 }
        return decode(bytes[index..<end]).map { ($0, end - index) }
    }

    /// The scalar whose UTF-8 ends at `index`, and its length in bytes; nil at the start.
    private func scalar(in bytes: [UInt8], endingAt index: Int) -> (scalar: Unicode.Scalar, length: Int)? {
        guard index > 0 else { return nil }
        var start = index - 1
        while start > 0 && bytes[start] & 0xC0 == 0x80 { start -= 1 }
        return decode(bytes[start..<index]).map { ($0, index - start) }
    }

    private func decode(_ utf8: ArraySlice<UInt8>) -> Unicode.Scalar? {
        var iterator = utf8.makeIterator()
        var decoder = UTF8()
        if case .scalarValue(let scalar) = decoder.decode(&iterator) { return scalar }
        return nil
    }
}
