/// Multi-head scaled dot-product self-attention on a fused projection buffer.
///
/// qkv (B·T, 3H): row b·T + t holds [q | k | v] of token t of example b; head h uses columns
/// h·d..<(h+1)·d of each part (d = H / heads). Only the first lengths[b] tokens of example b
/// are real: padded keys are masked out and padded query rows produce zeros. With `causal`,
/// query t sees keys s ≤ t (GPT-2).
///
/// Query modes: all real positions (ctx is (B·T, H)), or one position per example
/// (`queryPositions`; ctx is (B, H)) — the last layer only needs the feature token.
/// Probabilities are saved for backward: (B, heads, T, T), or (B, heads, T) with one query.
struct AttentionShape {
    var batch: Int
    var seqLen: Int
    var hidden: Int
    var heads: Int
    var causal: Bool
    var headDim: Int { hidden / heads }
    var qkvStride: Int { 3 * hidden }
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
        // Scratch: keys transposed (d × T) so score rows are axpy loops over s.
        let keysT = UnsafeMutablePointer<T>.allocate(capacity: d * T_)
        defer { keysT.deallocate() }
        for pair in pairs {
            let b = pair / s.heads, h = pair % s.heads
            let L = Int(lengths[b])
            let rowBase = b * T_
            for sIdx in 0..<L {
                let k = qkv + (rowBase + sIdx) * stride + H + h * d
                for c in 0..<d { keysT[c * T_ + sIdx] = k[c] }
            }
            let queries: [Int] = single ? [Int(queryPositions![b])] : Array(0..<T_)
            for (qi, t) in queries.enumerated() {
                let out = single ? ctx + b * H + h * d : ctx + (rowBase + t) * H + h * d
                for c in 0..<d { out[c] = 0 }
                let p = probs + pair * probsPerPair + (single ? 0 : qi * T_)
                guard t < L else { continue }  // padded query row: zeros
                let keyCount = s.causal ? t + 1 : L
                let q = qkv + (rowBase + t) * stride + h * d
                for sIdx in 0..<keyCount { p[sIdx] = 0 }
                for c in 0..<d {
                    let qc = q[c] * scale
                    let kt = keysT + c * T_
                    for sIdx in 0..<keyCount { p[sIdx] += qc * kt[sIdx] }
                }
                var maxScore = p[0]
                for sIdx in 1..<max(keyCount, 1) { maxScore = max(maxScore, p[sIdx]) }
                var sum: T = 0
                for sIdx in 0..<keyCount { let e = T.exponential(p[sIdx] - maxScore); p[sIdx] = e; sum += e }
                let inv = 1 / sum
                for sIdx in 0..<keyCount { p[sIdx] *= inv }
                let m = dropMask.map { $0 + pair * probsPerPair + (single ? 0 : qi * T_) }
                for sIdx in 0..<keyCount {
                    var w = p[sIdx]
                    if let m { w = m[sIdx] == 0 ? 0 : w * dropScale }
                    if w == 0 { continue }
                    let v = qkv + (rowBase + sIdx) * stride + 2 * H + h * d
                    for c in 0..<d { out[c] += w * v[c] }
                }
            }
        }
    }
}

/// Backward. dqkv (B·T, 3H) ACCUMULATES; dctx has ctx's layout. Uses probs and dropMask saved
/// by forward. Pairs (b, h) write disjoint column blocks, so they run in parallel.
func attentionBackward<T: ModelScalar>(dqkv: UnsafeMutablePointer<T>, dctx: UnsafePointer<T>,
                                       probs: UnsafePointer<T>, dropMask: UnsafePointer<UInt8>?, dropScale: T,
                                       qkv: UnsafePointer<T>, lengths: UnsafePointer<Int32>,
                                       queryPositions: UnsafePointer<Int32>?, shape s: AttentionShape) {
    let T_ = s.seqLen, H = s.hidden, d = s.headDim, stride = s.qkvStride
    let single = queryPositions != nil
    let scale = 1 / T(d).squareRoot()
    let probsPerPair = single ? T_ : T_ * T_
    Parallel.forRanges(s.batch * s.heads, grain: 1) { pairs in
        let valuesT = UnsafeMutablePointer<T>.allocate(capacity: d * T_)
        let dp = UnsafeMutablePointer<T>.allocate(capacity: T_)
        defer { valuesT.deallocate(); dp.deallocate() }
        for pair in pairs {
            let b = pair / s.heads, h = pair % s.heads
            let L = Int(lengths[b])
            let rowBase = b * T_
            for sIdx in 0..<L {
                let v = qkv + (rowBase + sIdx) * stride + 2 * H + h * d
                for c in 0..<d { valuesT[c * T_ + sIdx] = v[c] }
            }
            let queries: [Int] = single ? [Int(queryPositions![b])] : Array(0..<min(L, T_))
            for (qi, t) in queries.enumerated() where t < L {
                let g = single ? dctx + b * H + h * d : dctx + (rowBase + t) * H + h * d
                let p = probs + pair * probsPerPair + (single ? 0 : qi * T_)
                let m = dropMask.map { $0 + pair * probsPerPair + (single ? 0 : qi * T_) }
                let keyCount = s.causal ? t + 1 : L
                // dP_dropped[s] = g · v_s ; dV_s += P_dropped[s] · g
                for sIdx in 0..<keyCount { dp[sIdx] = 0 }
                for c in 0..<d {
                    let gc = g[c]
                    let vt = valuesT + c * T_
                    for sIdx in 0..<keyCount { dp[sIdx] += gc * vt[sIdx] }
                }
                for sIdx in 0..<keyCount {
                    var w = p[sIdx]
                    if let m { w = m[sIdx] == 0 ? 0 : w * dropScale; dp[sIdx] = m[sIdx] == 0 ? 0 : dp[sIdx] * dropScale }
                    if w != 0 {
                        let dv = dqkv + (rowBase + sIdx) * stride + 2 * H + h * d
                        for c in 0..<d { dv[c] += w * g[c] }
                    }
                }
                // Softmax backward: dS = P ⊙ (dP − Σ P·dP), then the 1/√d scale.
                var dot: T = 0
                for sIdx in 0..<keyCount { dot += p[sIdx] * dp[sIdx] }
                let q = qkv + (rowBase + t) * stride + h * d
                let dq = dqkv + (rowBase + t) * stride + h * d
                for sIdx in 0..<keyCount {
                    let ds = p[sIdx] * (dp[sIdx] - dot) * scale
                    if ds == 0 { continue }
                    let k = qkv + (rowBase + sIdx) * stride + H + h * d
                    let dk = dqkv + (rowBase + sIdx) * stride + H + h * d
                    for c in 0..<d {
                        dq[c] += ds * k[c]
                        dk[c] += ds * q[c]
                    }
                }
            }
        }
    }
}
