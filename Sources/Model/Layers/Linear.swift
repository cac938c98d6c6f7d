/// Fully connected layer in Hugging Face's storage order: weight (outDim, inDim), bias (outDim).

/// y = x·Wᵀ + b.  x (n, inDim) with row stride ldx, w (outDim, inDim), b (outDim) or nil,
/// y (n, outDim) with row stride ldy. Overwrites y.
@inline(__always)
func linearForward<T: ModelScalar>(_ y: UnsafeMutablePointer<T>, ldy: Int,
                                   _ x: UnsafePointer<T>, ldx: Int,
                                   _ w: UnsafePointer<T>, _ b: UnsafePointer<T>?,
                                   n: Int, inDim: Int, outDim: Int) {
    guard n > 0 else { return }
    // The bias is written first and the product added to it (beta 1): one pass over y, where
    // beta 0 makes the BLAS clear y and a bias pass after it reads and writes y again.
    if let b { fillRows(y, ldy: ldy, with: b, n: n, dim: outDim) }
    parallelGemm(.none, .transpose, m: n, n: outDim, k: inDim, alpha: 1, a: x, lda: ldx, b: w, ldb: inDim,
           beta: b == nil ? 0 : 1, c: y, ldc: ldy)
}

/// y[i, :] = b for every row i.  y (n, dim) with row stride ldy.
@inline(__always)
func fillRows<T: ModelScalar>(_ y: UnsafeMutablePointer<T>, ldy: Int, with b: UnsafePointer<T>, n: Int, dim: Int) {
    Parallel.forRanges(n, grain: max(1, 16384 / max(dim, 1))) { rows in
        for i in rows { (y + i * ldy).update(from: b, count: dim) }
    }
}

/// Backward of linearForward; ACCUMULATES into dx, dw, db (each optional: a frozen weight
/// passes nil for dw/db, the first layer may pass nil for dx).
///   dx (n, inDim) += dy·W;  dw (outDim, inDim) += dyᵀ·x;  db (outDim) += Σ_rows dy.
@inline(__always)
func linearBackward<T: ModelScalar>(dx: UnsafeMutablePointer<T>?, ldx: Int,
                                    dw: UnsafeMutablePointer<T>?, db: UnsafeMutablePointer<T>?,
                                    dy: UnsafePointer<T>, ldy: Int,
                                    x: UnsafePointer<T>, w: UnsafePointer<T>,
                                    n: Int, inDim: Int, outDim: Int, ones: UnsafePointer<T>) {
    guard n > 0 else { return }
    if let dx {
        parallelGemm(.none, .none, m: n, n: inDim, k: outDim, alpha: 1, a: dy, lda: ldy, b: w, ldb: inDim,
               beta: 1, c: dx, ldc: ldx)
    }
    if let dw {
        parallelGemm(.transpose, .none, m: outDim, n: inDim, k: n, alpha: 1, a: dy, lda: ldy, b: x, ldb: ldx,
               beta: 1, c: dw, ldc: inDim)
    }
    if let db {
        // Column sums as dyᵀ·1 (ones holds at least n ones).
        T.gemv(.transpose, m: n, n: outDim, alpha: 1, a: dy, lda: ldy, x: ones, beta: 1, y: db)
    }
}
