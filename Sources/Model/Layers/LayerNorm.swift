/// Layer normalisation over the last dimension (biased variance, as PyTorch).

/// out = (x − mean)·rstd·γ + β per row.  x, out (n, dim); mean, rstd (n) saved for backward.
func layerNormForward<T: ModelScalar>(_ out: UnsafeMutablePointer<T>, mean: UnsafeMutablePointer<T>,
                                      rstd: UnsafeMutablePointer<T>, _ x: UnsafePointer<T>,
                                      gamma: UnsafePointer<T>, beta: UnsafePointer<T>,
                                      n: Int, dim: Int, eps: Double) {
    let invDim = 1 / T(dim)
    let epsilon = T(eps)
    Parallel.forRanges(n, grain: max(1, 8192 / dim)) { rows in
        for i in rows {
            let xi = x + i * dim, oi = out + i * dim
            let m = T.sum(xi, count: dim) * invDim
            let r = 1 / (T.squaredDeviationSum(xi, count: dim, center: m) * invDim + epsilon).squareRoot()
            for j in 0..<dim { oi[j] = (xi[j] - m) * r * gamma[j] + beta[j] }
            mean[i] = m
            rstd[i] = r
        }
    }
}

/// Backward of layerNormForward. dx (n, dim) ACCUMULATES (pass nil when the input gradient
/// is not needed); dgamma, dbeta (dim) ACCUMULATE (pass nil when the norm is frozen). Uses x,
/// mean, rstd from forward.
///   x̂ = (x − mean)·rstd;  dx = rstd·(g − mean(g) − x̂·mean(g·x̂)),  g = dout·γ.
func layerNormBackward<T: ModelScalar>(dx: UnsafeMutablePointer<T>?, dgamma: UnsafeMutablePointer<T>?,
                                       dbeta: UnsafeMutablePointer<T>?, dout: UnsafePointer<T>,
                                       x: UnsafePointer<T>, mean: UnsafePointer<T>, rstd: UnsafePointer<T>,
                                       gamma: UnsafePointer<T>, n: Int, dim: Int) {
    let invDim = 1 / T(dim)
    if let dx {
        Parallel.forRanges(n, grain: max(1, 8192 / dim)) { rows in
            for i in rows {
                let xi = x + i * dim, gi = dout + i * dim, dxi = dx + i * dim
                let m = mean[i], r = rstd[i]
                var sumG: T = 0, sumGX: T = 0
                for j in 0..<dim {
                    let g = gi[j] * gamma[j]
                    sumG += g
                    sumGX += g * (xi[j] - m) * r
                }
                let meanG = sumG * invDim, meanGX = sumGX * invDim
                for j in 0..<dim {
                    let xhat = (xi[j] - m) * r
                    dxi[j] += r * (gi[j] * gamma[j] - meanG - xhat * meanGX)
                }
            }
        }
    }
    // Parameter gradients reduce over rows: one thread, fixed order (deterministic).
    if let dgamma, let dbeta {
        for i in 0..<n {
            let xi = x + i * dim, gi = dout + i * dim
            let m = mean[i], r = rstd[i]
            for j in 0..<dim {
                dgamma[j] += gi[j] * (xi[j] - m) * r
                dbeta[j] += gi[j]
            }
        }
    }
}
