/// Multi-head scaled dot-product self-attention on a fused projection buffer.
///
/// qkv (B·T, 3H): row b·T + t holds [q | k | v] of token t of example b; head h uses columns
/// h·d..<(h+1)·d of each part (d = H / heads). Only the first lengths[b] tokens of example b
/// are real: padded keys are masked out and padded query rows produce zeros. With `causal`,
/// query t sees keys s ≤ t (GPT-2).
///
/// Query modes: all real positions (ctx is (B·T, H)), or one position per example
/// (`queryPositions`; ctx is (B, H)) — the last layer only needs the feature token.
/// Probabilities (before dropout) are saved for backward: (B, heads, T, T) with row stride T,
/// or (B, heads, T) with one query. Every (example, head) pair is a few small products on
/// strided views of qkv; pairs run in parallel and write disjoint blocks.
struct AttentionShape {
    var batch: Int
    var seqLen: Int
    var hidden: Int
    var heads: Int
    var causal: Bool
    var headDim: Int { hidden / heads }
    var qkvStride: Int { 3 * hidden }
}

/// Softmax of each score row over its visible keys (s < keyCount); masked entries become 0.
@inline(__always)
private func softmaxRows<T: ModelScalar>(_ p: UnsafeMutablePointer<T>, rows: Int, ld: Int, width: Int,
                                         firstQuery: Int, causal: Bool) {
    for i in 0..<rows {
        let row = p + i * ld
        let keyCount = causal ? min(width, firstQuery + i + 1) : width
        let maxScore = T.maximum(row, count: keyCount)
        for s in 0..<keyCount { row[s] = T.exponential(row[s] - maxScore) }
        let inv = 1 / T.sum(row, count: keyCount)
        for s in 0..<keyCount { row[s] *= inv }
        for s in keyCount..<width { row[s] = 0 }
    }
}

/// out = p ⊙ mask·scale over a rows × width block (row strides ldp and ldo).
@inline(__always)
private func dropRows<T: ModelScalar>(_ out: UnsafeMutablePointer<T>, ldo: Int, _ p: UnsafePointer<T>, ldp: Int,
                                      mask: UnsafePointer<UInt8>, rows: Int, width: Int, scale: T) {
    for i in 0..<rows {
        let o = out + i * ldo, src = p + i * ldp, m = mask + i * ldp
        for s in 0..<width { o[s] = src[s] * (T(m[s]) * scale) }  // branch-free: vectorizes
    }
}

/// Forward. lengths (B); queryPositions (B) or nil for all positions; dropMask matches probs
/// (nil = no attention dropout). Overwrites ctx and probs.
func attentionForward<T: ModelScalar>(ctx: UnsafeMutablePointer<T>, probs: UnsafeMutablePointer<T>,
                                      dropMask: UnsafePointer<UInt8>?, dropScale: T,
                                      qkv: UnsafePointer<T>, lengths: UnsafePointer<Int32>,
                                      queryPositions: UnsafePointer<Int32>?, shape s: AttentionShape) {
    let T_ = s.seqLen, H = s.hidden, d = s.headDim, stride = s.qkvStride
    let single = queryPositions != nil
    let scale = 1 / T(d).squareRoot()
    let probsPerPair = single ? T_ : T_ * T_
    Parallel.forRanges(s.batch * s.heads, grain: 1) { pairs in
        let dropped = UnsafeMutablePointer<T>.allocate(capacity: T_ * T_)
        defer { dropped.deallocate() }
        for pair in pairs {
            let b = pair / s.heads, h = pair % s.heads
            let L = Int(lengths[b])
            let head = qkv + b * T_ * stride + h * d
            let firstQuery = single ? Int(queryPositions![b]) : 0
            let queryCount = single ? 1 : L
            let p = probs + pair * probsPerPair
            let out = single ? ctx + b * H + h * d : ctx + b * T_ * H + h * d
            // Scores (queries × L) = scale·Q·Kᵀ, then softmax over the visible keys.
            T.gemm(.none, .transpose, m: queryCount, n: L, k: d, alpha: scale, a: head + firstQuery * stride, lda: stride,
                   b: head + H, ldb: stride, beta: 0, c: p, ldc: T_)
            softmaxRows(p, rows: queryCount, ld: T_, width: L, firstQuery: firstQuery, causal: s.causal)
            var weights = UnsafePointer(p), ldw = T_
            if let dropMask {
                dropRows(dropped, ldo: L, p, ldp: T_, mask: dropMask + pair * probsPerPair, rows: queryCount, width: L, scale: dropScale)
                weights = UnsafePointer(dropped); ldw = L
            }
            // Context (queries × d) = P·V.
            T.gemm(.none, .none, m: queryCount, n: d, k: L, alpha: 1, a: weights, lda: ldw, b: head + 2 * H, ldb: stride,
                   beta: 0, c: out, ldc: H)
            if !single {
                for t in L..<T_ { for c in 0..<d { out[t * H + c] = 0 } }  // padded query rows
            }
        }
    }
}

/// Backward. dqkv (B·T, 3H) ACCUMULATES; dctx has ctx's layout. Uses probs and dropMask saved
/// by forward.
///   dP' = dctx·Vᵀ, dV += P'ᵀ·dctx (P' = dropped P), dP = dP' ⊙ mask·scale,
///   dS = P ⊙ (dP − rowsum(P ⊙ dP)), dQ += scale·dS·K, dK += scale·dSᵀ·Q.
func attentionBackward<T: ModelScalar>(dqkv: UnsafeMutablePointer<T>, dctx: UnsafePointer<T>,
                                       probs: UnsafePointer<T>, dropMask: UnsafePointer<UInt8>?, dropScale: T,
                                       qkv: UnsafePointer<T>, lengths: UnsafePointer<Int32>,
                                       queryPositions: UnsafePointer<Int32>?, shape s: AttentionShape) {
    let T_ = s.seqLen, H = s.hidden, d = s.headDim, stride = s.qkvStride
    let single = queryPositions != nil
    let scale = 1 / T(d).squareRoot()
    let probsPerPair = single ? T_ : T_ * T_
    Parallel.forRanges(s.batch * s.heads, grain: 1) { pairs in
        let dp = UnsafeMutablePointer<T>.allocate(capacity: T_ * T_)
        let dropped = UnsafeMutablePointer<T>.allocate(capacity: T_ * T_)
        defer { dp.deallocate(); dropped.deallocate() }
        for pair in pairs {
            let b = pair / s.heads, h = pair % s.heads
            let L = Int(lengths[b])
            let head = qkv + b * T_ * stride + h * d
            let dhead = dqkv + b * T_ * stride + h * d
            let firstQuery = single ? Int(queryPositions![b]) : 0
            let queryCount = single ? 1 : L
            let p = probs + pair * probsPerPair
            let g = single ? dctx + b * H + h * d : dctx + b * T_ * H + h * d
            let mask = dropMask.map { $0 + pair * probsPerPair }
            // dP' (queries × L) = dctx·Vᵀ.
            T.gemm(.none, .transpose, m: queryCount, n: L, k: d, alpha: 1, a: g, lda: H, b: head + 2 * H, ldb: stride,
                   beta: 0, c: dp, ldc: L)
            // dV (L × d) += P'ᵀ·dctx.
            var weights = p, ldw = T_
            if let mask {
                dropRows(dropped, ldo: L, p, ldp: T_, mask: mask, rows: queryCount, width: L, scale: dropScale)
                weights = UnsafePointer(dropped); ldw = L
            }
            T.gemm(.transpose, .none, m: L, n: d, k: queryCount, alpha: 1, a: weights, lda: ldw, b: g, ldb: H,
                   beta: 1, c: dhead + 2 * H, ldc: stride)
            // Through dropout and softmax: dS in place of dP.
            for i in 0..<queryCount {
                let row = dp + i * L, prob = p + i * T_
                if let mask {
                    let m = mask + i * T_
                    for sIdx in 0..<L { row[sIdx] *= T(m[sIdx]) * dropScale }
                }
                let dot = T.dot(prob, row, count: L)
                for sIdx in 0..<L { row[sIdx] = prob[sIdx] * (row[sIdx] - dot) }
            }
            // dQ (queries × d) += scale·dS·K;  dK (L × d) += scale·dSᵀ·Q.
            T.gemm(.none, .none, m: queryCount, n: d, k: L, alpha: scale, a: dp, lda: L, b: head + H, ldb: stride,
                   beta: 1, c: dhead + firstQuery * stride, ldc: stride)
            T.gemm(.transpose, .none, m: L, n: d, k: queryCount, alpha: scale, a: dp, lda: L, b: head + firstQuery * stride,
                   ldb: stride, beta: 1, c: dhead + H, ldc: stride)
        }
    }
}
