/// The word-embedding share of Jacobian rows, kept sparse: an example's gradient w.r.t. the
/// word table is nonzero only in the rows of its own tokens, so
///   ⟨g_r^word, g_q^word⟩ = Σ_v (Σ_{t ∈ r: id_t = v} e_rt) · (Σ_{s ∈ q: id_s = v} e_qs),
/// where e_rt is the gradient that flowed into the embedding sum at token t (the model's
/// `embeddingGradient`). Exact, and tiny next to the 30k × H dense table.
public struct SparseWordRows: Sendable, Equatable {
    /// Hidden size H (length of each vector).
    public let hidden: Int
    /// For entry e: the Jacobian row it belongs to (global row index) and its token id.
    public private(set) var rows: [Int64] = []
    public private(set) var tokens: [Int64] = []
    /// (entries × H) row-major: Σ of e over the row's tokens with that id.
    public private(set) var vectors: [Double] = []

    public init(hidden: Int) { self.hidden = hidden }

    /// Rebuilds entries received from other ranks (rows, tokens and vectors as produced here).
    public init(hidden: Int, rows: [Int64], tokens: [Int64], vectors: [Double]) {
        precondition(rows.count == tokens.count && vectors.count == rows.count * hidden)
        self.hidden = hidden
        self.rows = rows
        self.tokens = tokens
        self.vectors = vectors
    }

    public var count: Int { rows.count }

    /// Adds Jacobian row `row` of one example with token `ids` (its real tokens, in order) and
    /// the embedding-sum gradient `gradient` (ids.count × H): one entry per distinct id.
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public mutating func append<T: ModelScalar>(row: Int, ids: ArraySlice<Int32>, gradient: UnsafePointer<T>) {
        let H = hidden
        var firstEntry: [Int32: Int] = [:]
        for (t, id) in ids.enumerated() {
            let entry: Int
            if let existing = firstEntry[id] {
                entry = existing
            } else {
                entry = rows.count
                firstEntry[id] = entry
                rows.append(Int64(row))
                tokens.append(Int64(id))
                vectors.append(contentsOf: repeatElement(0, count: H))
            }
            let source = gradient + t * H
            vectors.withUnsafeMutableBufferPointer { v in
                let destination = v.baseAddress! + entry * H
                for j in 0..<H { destination[j] += Double(source[j]) }
            }
        }
    }

    /// Entries grouped by token id (ids ascending, entries in insertion order).
    func entriesByToken() -> [Int64: [Int]] {
        var groups: [Int64: [Int]] = [:]
        for (e, v) in tokens.enumerated() { groups[v, default: []].append(e) }
        return groups
    }
}

/// The paper's estimate of the word-embedding share: keep each table entry (v, h) with
/// probability `fraction` (a fixed pseudo-random choice from `seed`) and divide the sum by
/// `fraction`, so the estimate is unbiased. The authors sample 10% of the table.
public struct WordEmbeddingSample: Sendable, Equatable, Codable {
    public var fraction: Double
    public var seed: UInt64

    public init(fraction: Double, seed: UInt64 = 0) {
        precondition(fraction > 0 && fraction <= 1, "the sampled fraction must be in (0, 1]")
        self.fraction = fraction
        self.seed = seed
    }

    /// Whether table entry (token, column) is in the sample (SplitMix64 of its index and the seed).
    public func keeps(token: Int64, column: Int, hidden: Int) -> Bool {
        var z = seed &+ UInt64(bitPattern: token &* Int64(hidden) &+ Int64(column)) &* 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Double(z >> 11) * 0x1p-53 < fraction
    }
}

public enum WordEmbeddingKernel {
    /// Adds the word-embedding share to the kernels: trainGram (R × R, full symmetric) +=
    /// ⟨g_r, g_q⟩ over train rows r, q; cross (Re × R) += ⟨g_e, g_q⟩ for eval rows e. Rows in
    /// the entries are global indices into these matrices. With `sample`, only the sampled
    /// table entries count, scaled by 1/fraction.
    public static func accumulate(train: SparseWordRows, eval: SparseWordRows?, trainRows: Int,
                                  trainGram: UnsafeMutablePointer<Double>, cross: UnsafeMutablePointer<Double>?,
                                  sample: WordEmbeddingSample? = nil) {
        let H = train.hidden
        let trainGroups = train.entriesByToken()
        let evalGroups = eval?.entriesByToken() ?? [:]
        var a: [Double] = [], b: [Double] = [], product: [Double] = []
        // Every row's vector for token v, with the sampling mask (scaled by 1/√f on each side).
        func gather(_ source: SparseWordRows, _ entries: [Int], token: Int64, into matrix: inout [Double]) {
            matrix.removeAll(keepingCapacity: true)
            matrix.reserveCapacity(entries.count * H)
            for e in entries { matrix.append(contentsOf: source.vectors[(e * H)..<((e + 1) * H)]) }
            guard let sample else { return }
            let scale = 1 / sample.fraction.squareRoot()
            for h in 0..<H {
                let factor = sample.keeps(token: token, column: h, hidden: H) ? scale : 0
                for r in 0..<entries.count { matrix[r * H + h] *= factor }
            }
        }
        // target[x row i, y row j] += (X·Yᵀ)_ij for gathered X (m × H) and Y (n × H).
        func addProduct(into target: UnsafeMutablePointer<Double>, _ x: [Double], rows xRows: [Int],
                        _ y: [Double], rows yRows: [Int]) {
            let m = xRows.count, n = yRows.count
            product = [Double](repeating: 0, count: m * n)
            x.withUnsafeBufferPointer { xp in
                y.withUnsafeBufferPointer { yp in
                    product.withUnsafeMutableBufferPointer { p in
                        Double.gemm(.none, .transpose, m: m, n: n, k: H, alpha: 1, a: xp.baseAddress!, lda: H,
                                    b: yp.baseAddress!, ldb: H, beta: 0, c: p.baseAddress!, ldc: n)
                    }
                }
            }
            for (i, row) in xRows.enumerated() {
                for (j, column) in yRows.enumerated() { target[row * trainRows + column] += product[i * n + j] }
            }
        }
        for token in trainGroups.keys.sorted() {
            let entries = trainGroups[token]!
            let rows = entries.map { Int(train.rows[$0]) }
            gather(train, entries, token: token, into: &a)
            addProduct(into: trainGram, a, rows: rows, a, rows: rows)
            guard let eval, let cross, let evalEntries = evalGroups[token] else { continue }
            gather(eval, evalEntries, token: token, into: &b)
            addProduct(into: cross, b, rows: evalEntries.map { Int(eval.rows[$0]) }, a, rows: rows)
        }
    }
}
