import Foundation

/// Byte-level BPE tokenizer of GPT-2 and RoBERTa, id for id equal to Hugging Face's
/// (`tokenizers` ByteLevel pre-tokenizer + BPE model + RobertaProcessing / no post-processing).
///
/// text → added tokens (`<s>`, `<mask>`, … as written in the text) split out → each remaining
/// segment pre-tokenised with GPT-2's regex (`ByteLevel.preTokenize`) → each piece's UTF-8 bytes
/// merged by BPE rank → ids; then truncation and the family's special tokens.
/// Load with `init(directory:)` (BytePairTokenizerLoading.swift).
public struct BytePairTokenizer: TextTokenizer {
    /// Model family, from config.json "model_type"; decides the special-token wrapping.
    public enum Family: String, Sendable {
        /// `<s> A </s>` and `<s> A </s></s> B </s>`.
        case roberta
        /// No special tokens: the ids of A (then of B for a pair).
        case gpt2
    }

    public let family: Family
    /// RoBERTa's `<s>` (classifier / begin) and `</s>` (separator / end) ids; nil for GPT-2.
    public let wrappingIds: (begin: Int32, separator: Int32)?
    public let padId: Int32
    /// One more than the largest id of vocab.json and the added tokens (rows the embedding needs).
    public let vocabularySize: Int
    /// Whether a space is put before each text segment that does not start with one (so the first
    /// word is tokenised as a word inside a sentence). Hugging Face's default is false.
    public let addsPrefixSpace: Bool

    let merger: BytePairMerger
    let addedTokens: AddedTokenMatcher

    init(family: Family, wrappingIds: (begin: Int32, separator: Int32)?, padId: Int32,
         vocabularySize: Int, addsPrefixSpace: Bool, merger: BytePairMerger,
         addedTokens: AddedTokenMatcher) {
        self.family = family
        self.wrappingIds = wrappingIds
        self.padId = padId
        self.vocabularySize = vocabularySize
        self.addsPrefixSpace = addsPrefixSpace
        self.merger = merger
        self.addedTokens = addedTokens
    }

    /// Ids of `text` (and `pair`) with the family's special tokens, at most `maxLength` in all
    /// (the special tokens stay even when maxLength is smaller: RoBERTa always keeps `<s></s>`).
    /// Truncation is Hugging Face's longest-first, see `truncatedLengths`.
    /// Type ids are all 0 (RoBERTa has one token type; GPT-2 has none).
    public func encode(_ text: String, pair: String?, maxLength: Int) -> Encoding {
        var first = tokenIds(text)
        var second = pair.map(tokenIds)
        let specialCount = wrappingIds == nil ? 0 : (pair == nil ? 2 : 4)
        let lengths = Self.truncatedLengths(first: first.count, second: second?.count,
                                            budget: max(0, maxLength - specialCount))
        first.removeLast(first.count - lengths.first)
        if let count = second?.count { second?.removeLast(count - lengths.second) }

        var ids: [Int32] = []
        ids.reserveCapacity(first.count + (second?.count ?? 0) + specialCount)
        if let (begin, separator) = wrappingIds {
            ids.append(begin)
            ids += first
            ids.append(separator)
            if let second {
                ids.append(separator)
                ids += second
                ids.append(separator)
            }
        } else {
            ids += first
            if let second { ids += second }
        }
        return Encoding(ids: ids, typeIds: [Int32](repeating: 0, count: ids.count))
    }

    /// BPE ids of `text` without special tokens or truncation (added tokens written in the text,
    /// such as "<mask>", become their ids).
    public func tokenIds(_ text: String) -> [Int32] {
        let bytes = Array(text.utf8)
        var ids: [Int32] = []
        ids.reserveCapacity(bytes.count / 3 + 4)
        merger.appendIds(of: bytes, segments: addedTokens.segments(of: bytes),
                         addsPrefixSpace: addsPrefixSpace, to: &ids)
        return ids
    }

    /// Lengths kept by Hugging Face `tokenizers`' LongestFirst truncation to `budget` tokens
    /// (maxLength minus the special tokens). Single text: the first `budget`. Pair that does not
    /// fit: when the shorter has at most half the budget it is kept whole and the longer gets the
    /// rest; otherwise each gets half and the odd token goes to the longer (to the second on ties).
    /// E.g. lengths 20 and 23 with budget 3 keep 1 and 2.
    public static func truncatedLengths(first: Int, second: Int?, budget: Int) -> (first: Int, second: Int) {
        guard let second else { return (min(first, budget), 0) }
        if first + second <= budget { return (first, second) }
        let longerIsFirst = first > second
        var shorterLength = min(first, second)
        var longerLength = shorterLength > budget ? shorterLength : max(shorterLength, budget - shorterLength)
        if shorterLength + longerLength > budget {
            shorterLength = budget / 2
            longerLength = shorterLength + budget % 2
        }
        let kept = longerIsFirst ? (longerLength, shorterLength) : (shorterLength, longerLength)
        return (min(first, kept.0), min(second, kept.1))
    }
}

/// BPE merging with a per-piece cache. A class (shared by copies of the tokenizer) whose
/// mutable state — the cache and the pre-tokenizer's scratch arrays — is guarded by a lock,
/// taken once per text: the tokenizer is safe to use from several threads, which take turns.
final class BytePairMerger: @unchecked Sendable {
    /// Vocabulary id of the single-byte symbol of each byte; -1 when the vocabulary lacks it
    /// (such bytes are dropped, as Hugging Face's BPE does without an unk token).
    let byteIds: [Int32]
    /// (left id << 32 | right id) → (rank << 32 | merged id); lower rank merges first.
    let merges: [Int64: Int64]

    /// Cached ids per piece (UTF-8 bytes). Insertion stops at `cacheCapacity` entries so memory
    /// stays bounded on huge corpora (as Hugging Face's cache does).
    private var cache: [ArraySlice<UInt8>: [Int32]] = [:]
    private let cacheCapacity = 200_000
    private var preTokenizer = PreTokenizer()
    private var prefixed: [UInt8] = []
    private let lock = NSLock()

    init(byteIds: [Int32], merges: [Int64: Int64]) {
        precondition(byteIds.count == 256)
        self.byteIds = byteIds
        self.merges = merges
    }

    static func pairKey(_ left: Int32, _ right: Int32) -> Int64 {
        Int64(left) << 32 | Int64(UInt32(bitPattern: right))
    }

    /// Appends the ids of `segments` of the UTF-8 `bytes`: an added token's id, or the merged ids
    /// of the pieces of a text segment (each pre-tokenised on its own).
    func appendIds(of bytes: [UInt8], segments: [TextSegment], addsPrefixSpace: Bool,
                   to ids: inout [Int32]) {
        lock.lock()
        defer { lock.unlock() }
        for segment in segments {
            switch segment {
            case .addedToken(let id):
                ids.append(id)
            case .text(let range) where range.isEmpty:
                break
            case .text(let range) where addsPrefixSpace && bytes[range.lowerBound] != UInt8(ascii: " "):
                prefixed.removeAll(keepingCapacity: true)
                prefixed.append(UInt8(ascii: " "))
                prefixed += bytes[range]
                appendPieceIds(of: prefixed, range: 0..<prefixed.count, to: &ids)
            case .text(let range):
                appendPieceIds(of: bytes, range: range, to: &ids)
            }
        }
    }

    /// Pre-tokenises `bytes[range]` and appends the merged ids of each piece. Caller holds the lock.
    private func appendPieceIds(of bytes: [UInt8], range: Range<Int>, to ids: inout [Int32]) {
        bytes.withUnsafeBufferPointer { buffer in
            preTokenizer.forEachPiece(of: UnsafeBufferPointer(rebasing: buffer[range])) { piece in
                let word = bytes[(range.lowerBound + piece.lowerBound)..<(range.lowerBound + piece.upperBound)]
                if let cached = cache[word] {
                    ids += cached
                    return
                }
                let merged = mergedIds(of: word)
                // A fresh copy, so the key does not keep the whole text alive.
                if cache.count < cacheCapacity { cache[ArraySlice(Array(word))] = merged }
                ids += merged
            }
        }
    }

    /// GPT-2's `bpe()`: start from single bytes, repeatedly merge every occurrence (left to right)
    /// of the adjacent pair with the lowest rank, until no pair has a rank.
    func mergedIds(of word: ArraySlice<UInt8>) -> [Int32] {
        var symbols: [Int32] = []
        symbols.reserveCapacity(word.count)
        for byte in word where byteIds[Int(byte)] >= 0 { symbols.append(byteIds[Int(byte)]) }
        while symbols.count > 1 {
            // Ranks sit in the high half of the merge values: the smallest value has the lowest rank.
            var best = Int64.max, bestIndex = -1
            for index in 0..<(symbols.count - 1) {
                if let merge = merges[Self.pairKey(symbols[index], symbols[index + 1])], merge < best {
                    best = merge
                    bestIndex = index
                }
            }
            if bestIndex < 0 { break }
            let left = symbols[bestIndex], right = symbols[bestIndex + 1]
            let mergedId = Int32(truncatingIfNeeded: best)
            var write = bestIndex, read = bestIndex
            while read < symbols.count {
                if read + 1 < symbols.count && symbols[read] == left && symbols[read + 1] == right {
                    symbols[write] = mergedId
                    read += 2
                } else {
                    symbols[write] = symbols[read]
                    read += 1
                }
                write += 1
            }
            symbols.removeLast(symbols.count - write)
        }
        return symbols
    }
}
