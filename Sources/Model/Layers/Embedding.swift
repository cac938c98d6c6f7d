/// Token embeddings: word + position + token type, summed (LayerNorm is applied by the caller).

/// out (n, dim) = word[ids[i]] + position[positions[i]] + type[types[i]] (type may be nil:
/// GPT-2 has no token types).
func embeddingForward<T: ModelScalar>(_ out: UnsafeMutablePointer<T>, ids: UnsafePointer<Int32>,
                                      positions: UnsafePointer<Int32>, types: UnsafePointer<Int32>,
                                      word: UnsafePointer<T>, position: UnsafePointer<T>, type: UnsafePointer<T>?,
                                      n: Int, dim: Int) {
    Parallel.forRanges(n, grain: max(1, 8192 / dim)) { rows in
        for i in rows {
            let o = out + i * dim
            let w = word + Int(ids[i]) * dim, p = position + Int(positions[i]) * dim
            if let type {
                let t = type + Int(types[i]) * dim
                for j in 0..<dim { o[j] = w[j] + p[j] + t[j] }
            } else {
                for j in 0..<dim { o[j] = w[j] + p[j] }
            }
        }
    }
}

/// Scatter-adds dout rows into the tables' gradients (only rows listed in `rows`; padded
/// positions carry no gradient). Sequential: several tokens can share a table row.
func embeddingBackward<T: ModelScalar>(dword: UnsafeMutablePointer<T>?, dposition: UnsafeMutablePointer<T>?,
                                       dtype: UnsafeMutablePointer<T>?, dout: UnsafePointer<T>,
                                       ids: UnsafePointer<Int32>, positions: UnsafePointer<Int32>,
                                       types: UnsafePointer<Int32>, rows: [Int], dim: Int) {
    for i in rows {
        let g = dout + i * dim
        if let dword { let w = dword + Int(ids[i]) * dim; for j in 0..<dim { w[j] += g[j] } }
        if let dposition { let p = dposition + Int(positions[i]) * dim; for j in 0..<dim { p[j] += g[j] } }
        if let dtype { let t = dtype + Int(types[i]) * dim; for j in 0..<dim { t[j] += g[j] } }
    }
}
