/// Inverted dropout: kept values are scaled by 1/(1−p) in training, nothing happens in eval.
/// Masks come from counter-based streams (seed, row), so they do not depend on threading.

/// Fills mask (rows × dim) with 1 (keep) or 0 (drop); P(drop) = p (quantised to 1/65536).
func dropoutMask(_ mask: UnsafeMutablePointer<UInt8>, rows: Int, dim: Int, p: Double, seed: UInt64) {
    let threshold = UInt64((p * 65536).rounded())
    Parallel.forRanges(rows, grain: max(1, 16384 / max(dim, 1))) { range in
        for row in range {
            var rng = RandomGenerator(seed: seed, stream: UInt64(row))
            let m = mask + row * dim
            // Four 16-bit draws per 64-bit number, low bits first; whole groups of four
            // unrolled (the per-element group test kept the loop from being scheduled well).
            var j = 0
            while j + 4 <= dim {
                let bits = rng.next()
                m[j] = (bits & 0xFFFF) >= threshold ? 1 : 0
                m[j + 1] = ((bits >> 16) & 0xFFFF) >= threshold ? 1 : 0
                m[j + 2] = ((bits >> 32) & 0xFFFF) >= threshold ? 1 : 0
                m[j + 3] = (bits >> 48) >= threshold ? 1 : 0
                j += 4
            }
            if j < dim {
                var bits = rng.next()
                for k in j..<dim { m[k] = (bits & 0xFFFF) >= threshold ? 1 : 0; bits >>= 16 }
            }
        }
    }
}

/// x[i] *= mask[i]·scale over `count` elements (forward and backward are the same operation).
func applyDropout<T: ModelScalar>(_ x: UnsafeMutablePointer<T>, mask: UnsafePointer<UInt8>, count: Int, scale: T) {
    Parallel.forRanges(count, grain: 32768) { r in
        // A multiply by 0 or scale, not a branch: the random mask defeats branch prediction,
        // and the branch-free loop vectorizes.
        for i in r { x[i] *= T(mask[i]) * scale }
    }
}
