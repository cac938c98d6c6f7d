/// GPT-2's byte-level alphabet and pre-tokenizer, shared by every byte-level BPE family
/// (GPT-2, RoBERTa). Works on UTF-8 bytes; no regex engine.
public enum ByteLevel {
    /// GPT-2's `bytes_to_unicode`: every byte gets a printable Unicode scalar so that BPE
    /// vocabularies are plain strings. Bytes 33–126, 161–172 and 174–255 map to themselves; the
    /// other 68 bytes (0–32, 127–160, 173), in increasing order, map to U+0100, U+0101, … U+0143
    /// (so the space 0x20 becomes "Ġ" U+0120 and the newline 0x0A becomes "Ċ" U+010A).
    public static let byteToScalar: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            if (33...126).contains(byte) || (161...172).contains(byte) || (174...255).contains(byte) {
                table[byte] = Unicode.Scalar(UInt8(byte))
            } else {
                // 256…323 are all valid scalars (Latin Extended-A).
                table[byte] = Unicode.Scalar(next) ?? " "
                next += 1
            }
        }
        return table
    }()

    /// The inverse of `byteToScalar`: scalar value → byte.
    public static let scalarToByte: [UInt32: UInt8] = {
        var inverse: [UInt32: UInt8] = [:]
        for (byte, scalar) in byteToScalar.enumerated() { inverse[scalar.value] = UInt8(byte) }
        return inverse
    }()

    /// A vocabulary token ("Ġthe") back to the bytes it stands for (" the"); nil if some scalar
    /// is outside the byte-level alphabet (e.g. an added token such as "<|endoftext|>" is fine —
    /// ASCII maps to itself — but "é" written directly is not byte-level).
    public static func bytes(ofToken token: String) -> [UInt8]? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(token.unicodeScalars.count)
        for scalar in token.unicodeScalars {
            guard let byte = scalarToByte[scalar.value] else { return nil }
            bytes.append(byte)
        }
        return bytes
    }

    /// Bytes → their byte-level string ("Ġthe" for " the").
    public static func token(ofBytes bytes: some Sequence<UInt8>) -> String {
        var scalars = String.UnicodeScalarView()
        for byte in bytes { scalars.append(byteToScalar[Int(byte)]) }
        return String(scalars)
    }

    /// The pieces of `text` under GPT-2's pre-tokenisation regex
    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
    public static func preTokenize(_ text: String) -> [String] {
        let bytes = Array(text.utf8)
        var pieces: [String] = []
        bytes.withUnsafeBufferPointer { buffer in
            var scanner = PreTokenizer()
            scanner.forEachPiece(of: buffer) { range in
                pieces.append(String(decoding: buffer[range], as: UTF8.self))
            }
        }
        return pieces
    }
}

/// Character classes of the GPT-2 regex: `\p{L}`, `\p{N}`, `\s`, everything else.
enum ScalarClass: UInt8 {
    case letter, number, whitespace, other

    /// Classes of the 128 ASCII scalars (the common case, no property lookup).
    static let ascii: [ScalarClass] = (0..<128).map { classify(Unicode.Scalar(UInt8($0))) }

    /// `\s` is the White_Space property (as Oniguruma, which Hugging Face uses, defines it; e.g.
    /// U+0085 and U+00A0 are spaces, U+200B and U+001C are not); `\p{L}` / `\p{N}` are the general
    /// categories L* / N*. Combining marks, symbols, format characters are "other".
    static func classify(_ scalar: Unicode.Scalar) -> ScalarClass {
        let properties = scalar.properties
        if properties.isWhitespace { return .whitespace }
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            return .letter
        case .decimalNumber, .letterNumber, .otherNumber:
            return .number
        default:
            return .other
        }
    }
}

/// A hand-written scanner with the semantics of GPT-2's pre-tokenisation regex (leftmost match,
/// alternatives tried in order). Every scalar falls in some alternative, so the pieces tile the
/// text. Keeps its scratch arrays between calls.
struct PreTokenizer {
    /// Class of each scalar of the current text.
    private var classes: [ScalarClass] = []
    /// Byte offset of each scalar, plus the end offset.
    private var offsets: [Int] = []

    /// Calls `body` with the byte range of each piece of the UTF-8 text `bytes`, in order.
    mutating func forEachPiece(of bytes: UnsafeBufferPointer<UInt8>, _ body: (Range<Int>) -> Void) {
        decode(bytes)
        let count = classes.count
        var start = 0
        while start < count {
            let end = pieceEnd(from: start, count: count, bytes: bytes)
            body(offsets[start]..<offsets[end])
            start = end
        }
    }

    /// Scalar index one past the piece that starts at scalar `start`.
    private func pieceEnd(from start: Int, count: Int, bytes: UnsafeBufferPointer<UInt8>) -> Int {
        let first = bytes[offsets[start]]
        // 's|'t|'re|'ve|'m|'ll|'d (case-sensitive, ASCII apostrophe only).
        if first == UInt8(ascii: "'") {
            let contraction = contractionLength(at: start, count: count, bytes: bytes)
            if contraction > 0 { return start + contraction }
        }
        let currentClass = classes[start]
        //  ?\p{L}+ |  ?\p{N}+ |  ?[^\s\p{L}\p{N}]+ : one optional U+0020 then a run of one class.
        if first == UInt8(ascii: " "), start + 1 < count, classes[start + 1] != .whitespace {
            return runEnd(from: start + 1, of: classes[start + 1], count: count)
        }
        if currentClass != .whitespace {
            return runEnd(from: start, of: currentClass, count: count)
        }
        // \s+(?!\S) backtracks to leave the last whitespace scalar before a non-space to the next
        // piece (" word" keeps its space); a single whitespace before a non-space is \s+.
        let end = runEnd(from: start, of: .whitespace, count: count)
        if end < count && end - start >= 2 { return end - 1 }
        return end
    }

    private func runEnd(from start: Int, of scalarClass: ScalarClass, count: Int) -> Int {
        var end = start + 1
        while end < count && classes[end] == scalarClass { end += 1 }
        return end
    }

    /// Length in scalars of the contraction at the apostrophe `start` (0 if none).
    private func contractionLength(at start: Int, count: Int, bytes: UnsafeBufferPointer<UInt8>) -> Int {
        // Only ASCII letters count; a non-ASCII scalar's first byte is ≥ 0x80 and matches none.
        func ascii(_ index: Int) -> UInt8 { index < count ? bytes[offsets[index]] : 0 }
        switch ascii(start + 1) {
        case UInt8(ascii: "s"), UInt8(ascii: "t"), UInt8(ascii: "m"), UInt8(ascii: "d"):
            return 2
        case UInt8(ascii: "r"), UInt8(ascii: "v"):
            return ascii(start + 2) == UInt8(ascii: "e") ? 3 : 0
        case UInt8(ascii: "l"):
            return ascii(start + 2) == UInt8(ascii: "l") ? 3 : 0
        default:
            return 0
        }
    }

    /// Fills `classes` and `offsets` from valid UTF-8 (Swift strings always are).
    private mutating func decode(_ bytes: UnsafeBufferPointer<UInt8>) {
        classes.removeAll(keepingCapacity: true)
        offsets.removeAll(keepingCapacity: true)
        var index = 0
        while index < bytes.count {
            offsets.append(index)
            let lead = bytes[index]
            if lead < 0x80 {
                classes.append(ScalarClass.ascii[Int(lead)])
                index += 1
                continue
            }
            let length = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2
            var value = UInt32(lead) & (length == 2 ? 0x1F : length == 3 ? 0x0F : 0x07)
            var next = index + 1
            while next < index + length && next < bytes.count {
                value = value << 6 | UInt32(bytes[next] & 0x3F)
                next += 1
            }
            classes.append(Unicode.Scalar(value).map(ScalarClass.classify) ?? .other)
            index = next
        }
        offsets.append(bytes.count)
    }
}
