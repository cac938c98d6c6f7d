/// Gram tiles of Jacobian slabs: products computed in the model's scalar type (sgemm/ssyrk
/// speed for Float) and added into float64 accumulators, one slab at a time.
///
/// A slab is a row-major (rows × width) block of Jacobian rows restricted to `width`
/// consecutive parameters. Keeping each product's inner dimension to one slab bounds the
/// rounding of the Float sums, and adding slab after slab in slab order makes the float64
/// result independent of the thread count.
public final class GramTiles<T: ModelScalar> {
    /// Floating-point operations performed so far (SYRK n(n+1)k, GEMM 2mnk).
    public private(set) var flops: Double = 0
    /// Seconds spent in the products and the float64 additions.
    public private(set) var seconds: Double = 0

    private var scratch: [UnsafeMutablePointer<T>] = []
    private var scratchCapacity = 0

    public init() {}

    deinit { for s in scratch { s.deallocate() } }

    private func ensureScratch(count: Int, elements: Int) {
        if scratch.count >= count && scratchCapacity >= elements { return }
        for s in scratch { s.deallocate() }
        scratchCapacity = max(scratchCapacity, elements, 1)
        scratch = (0..<max(count, scratch.count)).map { _ in .allocate(capacity: scratchCapacity) }
    }

    /// For every slab s: lower(gram) += lower(A_s·A_sᵀ) and, when `eval` is given,
    /// cross += E_s·A_sᵀ. A_s (n × widths[s]) at `slabs[s]`, E_s (m × widths[s]) at
    /// `eval.slabs[s]`; gram (n × n, leading dimension n), cross (m × n). Slabs run in
    /// parallel over the compute threads; their tiles are added in slab order.
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public func addDiagonal(gram: UnsafeMutablePointer<Double>, n: Int, slabs: [UnsafePointer<T>], widths: [Int],
                            eval: (slabs: [UnsafePointer<T>], m: Int, cross: UnsafeMutablePointer<Double>)?) {
        precondition(slabs.count == widths.count)
        guard n > 0, !slabs.isEmpty else { return }
        let start = ProcessStats.now()
        let m = eval?.m ?? 0
        let threads = max(1, min(Parallel.threads, slabs.count))
        let tileElements = n * n + m * n
        ensureScratch(count: threads, elements: tileElements)
        var first = 0
        while first < slabs.count {
            let group = min(threads, slabs.count - first)
            let buffers = scratch
            Parallel.forRanges(group, chunk: 1) { range in
                for g in range {
                    let s = first + g, k = widths[s], tile = buffers[g]
                    T.syrkLower(n: n, k: k, alpha: 1, a: slabs[s], lda: k, beta: 0, c: tile, ldc: n)
                    if let eval, m > 0 {
                        T.gemm(.none, .transpose, m: m, n: n, k: k, alpha: 1, a: eval.slabs[s], lda: k,
                               b: slabs[s], ldb: k, beta: 0, c: tile + n * n, ldc: n)
                    }
                }
            }
            for g in 0..<group {
                let tile = scratch[g], k = Double(widths[first + g])
                for i in 0..<n {
                    let row = gram + i * n, t = tile + i * n
                    for j in 0...i { row[j] += Double(t[j]) }
                }
                if let eval, m > 0 { Self.add(eval.cross, tile + n * n, count: m * n) }
                flops += Double(n) * Double(n + 1) * k + 2 * Double(m) * Double(n) * k
            }
            first += group
        }
        seconds += ProcessStats.now() - start
    }

    /// acc (m × n, leading dimension ldc) += A·Bᵀ for one slab: A (m × k) and B (n × k)
    /// row-major with leading dimensions lda, ldb. The product is split over the threads.
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public func addProduct(into acc: UnsafeMutablePointer<Double>, ldc: Int, a: UnsafePointer<T>, lda: Int,
                           b: UnsafePointer<T>, ldb: Int, m: Int, n: Int, k: Int) {
        guard m > 0, n > 0, k > 0 else { return }
        let start = ProcessStats.now()
        ensureScratch(count: 1, elements: m * n)
        let tile = scratch[0]
        parallelGemm(.none, .transpose, m: m, n: n, k: k, alpha: 1, a: a, lda: lda, b: b, ldb: ldb,
                     beta: 0, c: tile, ldc: n)
        for i in 0..<m { Self.add(acc + i * ldc, tile + i * n, count: n) }
        flops += 2 * Double(m) * Double(n) * Double(k)
        seconds += ProcessStats.now() - start
    }

    @inline(__always)
    private static func add(_ acc: UnsafeMutablePointer<Double>, _ tile: UnsafePointer<T>, count: Int) {
        for j in 0..<count { acc[j] += Double(tile[j]) }
    }
}
