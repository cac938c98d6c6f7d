import COpenBLAS
import Dispatch
import Foundation

/// The only file that calls BLAS/LAPACK. Row-major products for the two scalar types the
/// model runs in: Float (training, inference) and Double (reference checks, kernels); and
/// `Parallel`, which splits elementwise work over the same threads the products use.
public enum BLAS {
    /// OpenBLAS build configuration, e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Zen MAX_THREADS=64".
    public static var configuration: String { String(cString: openblas_get_config()) }
    /// The kernel family OpenBLAS picked for this CPU (OPENBLAS_CORETYPE overrides it).
    public static var coreName: String { String(cString: openblas_get_corename()) }
    /// The kernel family to ask OpenBLAS for when it picked a generic one for a CPU newer than
    /// itself (Debian 12's OpenBLAS 0.3.21 takes a Sapphire Rapids Xeon for a Prescott and runs
    /// SSE3 kernels at a quarter of the AVX-512 speed): "SkylakeX" when the CPU has AVX-512
    /// (F, CD, BW, DQ, VL), "Haswell" when it has AVX2 and FMA; nil when OpenBLAS chose a
    /// specific family or OPENBLAS_CORETYPE is set (the user's choice stands).
    public static func betterCoreType(environment: [String: String] = ProcessInfo.processInfo.environment,
                                      detected: String = coreName, cpuFlags: Set<Substring>? = nil) -> String? {
        guard environment["OPENBLAS_CORETYPE"] == nil else { return nil }
        let generic: Set<String> = ["Prescott", "Katmai", "Coppermine", "Northwood", "Banias", "Core2", "Penryn",
                                    "Dunnington", "Nehalem", "Atom"]
        guard generic.contains(detected) else { return nil }
        guard let flags = cpuFlags ?? processorFlags() else { return nil }
        if flags.isSuperset(of: ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"]) { return "SkylakeX" }
        if flags.isSuperset(of: ["avx2", "fma"]) { return "Haswell" }
        return nil
    }

    /// The instruction-set flags of the first processor in /proc/cpuinfo (nil off Linux).
    public static func processorFlags() -> Set<Substring>? {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
              let colon = line.firstIndex(of: ":") else { return nil }
        return Set(line[line.index(after: colon)...].split(separator: " "))
    }

    /// Compute threads of this rank: OPENBLAS_NUM_THREADS (else the cores OpenBLAS found),
    /// read once at start-up. lpft-mpi runs OpenBLAS itself single-threaded and splits products
    /// and elementwise loops over these threads (Parallel), so idle OpenBLAS workers never spin
    /// against our own threads.
    public static var threads: Int { Parallel.threads }

    /// Threads found at start-up; OpenBLAS is switched to one thread from then on.
    static let startupThreads: Int = {
        let n = max(1, Int(openblas_get_num_threads()))
        openblas_set_num_threads(1)
        return n
    }()

    /// Runs `body` with OpenBLAS's own threading at `threads` (benchmark baselines only).
    static func withInternalThreads<R>(_ threads: Int, _ body: () throws -> R) rethrows -> R {
        openblas_set_num_threads(Int32(threads))
        defer { openblas_set_num_threads(1) }
        return try body()
    }

    /// Eigenvalues (ascending) of a symmetric n×n matrix (row-major; only one triangle is read),
    /// by LAPACK dsyevd. Returns nil if LAPACK reports a failure.
    public static func symmetricEigenvalues(_ matrix: [Double], n: Int) -> [Double]? {
        guard n > 0 else { return [] }
        precondition(matrix.count == n * n)
        var a = matrix
        var w = [Double](repeating: 0, count: n)
        var jobz = Int8(UInt8(ascii: "N")), uplo = Int8(UInt8(ascii: "L"))
        var nn = Int32(n), lda = Int32(n), info: Int32 = 0
        var lwork: Int32 = -1, liwork: Int32 = -1
        var workQuery = [Double](repeating: 0, count: 1)
        var iworkQuery = [Int32](repeating: 0, count: 1)
        dsyevd_(&jobz, &uplo, &nn, &a, &lda, &w, &workQuery, &lwork, &iworkQuery, &liwork, &info)
        guard info == 0 else { return nil }
        lwork = Int32(workQuery[0]); liwork = iworkQuery[0]
        var work = [Double](repeating: 0, count: Int(lwork))
        var iwork = [Int32](repeating: 0, count: Int(max(liwork, 1)))
        dsyevd_(&jobz, &uplo, &nn, &a, &lda, &w, &work, &lwork, &iwork, &liwork, &info)
        return info == 0 ? w : nil
    }
}

/// C = alpha·op(A)·op(B) + beta·C split over the compute threads (rows of C, or columns when C
/// has few rows); small products run on the calling thread. Each element of C is computed by
/// exactly one call, so the result does not depend on the thread count.
@inline(__always)
func parallelGemm<T: ModelScalar>(_ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int,
                                  alpha: T, a: UnsafePointer<T>, lda: Int, b: UnsafePointer<T>, ldb: Int,
                                  beta: T, c: UnsafeMutablePointer<T>, ldc: Int) {
    let threads = Parallel.threads
    let work: Double = Double(m) * Double(n) * Double(k)
    guard threads > 1, work >= 2_000_000 else {
        T.gemm(transA, transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        return
    }
    // Split the longer side: each thread packs all of the other operand, so splitting rows of
    // a short activation (8 × 32 tokens against a 1536-row weight) repacks the weight per thread.
    if m >= n {
        let chunk = ((m + threads - 1) / threads + 7) / 8 * 8
        Parallel.forRanges(m, chunk: chunk) { rows in
            let aPart = transA == .none ? a + rows.lowerBound * lda : a + rows.lowerBound
            T.gemm(transA, transB, m: rows.count, n: n, k: k, alpha: alpha, a: aPart, lda: lda, b: b, ldb: ldb,
                   beta: beta, c: c + rows.lowerBound * ldc, ldc: ldc)
        }
    } else {
        let chunk = ((n + threads - 1) / threads + 7) / 8 * 8
        Parallel.forRanges(n, chunk: chunk) { cols in
            let bPart = transB == .none ? b + cols.lowerBound : b + cols.lowerBound * ldb
            T.gemm(transA, transB, m: m, n: cols.count, k: k, alpha: alpha, a: a, lda: lda, b: bPart, ldb: ldb,
                   beta: beta, c: c + cols.lowerBound, ldc: ldc)
        }
    }
}

/// Whether a matrix operand is read as stored or transposed.
public enum Transpose {
    case none, transpose
    var cblas: CBLAS_TRANSPOSE { self == .none ? CblasNoTrans : CblasTrans }
}

/// The scalar types the model is generic over. Float runs training and inference; Double
/// runs the same code for reference checks (finite differences, exact kernel tests).
public protocol ModelScalar: BinaryFloatingPoint, Sendable, Codable, CustomStringConvertible
where Self.RawSignificand: FixedWidthInteger {
    /// C = alpha·op(A)·op(B) + beta·C, row-major: op(A) m×k, op(B) k×n, C m×n.
    static func gemm(_ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int,
                     alpha: Self, a: UnsafePointer<Self>, lda: Int, b: UnsafePointer<Self>, ldb: Int,
                     beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int)
    /// y = alpha·op(A)·x + beta·y, row-major A m×n.
    static func gemv(_ trans: Transpose, m: Int, n: Int, alpha: Self, a: UnsafePointer<Self>, lda: Int,
                     x: UnsafePointer<Self>, beta: Self, y: UnsafeMutablePointer<Self>)
    /// Lower triangle of C = alpha·A·Aᵀ + beta·C, A n×k row-major (the Gram of A's rows).
    static func syrkLower(n: Int, k: Int, alpha: Self, a: UnsafePointer<Self>, lda: Int,
                          beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int)
    /// Natural exponential; Float uses a fast polynomial accurate to ~2 ulp.
    static func exponential(_ x: Self) -> Self
    /// Error function; Float uses a rational approximation accurate to a few ulp.
    static func errorFunction(_ x: Self) -> Self
    static func hyperbolicTangent(_ x: Self) -> Self
    /// Row reductions (softmax, LayerNorm): Float sums in SIMD partials (FastMath), Double in
    /// one running sum, as the reference checks expect.
    static func sum(_ x: UnsafePointer<Self>, count: Int) -> Self
    static func squaredDeviationSum(_ x: UnsafePointer<Self>, count: Int, center: Self) -> Self
    static func dot(_ x: UnsafePointer<Self>, _ y: UnsafePointer<Self>, count: Int) -> Self
    static func maximum(_ x: UnsafePointer<Self>, count: Int) -> Self
}

extension Float: ModelScalar {
    @inline(__always)
    public static func gemm(_ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int,
                            alpha: Float, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                            beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        cblas_sgemm(CblasRowMajor, transA.cblas, transB.cblas, Int32(m), Int32(n), Int32(k), alpha,
                    a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
    @inline(__always)
    public static func gemv(_ trans: Transpose, m: Int, n: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
                            x: UnsafePointer<Float>, beta: Float, y: UnsafeMutablePointer<Float>) {
        cblas_sgemv(CblasRowMajor, trans.cblas, Int32(m), Int32(n), alpha, a, Int32(lda), x, 1, beta, y, 1)
    }
    @inline(__always)
    public static func syrkLower(n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
                                 beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        cblas_ssyrk(CblasRowMajor, CblasLower, CblasNoTrans, Int32(n), Int32(k), alpha, a, Int32(lda), beta, c, Int32(ldc))
    }
    @inline(__always) public static func exponential(_ x: Float) -> Float { FastMath.exp(x) }
    @inline(__always) public static func errorFunction(_ x: Float) -> Float { FastMath.erf(x) }
    @inline(__always) public static func hyperbolicTangent(_ x: Float) -> Float { FastMath.tanh(x) }
    @inline(__always) public static func sum(_ x: UnsafePointer<Float>, count: Int) -> Float { FastMath.sum(x, count: count) }
    @inline(__always) public static func squaredDeviationSum(_ x: UnsafePointer<Float>, count: Int, center: Float) -> Float {
        FastMath.squaredDeviationSum(x, count: count, center: center)
    }
    @inline(__always) public static func dot(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, count: Int) -> Float {
        FastMath.dot(x, y, count: count)
    }
    @inline(__always) public static func maximum(_ x: UnsafePointer<Float>, count: Int) -> Float { FastMath.maximum(x, count: count) }
}

extension Double: ModelScalar {
    @inline(__always)
    public static func gemm(_ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int,
                            alpha: Double, a: UnsafePointer<Double>, lda: Int, b: UnsafePointer<Double>, ldb: Int,
                            beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int) {
        cblas_dgemm(CblasRowMajor, transA.cblas, transB.cblas, Int32(m), Int32(n), Int32(k), alpha,
                    a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
    @inline(__always)
    public static func gemv(_ trans: Transpose, m: Int, n: Int, alpha: Double, a: UnsafePointer<Double>, lda: Int,
                            x: UnsafePointer<Double>, beta: Double, y: UnsafeMutablePointer<Double>) {
        cblas_dgemv(CblasRowMajor, trans.cblas, Int32(m), Int32(n), alpha, a, Int32(lda), x, 1, beta, y, 1)
    }
    @inline(__always)
    public static func syrkLower(n: Int, k: Int, alpha: Double, a: UnsafePointer<Double>, lda: Int,
                                 beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int) {
        cblas_dsyrk(CblasRowMajor, CblasLower, CblasNoTrans, Int32(n), Int32(k), alpha, a, Int32(lda), beta, c, Int32(ldc))
    }
    @inline(__always) public static func exponential(_ x: Double) -> Double { Foundation.exp(x) }
    @inline(__always) public static func errorFunction(_ x: Double) -> Double { Foundation.erf(x) }
    @inline(__always) public static func hyperbolicTangent(_ x: Double) -> Double { Foundation.tanh(x) }
    @inline(__always) public static func sum(_ x: UnsafePointer<Double>, count: Int) -> Double {
        var total: Double = 0
        for i in 0..<count { total += x[i] }
        return total
    }
    @inline(__always) public static func squaredDeviationSum(_ x: UnsafePointer<Double>, count: Int, center: Double) -> Double {
        var total: Double = 0
        for i in 0..<count { let d = x[i] - center; total += d * d }
        return total
    }
    @inline(__always) public static func dot(_ x: UnsafePointer<Double>, _ y: UnsafePointer<Double>, count: Int) -> Double {
        var total: Double = 0
        for i in 0..<count { total += x[i] * y[i] }
        return total
    }
    @inline(__always) public static func maximum(_ x: UnsafePointer<Double>, count: Int) -> Double {
        var total = x[0]
        for i in 1..<max(count, 1) { total = max(total, x[i]) }
        return total
    }
}

extension BLAS {
    /// Sustained sgemm rate: the n³ product repeated for at least `seconds`, total flops over
    /// total time. `start` runs once the operands are ready — a barrier there makes every rank
    /// of a node multiply at the same time, the condition the NTK's Gram products run under
    /// (a best-of-few figure taken while a neighbour rank is idle overstates it).
    public static func sustainedSgemmGFLOPS(size n: Int = 1536, seconds: Double = 2,
                                            start: () throws -> Void) rethrows -> Double {
        try withSgemmProduct(size: n) { multiply in
            try start()
            var products = 0
            let begin = ProcessStats.now()
            repeat {
                multiply()
                products += 1
            } while ProcessStats.now() - begin < seconds
            return 2 * Double(n) * Double(n) * Double(n) * Double(products) / (ProcessStats.now() - begin) / 1e9
        }
    }

    /// Achieved GFLOP/s of a plain n×n×n sgemm in this process with the current threads
    /// (best of `repeats`) — the baseline of the single-process benchmark (`bench model`).
    public static func sgemmGFLOPS(size n: Int = 1536, repeats: Int = 5) -> Double {
        withSgemmProduct(size: n) { multiply in
            var best = Double.infinity
            for _ in 0..<repeats {
                let start = ProcessStats.now()
                multiply()
                best = min(best, ProcessStats.now() - start)
            }
            return 2 * Double(n) * Double(n) * Double(n) / best / 1e9
        }
    }

    /// Random n×n operands, and `body` given one product C = A·B to time, run with OpenBLAS's
    /// own threading at this rank's thread count (set once, outside the timed products): the
    /// plain-library baseline.
    private static func withSgemmProduct<R>(size n: Int, _ body: (_ multiply: () -> Void) throws -> R) rethrows -> R {
        let a = UnsafeMutablePointer<Float>.allocate(capacity: n * n)
        let b = UnsafeMutablePointer<Float>.allocate(capacity: n * n)
        let c = UnsafeMutablePointer<Float>.allocate(capacity: n * n)
        defer { a.deallocate(); b.deallocate(); c.deallocate() }
        var rng = RandomGenerator(seed: 1)
        for i in 0..<(n * n) { a[i] = rng.nextFloat() - 0.5; b[i] = rng.nextFloat() - 0.5; c[i] = 0 }
        return try withInternalThreads(threads) {
            try body { Float.gemm(.none, .none, m: n, n: n, k: n, alpha: 1, a: a, lda: n, b: b, ldb: n, beta: 0, c: c, ldc: n) }
        }
    }
}

// MARK: - Thread priority

/// On Linux a nice value belongs to a thread, and libdispatch's worker threads run at their
/// QoS's priority (nice 0) whatever the process was started with. So that `nice lpft-mpi …`
/// holds for all our threads, work handed to such threads (Parallel below, the sweep runner's
/// launches) first takes the main thread's value.
public enum ThreadPriority {
    private static var which: __priority_which_t { __priority_which_t(PRIO_PROCESS.rawValue) }

    /// The main thread's nice value (what `nice`/`renice` gave the process); nil if unreadable.
    public static func processNice() -> Int32? {
        errno = 0
        let nice = getpriority(which, id_t(getpid()))
        return errno == 0 ? nice : nil
    }

    /// Gives the calling thread `nice`. Raising one's priority needs privileges; a failure
    /// leaves the thread as it was.
    public static func adopt(_ nice: Int32) { _ = setpriority(which, 0, nice) }

    /// The value each thread last adopted, so a thread that has it costs one TLS read.
    private static let adoptedKey: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    /// `adopt(nice)` unless this thread already adopted exactly that value.
    @inline(__always)
    public static func adoptOnce(_ nice: Int32) {
        let tag = UnsafeMutableRawPointer(bitPattern: Int(nice) + 1_000)  // nice ∈ [−20, 19]: never nil
        if pthread_getspecific(adoptedKey) == tag { return }
        adopt(nice)
        pthread_setspecific(adoptedKey, tag)
    }
}

// MARK: - Elementwise work on the same threads

/// Splits elementwise work (layer norm, GELU, softmax, optimizer loops) across the same number
/// of threads BLAS uses, so one rank never uses more cores than OPENBLAS_NUM_THREADS gives it.
/// Use it only where items are independent, so results never depend on the split.
/// Work runs on libdispatch's threads, which first take the process's nice value (ThreadPriority).
public enum Parallel {
    /// Compute threads of this rank (OPENBLAS_NUM_THREADS, else all cores OpenBLAS sees).
    nonisolated(unsafe) public static var threads: Int = BLAS.startupThreads

    /// Runs body over consecutive ranges of `chunk` items covering 0..<count, in parallel.
    @inline(__always)
    public static func forRanges(_ count: Int, chunk: Int, _ body: (Range<Int>) -> Void) {
        let pieces = (count + chunk - 1) / max(chunk, 1)
        if pieces <= 1 || threads <= 1 {
            var start = 0
            while start < count { body(start..<min(count, start + chunk)); start += chunk }
            return
        }
        let nice = ThreadPriority.processNice() ?? 0
        DispatchQueue.concurrentPerform(iterations: pieces) { p in
            ThreadPriority.adoptOnce(nice)
            body((p * chunk)..<min(count, (p + 1) * chunk))
        }
    }

    /// Runs body over disjoint ranges covering 0..<count; ranges hold at least `grain` items.
    @inline(__always)
    public static func forRanges(_ count: Int, grain: Int = 4096, _ body: (Range<Int>) -> Void) {
        let workers = min(threads, max(1, count / max(grain, 1)))
        if workers <= 1 { body(0..<count); return }
        let chunk = (count + workers - 1) / workers
        let nice = ThreadPriority.processNice() ?? 0
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            ThreadPriority.adoptOnce(nice)
            let start = w * chunk
            let end = min(count, start + chunk)
            if start < end { body(start..<end) }
        }
    }
}
